"""Pure evaluation metrics for answers, retrieval, citations, abstention and latency."""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)
PUNCTUATION = frozenset(string.punctuation) | frozenset("‘’“”–—…")
ARTICLES_RE = re.compile(r"\b(a|an|the)\b")

Record = dict[str, Any]


# --- answer-level scores -------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower-case, strip punctuation and articles, collapse spaces."""
    lowered = text.lower()
    no_punct = "".join(ch for ch in lowered if ch not in PUNCTUATION)
    no_articles = ARTICLES_RE.sub(" ", no_punct)
    return " ".join(no_articles.split())


def _is_empty(text: str | None) -> bool:
    return text is None or not text.strip()


def _unanswerable_score(prediction: str | None) -> float:
    # SQuAD 2.0: the only right reply to an unanswerable question is no answer.
    return 1.0 if _is_empty(prediction) else 0.0


def _single_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str | None, golds: list[str]) -> float:
    """Max exact match over golds after normalization (SQuAD 2.0 for unanswerable)."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(gold)) for gold in golds)


def token_f1(prediction: str | None, golds: list[str]) -> float:
    """Max bag-of-tokens F1 over golds (SQuAD 2.0 for unanswerable)."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    return max(_single_f1(prediction, gold) for gold in golds)


def _contains_normalized(haystack: str, golds: Iterable[str]) -> bool:
    # Padding with spaces makes the substring test respect word boundaries.
    padded = f" {normalize_answer(haystack)} "
    for gold in golds:
        norm_gold = normalize_answer(gold)
        # A gold that normalizes to nothing (e.g. "The") would match everything.
        if norm_gold and f" {norm_gold} " in padded:
            return True
    return False


def contains_gold(prediction: str | None, golds: list[str]) -> float:
    """1.0 if some normalized gold occurs as whole words in the normalized prediction."""
    if not golds:
        return _unanswerable_score(prediction)
    if _is_empty(prediction):
        return 0.0
    return float(_contains_normalized(prediction, golds))


def sentence_correct(sentence: str | None, golds: list[str]) -> float:
    """contains_gold applied to the supporting sentence."""
    return contains_gold(sentence, golds)


# --- record helpers ------------------------------------------------------------------


def is_answerable(gold: Record) -> bool:
    """A gold record is answerable when it lists at least one answer."""
    return bool(gold.get("answers"))


def is_abstained(prediction: Record) -> bool:
    """Abstained flag set, or no usable answer string."""
    return bool(prediction.get("abstained")) or _is_empty(prediction.get("answer"))


def effective_answer(prediction: Record) -> str | None:
    """The answer as scored: an abstaining prediction answers nothing."""
    return None if is_abstained(prediction) else prediction.get("answer")


def missing_prediction(gold: Record) -> Record:
    """Stand-in for a gold question the system produced nothing for."""
    return {
        "id": gold["id"],
        "question": gold.get("question", ""),
        "answer": None,
        "sentence": None,
        "abstained": True,
        "confidence": 0.0,
        "citations": [],
        "passages": [],
        "timings_ms": {},
    }


def join_by_id(golds: Sequence[Record], predictions: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each gold with its prediction; a missing prediction becomes an abstention."""
    by_id = {pred["id"]: pred for pred in predictions}
    return [(gold, by_id.get(gold["id"]) or missing_prediction(gold)) for gold in golds]


def _rate(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


# --- retrieval -----------------------------------------------------------------------


def ranked_docs(prediction: Record) -> list[str]:
    """Docs of the retrieved passages in rank order, first occurrence kept."""
    return list(dict.fromkeys(passage["doc"] for passage in prediction.get("passages") or []))


def retrieval_metrics(
    golds: Sequence[Record], predictions: Sequence[Record], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Document-level recall@k, MRR@10 and nDCG@10 over golds with sources (via ranx)."""
    scored = [(gold, pred) for gold, pred in join_by_id(golds, predictions) if gold.get("sources")]
    if not scored:
        return {}
    metric_names = [f"recall@{k}" for k in ks] + ["mrr@10", "ndcg@10"]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for gold, pred in scored:
        docs = ranked_docs(pred)
        # ranx rejects queries with an empty run, so those are scored 0 by leaving them out
        # of the sums below while still counting them in the denominator.
        if docs:
            qrels[gold["id"]] = {doc: 1 for doc in gold["sources"]}
            run[gold["id"]] = {doc: 1.0 / rank for rank, doc in enumerate(docs, start=1)}
    totals = _ranx_per_query_sums(qrels, run, metric_names) if run else dict.fromkeys(metric_names, 0.0)
    result = {name: totals[name] / len(scored) for name in metric_names}
    result["n"] = len(scored)
    return result


def _ranx_per_query_sums(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metric_names: list[str]
) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    with warnings.catch_warnings():
        # numba's int-cast warnings inside ranx are noise for our tiny integer qrels.
        warnings.simplefilter("ignore")
        per_query = evaluate(Qrels(qrels), Run(run), metric_names, return_mean=False)
    if len(metric_names) == 1:  # ranx returns a bare array for a single metric
        per_query = {metric_names[0]: per_query}
    return {name: float(np.sum(per_query[name])) for name in metric_names}


def passage_answer_recall(
    golds: Sequence[Record], predictions: Sequence[Record], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """Fraction of answerable questions with a gold answer inside some top-k passage."""
    answerable = [(gold, pred) for gold, pred in join_by_id(golds, predictions) if is_answerable(gold)]
    if not answerable:
        return {}
    hit_ranks = [_first_answer_rank(gold["answers"], pred) for gold, pred in answerable]
    hit_ranks = [rank for rank in hit_ranks if rank is not None]
    result: dict[str, float] = {
        f"answer_recall@{k}": sum(rank <= k for rank in hit_ranks) / len(answerable) for k in ks
    }
    result["n"] = len(answerable)
    return result


def _first_answer_rank(answers: list[str], prediction: Record) -> int | None:
    for rank, passage in enumerate(prediction.get("passages") or [], start=1):
        if _contains_normalized(passage.get("text", ""), answers):
            return rank
    return None


# --- citations -----------------------------------------------------------------------


def citation_metrics(
    predictions: Sequence[Record], golds: Sequence[Record], doc_texts: dict[str, str]
) -> dict[str, float | None]:
    """Citation precision against gold sources, quote/offset integrity, answer-in-quote rate."""
    gold_by_id = {gold["id"]: gold for gold in golds}
    precisions: list[float] = []
    n_citations = n_intact = 0
    n_answers = n_answers_quoted = 0
    for pred in predictions:
        citations = pred.get("citations") or []
        gold = gold_by_id.get(pred["id"])
        # Without gold sources there is nothing to judge the cited docs against.
        if citations and gold is not None and is_answerable(gold) and gold.get("sources"):
            cited = set(c["doc"] for c in citations)
            precisions.append(len(cited & set(gold["sources"])) / len(cited))
        n_citations += len(citations)
        n_intact += sum(_citation_is_intact(c, doc_texts) for c in citations)
        if not is_abstained(pred):
            n_answers += 1
            n_answers_quoted += any(pred["answer"] in (c.get("quote") or "") for c in citations)
    return {
        "citation_precision": _mean(precisions),
        "citation_integrity": _rate(n_intact, n_citations),
        "answer_in_quote": _rate(n_answers_quoted, n_answers),
    }


def _citation_is_intact(citation: Record, doc_texts: dict[str, str]) -> bool:
    text = doc_texts.get(citation.get("doc", ""))
    if text is None:
        return False
    return text[citation["start"] : citation["end"]] == citation.get("quote")


# --- abstention ----------------------------------------------------------------------


def abstention_metrics(predictions: Sequence[Record], golds: Sequence[Record]) -> dict[str, float | None]:
    """How well abstaining tracks unanswerable questions."""
    pairs = join_by_id(golds, predictions)
    abstained_golds = [gold for gold, pred in pairs if is_abstained(pred)]
    n_unanswerable = sum(not is_answerable(gold) for gold, _ in pairs)
    n_answerable = len(pairs) - n_unanswerable
    n_abstained_unanswerable = sum(not is_answerable(gold) for gold in abstained_golds)
    n_answered_answerable = sum(is_answerable(gold) and not is_abstained(pred) for gold, pred in pairs)
    return {
        "abstain_precision": _rate(n_abstained_unanswerable, len(abstained_golds)),
        "abstain_recall": _rate(n_abstained_unanswerable, n_unanswerable),
        "answered_rate": _rate(n_answered_answerable, n_answerable),
        "n_unanswerable": n_unanswerable,
        "n_answerable": n_answerable,
    }


def default_thresholds() -> list[float]:
    """0.00, 0.05, ..., 1.00."""
    return [round(step * 0.05, 2) for step in range(21)]


class _Outcome(NamedTuple):
    answerable: bool
    has_answer: bool
    confidence: float
    correct: bool


def threshold_curve(
    predictions: Sequence[Record], golds: Sequence[Record], thresholds: Sequence[float] | None = None
) -> list[dict[str, float | None]]:
    """Answer/error trade-off when abstaining below each confidence threshold."""
    outcomes = [
        _Outcome(
            answerable=is_answerable(gold),
            has_answer=not is_abstained(pred),
            confidence=float(pred.get("confidence") or 0.0),
            correct=_is_correct_answer(gold, pred),
        )
        for gold, pred in join_by_id(golds, predictions)
    ]
    thresholds = default_thresholds() if thresholds is None else thresholds
    return [_curve_point(outcomes, float(threshold)) for threshold in thresholds]


def _curve_point(outcomes: Sequence[_Outcome], threshold: float) -> dict[str, float | None]:
    answered = [o for o in outcomes if o.has_answer and o.confidence >= threshold]
    n_answerable = sum(o.answerable for o in outcomes)
    n_unanswerable = len(outcomes) - n_answerable
    n_answered_answerable = sum(o.answerable for o in answered)
    n_answered_unanswerable = len(answered) - n_answered_answerable
    return {
        "threshold": threshold,
        "answered_rate": _rate(len(answered), len(outcomes)),
        "wrong_rate": _rate(sum(not o.correct for o in answered), len(answered)),
        "answerable_answered": _rate(n_answered_answerable, n_answerable),
        "unanswerable_abstained": _rate(n_unanswerable - n_answered_unanswerable, n_unanswerable),
    }


def _is_correct_answer(gold: Record, prediction: Record) -> bool:
    """Answer judged by containment; an answer to an unanswerable question is wrong."""
    return is_answerable(gold) and contains_gold(effective_answer(prediction), gold["answers"]) == 1.0


# --- calibration ---------------------------------------------------------------------

# An answer counts as right for calibration when its SQuAD token F1 against some gold is at
# least this: partial spans ("three-hour meeting" for "three-hour") pass, unrelated text fails.
RIGHT_F1 = 0.5


def risk_coverage_thresholds() -> list[float]:
    """0.000, 0.025, ..., 1.000."""
    return [round(step * 0.025, 3) for step in range(41)]


def calibration(raw_records: Sequence[Record], golds: Sequence[Record], bins: int = 10) -> dict[str, Any]:
    """How well confidence predicts a right answer, judged on records with nothing withheld.

    ECE and the reliability bins cover the questions that got an answer (an abstention has
    no answer whose rightness confidence could predict); risk-coverage covers all questions.
    """
    answered = [
        (float(pred.get("confidence") or 0.0), _is_right(gold, pred))
        for gold, pred in join_by_id(golds, raw_records)
        if not is_abstained(pred)
    ]
    reliability = [_reliability_bin(answered, index, bins) for index in range(bins)]
    ece = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in reliability if b["count"])
    n_questions = len(golds)
    return {
        "ece": ece / len(answered) if answered else None,
        "bins": reliability,
        "risk_coverage": [_risk_point(answered, n_questions, t) for t in risk_coverage_thresholds()],
        "right_f1": RIGHT_F1,
    }


def _is_right(gold: Record, prediction: Record) -> bool:
    # Any answer to an unanswerable question is wrong.
    return is_answerable(gold) and token_f1(effective_answer(prediction), gold["answers"]) >= RIGHT_F1


def _reliability_bin(answered: Sequence[tuple[float, bool]], index: int, bins: int) -> dict[str, Any]:
    # Equal-width bins [lo, hi); the last one also holds confidence 1.0.
    members = [(conf, right) for conf, right in answered if min(max(int(conf * bins), 0), bins - 1) == index]
    return {
        "lo": index / bins,
        "hi": (index + 1) / bins,
        "count": len(members),
        "confidence": _mean([conf for conf, _ in members]),
        "accuracy": _mean([float(right) for _, right in members]),
    }


def _risk_point(answered: Sequence[tuple[float, bool]], n_questions: int, threshold: float) -> dict[str, float | None]:
    kept = [right for conf, right in answered if conf >= threshold]
    return {
        "threshold": threshold,
        "coverage": _rate(len(kept), n_questions),
        "risk": _rate(sum(not right for right in kept), len(kept)),
    }


# --- latency -------------------------------------------------------------------------


def latency_stats(predictions: Sequence[Record]) -> dict[str, dict[str, float]]:
    """p50/p95/mean in ms for each timing stage seen in the predictions."""
    by_stage: dict[str, list[float]] = {}
    for pred in predictions:
        for stage, ms in (pred.get("timings_ms") or {}).items():
            if ms is not None:
                by_stage.setdefault(stage, []).append(float(ms))
    return {
        stage: {
            "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)),
            "mean": float(np.mean(values)),
        }
        for stage, values in by_stage.items()
    }


# --- everything together -------------------------------------------------------------


def evaluate(
    golds: Sequence[Record], predictions: Sequence[Record], doc_texts: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score predictions against golds: (summary, per-question rows)."""
    pairs = join_by_id(golds, predictions)
    joined_predictions = [pred for _, pred in pairs]
    rows = [question_row(gold, pred) for gold, pred in pairs]
    summary = {
        "n_questions": len(pairs),
        "n_errors": sum("error" in pred for pred in joined_predictions),
        "answers": answer_summary(rows),
        "retrieval": retrieval_metrics(golds, joined_predictions),
        "passage_recall": passage_answer_recall(golds, joined_predictions),
        "citations": citation_metrics(joined_predictions, golds, doc_texts),
        "abstention": abstention_metrics(joined_predictions, golds),
        "latency_ms": latency_stats(joined_predictions),
        "curve": threshold_curve(joined_predictions, golds),
    }
    return summary, rows


def question_row(gold: Record, prediction: Record) -> dict[str, Any]:
    """Per-question scores and the evidence needed to inspect a failure."""
    golds = list(gold.get("answers") or [])
    answer = effective_answer(prediction)
    sentence = None if is_abstained(prediction) else prediction.get("sentence")
    abstained = is_abstained(prediction)
    contains = contains_gold(answer, golds)
    top_citation = min(prediction.get("citations") or [], key=lambda c: c.get("n", 0), default=None)
    return {
        "id": gold["id"],
        "question": gold.get("question") or prediction.get("question", ""),
        "gold_answers": golds,
        "answerable": bool(golds),
        "answer": prediction.get("answer"),
        "sentence": prediction.get("sentence"),
        "abstained": abstained,
        "confidence": float(prediction.get("confidence") or 0.0),
        "em": exact_match(answer, golds),
        "f1": token_f1(answer, golds),
        "contains": contains,
        "sentence_ok": sentence_correct(sentence, golds),
        "correct": (bool(golds) and contains == 1.0) or (not golds and abstained),
        "top_quote": top_citation.get("quote") if top_citation else None,
        "top_doc": top_citation.get("doc") if top_citation else None,
        "latency_total_ms": (prediction.get("timings_ms") or {}).get("total"),
        "error": prediction.get("error"),
    }


def answer_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Answer scores over answerable questions, plus SQuAD 2.0 EM/F1 over all."""
    answerable = [row for row in rows if row["answerable"]]
    return {
        "exact_match": _mean([row["em"] for row in answerable]),
        "f1": _mean([row["f1"] for row in answerable]),
        "contains_gold": _mean([row["contains"] for row in answerable]),
        "sentence_accuracy": _mean([row["sentence_ok"] for row in answerable]),
        "exact_match_all": _mean([row["em"] for row in rows]),
        "f1_all": _mean([row["f1"] for row in rows]),
        "n_answerable": len(answerable),
    }
