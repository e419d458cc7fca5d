"""Fit the answer combiner and its threshold on questions the reader was not trained on.

The reader reads the retrieved passages of every question of the held-out SQuAD articles (open
mode: one index over all the file's articles); each proposed span is labelled right when its
token F1 against a gold answer is at least 0.5 (every span of an unanswerable question is wrong).
A logistic regression over the candidate features (``rag.reader.scoring.CONFIDENCE_FEATURES``)
gives the confidence, P(right); a second one over the span features (``FEATURES``), the ranker,
fitted on each span's token F1 as a soft label, predicts its expected F1 and picks the answer.
Both are fitted with leave-one-group-out cross-validation (a group is an article, or a fold of
news articles): the reported calibration (ECE, reliability, risk-coverage) comes from
out-of-fold predictions only. The threshold is the one that maximises SQuAD 2.0
all-question F1 (an abstention scores 1 on an unanswerable question, 0 on an answerable one) on
those out-of-fold predictions among the thresholds that still answer at least ``MIN_ANSWERED`` of the
answerable questions (SQuAD 2.0's adversarial unanswerable questions are half of the file, where a
news archive's users mostly ask what it holds: an assistant that declines most questions is no
use). The final combiner, fitted on all held-out articles, is written into the checkpoint's
metadata.

People's questions over news may be added (``--news-questions``): a gold-format JSONL file whose
questions are asked in open mode against an index of the news articles they were written over
(``--news-corpus``, optionally only the files listed in ``--news-archive``). Its articles form
``NEWS_FOLDS`` more cross-validation groups, each set weighs the same in the fit, and the
threshold rule then runs on both sets pooled.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.metrics import token_f1
from rag.onnx_checkpoint import file_sha256
from rag.reader.features import checkpoint_files
from rag.reader.model import DEFAULT_CHECKPOINT, Reader
from rag.reader.scoring import CONFIDENCE_FEATURES, FEATURES, Combiner, Logistic

RIGHT_F1 = 0.5  # a span at least this close to a gold answer counts as a right answer
MIN_ANSWERED = 0.8  # the default threshold still answers this share of answerable questions
NEWS_FOLDS = 4  # cross-validation groups of the news questions' articles


@dataclass(frozen=True)
class QuestionSet:
    """Calibration questions asked of one index: each gold record with its cross-validation
    group (an article, or a fold of articles). ``source`` names the set in the report."""

    source: str
    answerer: Any
    golds: Sequence[dict]
    groups: Sequence[str]


def collect(answerer: Any, golds: Sequence[dict], groups: Sequence[str], source: str = "squad") -> list[dict]:
    """Per question: its source, group, gold answers, and every candidate's features and F1."""
    from rag.answer import reader_question, retrieval_query

    rows = []
    for gold, group in zip(golds, groups):
        history = gold.get("history") or []
        passages = answerer.retriever.search(retrieval_query(gold["question"], history), k=answerer.config.answer.passages)
        candidates = answerer.candidates(reader_question(gold["question"], history), passages)
        rows.append({
            "id": gold["id"], "source": source, "group": group, "answers": gold["answers"],
            "candidates": [
                {"text": c.text, "features": c.features, "f1": token_f1(c.text, gold["answers"]) if gold["answers"] else 0.0}
                for c in candidates
            ],
        })
    return rows


def fit(rows: Sequence[dict], c: float = 1.0, features: Sequence[str] = FEATURES, target: str = "right") -> Logistic:
    """A logistic model over every candidate of ``rows``: of P(right) (``target="right"``: token
    F1 ≥ ``RIGHT_F1``), or of the expected token F1 (``target="f1"``: each candidate counts as right
    with weight F1 and as wrong with weight 1 − F1). A row's ``weight`` (default 1) scales its
    candidates' weights."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[cand["features"][n] for n in features] for r in rows for cand in r["candidates"]])
    f1 = np.array([cand["f1"] for r in rows for cand in r["candidates"]])
    row_weight = np.array([r.get("weight", 1.0) for r in rows for _ in r["candidates"]])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=c, max_iter=1000)
    if target == "right":
        model.fit(z, f1 >= RIGHT_F1, sample_weight=row_weight)
    elif target == "f1":
        weight = np.concatenate([f1, 1.0 - f1]) * np.concatenate([row_weight, row_weight])
        keep = weight > 0
        label = np.concatenate([np.ones(len(z)), np.zeros(len(z))])
        model.fit(np.vstack([z, z])[keep], label[keep], sample_weight=weight[keep])
    else:
        raise ValueError(f"unknown target {target!r}: 'right' or 'f1'")
    return Logistic(
        weights={n: float(w) for n, w in zip(features, model.coef_[0])}, bias=float(model.intercept_[0]),
        mean={n: float(v) for n, v in zip(features, mean)}, scale={n: float(v) for n, v in zip(features, scale)},
    )


def fit_combiner(rows: Sequence[dict], features: Sequence[str] = CONFIDENCE_FEATURES,
                 ranker_features: Sequence[str] | None = FEATURES, threshold: float = 0.5) -> Combiner:
    """The confidence model over ``features``, and the expected-F1 ranker over ``ranker_features``
    (none when that is None: the confidence then orders the candidates)."""
    ranker = fit(rows, features=ranker_features, target="f1") if ranker_features is not None else None
    return Combiner(fit(rows, features=features), threshold, ranker)


def top_answers(rows: Sequence[dict], combiners: dict[str, Combiner]) -> list[dict]:
    """The answer each question gets under its group's combiner (the best-ranked candidate):
    its confidence and F1."""
    tops = []
    for r in rows:
        combiner = combiners[r["group"]]
        best = max(r["candidates"], key=lambda cand: combiner.rank_score(cand["features"]), default=None)
        confidence = combiner.probability(best["features"]) if best else 0.0
        f1 = best["f1"] if best else 0.0
        tops.append({"id": r["id"], "source": r.get("source", "squad"), "group": r["group"], "answerable": bool(r["answers"]),
                     "confidence": confidence, "f1": f1, "right": f1 >= RIGHT_F1})
    return tops


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by their size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return float(sum(
        abs(right[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
        for b in range(bins) if (which == b).any()
    ))


def threshold_table(tops: Sequence[dict]) -> list[dict]:
    """For each threshold: answered share (answerable), declined share (unanswerable), answerable
    F1, SQuAD 2.0 all-question F1, and risk (wrong share of the answers given)."""
    table = []
    for threshold in np.round(np.arange(0.0, 1.0001, 0.025), 3):
        given = [t for t in tops if t["confidence"] >= threshold]
        answerable = [t for t in tops if t["answerable"]]
        unanswerable = [t for t in tops if not t["answerable"]]
        all_f1 = [t["f1"] if t["confidence"] >= threshold else 0.0 for t in answerable]
        all_f1 += [0.0 if t["confidence"] >= threshold else 1.0 for t in unanswerable]
        table.append({
            "threshold": float(threshold),
            "coverage": len(given) / len(tops) if tops else 0.0,
            "risk": float(np.mean([not t["right"] for t in given])) if given else 0.0,
            "answered": float(np.mean([t["confidence"] >= threshold for t in answerable])) if answerable else 0.0,
            "declined": float(np.mean([t["confidence"] < threshold for t in unanswerable])) if unanswerable else 0.0,
            "answerable_f1": float(np.mean([t["f1"] if t["confidence"] >= threshold else 0.0 for t in answerable])) if answerable else 0.0,
            "all_f1": float(np.mean(all_f1)) if all_f1 else 0.0,
        })
    return table


def _cross_validated(rows: Sequence[dict], names: Sequence[str], features: Sequence[str],
                     ranker_features: Sequence[str] | None) -> tuple[Combiner, dict]:
    """Out-of-fold scores (leave one group out) and the combiner fitted on every group, with the
    threshold chosen on the out-of-fold curve."""
    out_of_fold = {g: fit_combiner([r for r in rows if r["group"] != g], features, ranker_features) for g in names}
    tops = top_answers(rows, out_of_fold)
    table = threshold_table(tops)
    allowed = [row for row in table if row["answered"] >= MIN_ANSWERED] or table[:1]
    best = max(allowed, key=lambda row: row["all_f1"])
    confidence = np.array([t["confidence"] for t in tops])
    right = np.array([t["right"] for t in tops], dtype=float)
    summary = {
        "features": list(features), "ranked_by": "expected F1" if ranker_features is not None else "confidence",
        "ranker_features": list(ranker_features) if ranker_features is not None else [],
        "ece_out_of_fold": round(expected_calibration_error(confidence, right), 4),
        "threshold": best["threshold"], "at_threshold": best, "curve": table,
        "by_source": _by_source(tops, best["threshold"]),
        "confidence": confidence, "right": right,
    }
    return fit_combiner(rows, features, ranker_features, best["threshold"]), summary


def _by_source(tops: Sequence[dict], threshold: float) -> dict[str, dict]:
    """Each question set's out-of-fold ECE, its threshold table, and that table's row at ``threshold``."""
    result = {}
    for source in sorted({t["source"] for t in tops}):
        own = [t for t in tops if t["source"] == source]
        table = threshold_table(own)
        result[source] = {
            "questions": len(own),
            "ece_out_of_fold": round(expected_calibration_error(
                np.array([t["confidence"] for t in own]), np.array([t["right"] for t in own], dtype=float)), 4),
            "at_threshold": next(r for r in table if r["threshold"] == threshold),
            "curve": table,
        }
    return result


def calibrate(question_sets: Sequence[QuestionSet], report_dir: Path | None) -> dict[str, Any]:
    """Fit the combiner (leave-one-group-out for the numbers, all groups for the result), and the
    reader-alone combiner (the reader's margin only) that the ablation compares it with."""
    rows = [row for s in question_sets for row in collect(s.answerer, s.golds, s.groups, s.source)]
    # each question set weighs the same in the fit, whatever its size, so that the larger one does
    # not set the confidence of the other (total weight unchanged: one a question on average)
    per_source = Counter(row["source"] for row in rows)
    for row in rows:
        row["weight"] = len(rows) / (len(per_source) * per_source[row["source"]])
    names = sorted({row["group"] for row in rows})
    answerer = question_sets[0].answerer
    if len(names) < 2:
        raise ValueError("calibration needs questions from at least two articles")
    combiner, summary = _cross_validated(rows, names, CONFIDENCE_FEATURES, FEATURES)
    # one feature: an expected-F1 ranker would order the candidates as the confidence does
    reader_only, reader_summary = _cross_validated(rows, names, ["margin"], None)
    confidence, right = summary.pop("confidence"), summary.pop("right")
    for key in ("confidence", "right", "curve"):
        reader_summary.pop(key)
    reader_summary["by_source"] = _without_curves(reader_summary["by_source"])
    summary = {"questions": len(rows), "groups": names, "right_f1": RIGHT_F1, "min_answered": MIN_ANSWERED,
               "reader_passages": answerer.config.answer.reader_passages,
               "spans_per_passage": answerer.config.answer.spans_per_passage,
               **summary, "reader_alone": reader_summary}
    if report_dir is not None:
        write_plots(report_dir, confidence, right, summary["curve"], summary)
    # the checkpoint's metadata keeps the numbers; the curves stay in the report's calibration.json
    return {
        "combiner": combiner.to_dict(), "combiner_reader_alone": reader_only.to_dict(),
        "calibration": {**{k: v for k, v in summary.items() if k != "curve"}, "by_source": _without_curves(summary["by_source"])},
    }


def _without_curves(by_source: dict[str, dict]) -> dict[str, dict]:
    return {name: {k: v for k, v in part.items() if k != "curve"} for name, part in by_source.items()}


def write_plots(folder: Path, confidence: np.ndarray, right: np.ndarray, table: list[dict], summary: dict) -> None:
    """``reliability.png`` and ``risk_coverage.png`` of the out-of-fold predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calibration.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, 9)
    figure, (left, right_axis) = plt.subplots(1, 2, figsize=(11, 4))
    centers = [confidence[which == b].mean() for b in range(10) if (which == b).any()]
    accuracy = [right[which == b].mean() for b in range(10) if (which == b).any()]
    left.plot([0, 1], [0, 1], "k--", lw=1)
    left.plot(centers, accuracy, marker="o")
    left.set(xlabel="confidence", ylabel="share right", title=f"reliability (ECE {summary['ece_out_of_fold']:.3f})")
    right_axis.plot([r["coverage"] for r in table], [r["risk"] for r in table], marker=".")
    right_axis.set(xlabel="coverage (share of questions answered)", ylabel="risk (share of answers wrong)",
                   title=f"risk-coverage (threshold {summary['threshold']:.3f})")
    figure.tight_layout()
    figure.savefig(folder / "calibration.png", dpi=100)
    plt.close(figure)


@dataclass(frozen=True)
class NewsQuestions:
    """People's questions over a news archive, for ``calibrate_checkpoint``: a gold-format JSONL
    file (each record also names the ``article`` it was written over, unanswerable ones
    included), the corpus folder, and optionally a file listing the archive's document ids (one
    a line; default: every article of the folder)."""

    questions: Path
    corpus: Path
    archive: Path | None = None

    def load(self) -> tuple[list[Any], list[dict], list[str]]:
        """(the archive's documents, the questions, each question's fold: ``news-1`` …)."""
        from rag.gold import GoldFormatError, question_article, read_questions
        from rag.ingest import load_documents

        golds = read_questions(self.questions, gold=True)
        documents = load_documents([self.corpus]).documents
        if self.archive is not None:
            listed = self.archive.read_text(encoding="utf-8").split()
            known = {d.id for d in documents}
            missing = [doc_id for doc_id in listed if doc_id not in known]
            if missing:
                raise ValueError(f"{self.archive}: {len(missing)} listed articles are not in {self.corpus}, e.g. {missing[0]!r}")
            wanted = set(listed)
            documents = [d for d in documents if d.id in wanted]
        ids = {d.id for d in documents}
        articles = []
        for gold in golds:
            article = question_article(gold)
            if article not in ids:
                raise GoldFormatError(f'{self.questions}: question {gold["id"]!r} needs an "article" of the archive, got {article!r}')
            articles.append(article)
        fold = {a: f"news-{i % NEWS_FOLDS + 1}" for i, a in enumerate(sorted(set(articles)))}
        return documents, golds, [fold[a] for a in articles]


def calibrate_checkpoint(squad: Path, checkpoint: Path, index_dir: Path | None, report_dir: Path | None,
                         news: NewsQuestions | None = None) -> dict[str, Any]:
    """Fit the combiner of the reader in ``checkpoint`` on its validation articles of ``squad``
    (and on ``news``, when given) and write it into the checkpoint's metadata; returns the
    calibration summary."""
    from rag.answer import Answerer
    from rag.config import Config
    from rag.embedding import Embedder
    from rag.evaluate import SQUAD_INDEX
    from rag.gold import read_squad
    from rag.store import Index, build_index

    reader = Reader(checkpoint)
    validation = reader.metadata["training"]["validation_articles"]
    documents, golds = read_squad(squad)
    news_set = news.load() if news is not None else None  # bad input fails before any index is built
    index_dir = index_dir or SQUAD_INDEX
    embedder = Embedder(Config().embedding).warm_up()
    build_index(documents, index_dir, embedder)
    answerer = Answerer(Index.open(index_dir), embedder, reader=reader).warm_up()
    held = [g for g in golds if g["sources"][0] in validation]
    question_sets = [QuestionSet("squad", answerer, held, [g["sources"][0] for g in held])]
    if news_set is not None:
        news_documents, news_golds, folds = news_set
        news_index = index_dir.with_name(index_dir.name + "-news")
        build_index(news_documents, news_index, embedder)
        news_answerer = Answerer(Index.open(news_index), embedder, reader=reader).warm_up()
        question_sets.append(QuestionSet("news", news_answerer, news_golds, folds))
    result = calibrate(question_sets, report_dir)
    if news is not None:
        result["calibration"]["news_questions"] = {
            "file": news.questions.name, "sha256": file_sha256(news.questions),
            "archive": news.archive.name if news.archive else None, "articles": len(news_set[0]),
        }
    _, metadata_path = checkpoint_files(reader.folder)
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata.update(result)
    metadata_path.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return result["calibration"]


def news_from_args(args: argparse.Namespace) -> NewsQuestions | None:
    """The ``--news-*`` options as a NewsQuestions (None without ``--news-questions``)."""
    if args.news_questions is None:
        return None
    if args.news_corpus is None:
        raise ValueError("--news-questions needs --news-corpus, the folder of the articles they were written over")
    return NewsQuestions(args.news_questions, args.news_corpus, args.news_archive)


def add_news_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--news-questions", type=Path, metavar="FILE.jsonl",
                        help="people's questions over news (gold format plus 'article') to fit the combiner on as well")
    parser.add_argument("--news-corpus", type=Path, metavar="DIR", help="the folder of the articles they were written over")
    parser.add_argument("--news-archive", type=Path, metavar="LIST",
                        help="index only these document ids of --news-corpus (one a line)")


def run(args: argparse.Namespace) -> int:
    summary = calibrate_checkpoint(args.squad, args.checkpoint, args.index, args.report, news_from_args(args))
    print(json.dumps(summary, indent=2))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--squad", type=Path, required=True, metavar="SQUAD2.json")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--index", type=Path, default=None, help="index of the SQuAD articles (default eval/.cache/squad2-index)")
    parser.add_argument("--report", type=Path, default=Path("eval/reports/reader-calibration"))
    add_news_arguments(parser)


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="python -m rag.reader.calibrate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
