"""`rag eval`: answer a gold set (JSONL or SQuAD 2.0) over an index and write a scored report.

Also home to `answer_questions`, the batch loop `rag ask --batch` uses. Question files are read by
`rag.gold`.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from rag.config import RETRIEVAL_MODES, Config
from rag.gold import Record, export_feedback, read_questions, read_squad, write_jsonl

DEFAULT_INDEX = Path("index")
SQUAD_INDEX = Path("eval/.cache/squad2-index")
REPORTS = Path("eval/reports")
COMPARE_KS = (1, 3, 5, 10)  # the last one must be 10: MRR and nDCG are read at @10


# --- answering ----------------------------------------------------------------------------------


def answer_questions(
    answerer: Any,
    questions: Sequence[Record],
    out_path: Path | str | None,
    *,
    k: int | None = None,
    mode: str | None = None,
    where: Any = None,
    threshold: float | None = None,
    answers: int = 1,
) -> list[Record]:
    """Answer every question with one loaded Answerer; write ``{"id", **answer}`` per line.

    ``out_path`` is written atomically (None: not written). Returns the records.
    """
    from tqdm import tqdm

    records = []
    for question in tqdm(questions, desc="answering", unit="q", file=sys.stderr,
                         disable=not sys.stderr.isatty()):
        answer = answerer.ask_batch(
            [question["question"]], [question.get("history") or []],
            k=k, mode=mode, where=where, threshold=threshold, answers=answers,
        )[0]
        records.append({"id": question["id"], **answer.to_dict()})
    if out_path is not None:
        write_jsonl(Path(out_path), records)
    return records


# --- the eval command ---------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rag eval` (cli.py adds --index)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", type=Path, metavar="GOLD.jsonl", help="gold questions (JSONL)")
    source.add_argument("--squad", type=Path, metavar="FILE.json",
                        help="a SQuAD 2.0 file: its articles become the index (default eval/.cache/squad2-index)")
    parser.add_argument("--corpus", type=Path, metavar="PATH",
                        help="articles for --dataset; the index is brought in line with them "
                             "(default: the bundled sample corpus when the index does not exist yet)")
    parser.add_argument("--articles", nargs="+", metavar="TITLE",
                        help="with --squad: ask only these articles' questions (the index still holds every "
                             "article), e.g. the reader's validation articles Normans 1973_oil_crisis")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="evaluate N randomly sampled questions")
    parser.add_argument("--seed", type=int, default=13, help="seed of the --limit sample (default 13)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default eval/reports/<dataset name>)")
    parser.add_argument("-k", type=positive_int, default=5, help="passages per question (default 5)")
    parser.add_argument("--mode", choices=RETRIEVAL_MODES, default=None, help="retrieval mode (default hybrid)")
    parser.add_argument("--threshold", type=float, default=None, help="confidence under which to abstain")
    parser.add_argument("--compare", action="store_true",
                        help="also compare dense, bm25 and hybrid retrieval at k=1,3,5,10 and their answers")
    parser.add_argument("--export-feedback", type=Path, metavar="OUT.jsonl",
                        help="write the index's rated answers as gold-set candidates and exit")


def add_question_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` or ``--squad [--articles]``, and ``--index``: the questions an eval script
    (eval/ablation.py, eval/answer_losses.py) asks, and the index it asks them against."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, metavar="GOLD.jsonl", help="gold questions (JSONL)")
    source.add_argument("--squad", type=Path, metavar="FILE.json", help="a SQuAD 2.0 file")
    parser.add_argument("--articles", nargs="+", metavar="TITLE", help="with --squad: only these articles' questions")
    parser.add_argument("--index", type=Path, help=f"index folder (default {DEFAULT_INDEX}, with --squad {SQUAD_INDEX})")


def questions_and_index(args: argparse.Namespace) -> tuple[list[Record], Path]:
    """The questions ``add_question_arguments``'s options name, and the index to ask them against."""
    if args.squad is None:
        if args.articles:
            raise ValueError("--articles goes with --squad")
        return read_questions(args.dataset, gold=True), args.index or DEFAULT_INDEX
    return squad_questions(args.squad, args.articles)[1], args.index or SQUAD_INDEX


def squad_questions(squad: Path, articles: Sequence[str] | None = None) -> tuple[list[Any], list[Record]]:
    """A SQuAD 2.0 file's articles and questions; with ``articles``, only their questions."""
    documents, golds = read_squad(squad)
    if articles:
        unknown = sorted(set(articles) - {d.id for d in documents})
        if unknown:
            raise ValueError(f"no such article in {squad}: {', '.join(unknown)}")
        golds = [g for g in golds if g["sources"][0] in articles]
    return documents, golds


def _sample(golds: list[Record], limit: int | None, seed: int) -> list[Record]:
    if limit is None or limit >= len(golds):
        return golds
    picked = set(random.Random(seed).sample(range(len(golds)), limit))
    return [g for i, g in enumerate(golds) if i in picked]  # file order reads better in reports


def _sync_index(documents: Sequence[Any], index_dir: Path, embedder: Any, config: Config) -> None:
    from rag.store import build_index

    report = build_index(documents, index_dir, embedder, config)
    print(f"index {index_dir}: {report.documents} documents, {report.chunks} chunks; "
          f"embedded {report.chunks_embedded} chunks in {report.seconds:.1f} s")


def _corpus_documents(corpus: Path) -> list[Any]:
    from rag.ingest import load_documents

    result = load_documents([corpus])
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not result.documents:
        raise ValueError(f"no readable articles found in {corpus}")
    return result.documents


def _retrieval_row(answerer: Any, golds: Sequence[Record], mode: str) -> Record:
    """Retrieval-only metrics of one mode: recall and answer-in-passage recall at each k."""
    from rag.answer import retrieval_query
    from rag.metrics import passage_answer_recall, retrieval_metrics

    queries = [retrieval_query(g["question"], g.get("history") or []) for g in golds]
    vectors = None if mode == "bm25" else answerer.embedder.embed_queries(queries)
    recall: Record = {}
    answer_recall: Record = {}
    for k in COMPARE_KS:
        # one search per k, so recall@k counts exactly the k passages a reader would see
        found = answerer.retriever.search_batch(queries, k=k, mode=mode, query_vectors=vectors)
        predictions = [{"id": g["id"], "passages": [p.to_dict() for p in passages]}
                       for g, passages in zip(golds, found)]
        retrieval = retrieval_metrics(golds, predictions, ks=(k,))
        recall[f"recall@{k}"] = retrieval.get(f"recall@{k}")
        if k == 10:
            recall.update({name: retrieval.get(name) for name in ("mrr@10", "ndcg@10")})
        answer_recall[f"answer_recall@{k}"] = passage_answer_recall(golds, predictions, ks=(k,)).get(f"answer_recall@{k}")
    return {"setting": mode, **recall, **answer_recall}


def _answer_columns(summary: Record) -> Record:
    answers, abstention = summary["answers"], summary["abstention"]
    return {
        "em": answers["exact_match"], "f1": answers["f1"], "contains": answers["contains_gold"],
        "em_all": answers["exact_match_all"], "f1_all": answers["f1_all"],
        "answered": abstention["answered_rate"], "abstain_recall": abstention["abstain_recall"],
        "p50_ms": (summary["latency_ms"].get("total") or {}).get("p50"),
    }


def _print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_summary(summary: Record) -> None:
    answers, abstention = summary["answers"], summary["abstention"]
    retrieval, citations = summary["retrieval"], summary["citations"]
    total = summary["latency_ms"].get("total") or {}
    _print_table(["metric", "value"], [
        ["questions (answerable / unanswerable)",
         f"{summary['n_questions']} ({abstention['n_answerable']} / {abstention['n_unanswerable']})"],
        ["exact match (answerable)", answers["exact_match"]],
        ["F1 (answerable)", answers["f1"]],
        ["contains gold (answerable)", answers["contains_gold"]],
        ["sentence accuracy (answerable)", answers["sentence_accuracy"]],
        ["EM / F1 (all, SQuAD 2.0)", f"{_cell(answers['exact_match_all'])} / {_cell(answers['f1_all'])}"],
        ["answered (answerable)", abstention["answered_rate"]],
        ["abstain precision / recall", f"{_cell(abstention['abstain_precision'])} / {_cell(abstention['abstain_recall'])}"],
        ["doc recall@1 / @5", f"{_cell(retrieval.get('recall@1'))} / {_cell(retrieval.get('recall@5'))}"],
        ["MRR@10", retrieval.get("mrr@10")],
        ["citation precision / integrity", f"{_cell(citations['citation_precision'])} / {_cell(citations['citation_integrity'])}"],
        ["latency p50 / p95 ms", f"{_cell(total.get('p50'))} / {_cell(total.get('p95'))}"],
        ["errors", summary["n_errors"]],
    ])


def run(args: argparse.Namespace) -> int:
    """`rag eval`: see ``add_arguments``. Input mistakes raise ValueError/FileNotFoundError."""
    from rag.answer import Answerer, withhold_record
    from rag.embedding import Embedder
    from rag.ingest import SAMPLE_CORPUS
    from rag.metrics import calibration, evaluate, threshold_curve
    from rag.report import write_report
    from rag.store import CURRENT_FILE, Index, same_vectors

    if args.export_feedback:
        return export_feedback(args.index or DEFAULT_INDEX, args.export_feedback)
    if not (args.dataset or args.squad):
        raise ValueError("give --dataset GOLD.jsonl or --squad FILE.json (or --export-feedback OUT.jsonl)")
    if args.articles and not args.squad:
        raise ValueError("--articles goes with --squad")
    if args.squad and args.corpus:
        raise ValueError("--corpus goes with --dataset; a --squad file brings its own articles")
    started = time.perf_counter()
    config = Config()
    # read and validate every input before the model loads, so mistakes fail fast
    documents: list[Any] | None = None
    if args.squad:
        documents, golds = squad_questions(args.squad, args.articles)
        index_dir, name = args.index or SQUAD_INDEX, args.squad.stem
        if args.articles:
            name = f"{name}-{'-'.join(sorted(args.articles))}"
    else:
        golds = read_questions(args.dataset, gold=True)
        index_dir, name = args.index or DEFAULT_INDEX, args.dataset.stem
        if args.corpus is not None or not (index_dir / CURRENT_FILE).is_file():
            documents = _corpus_documents(args.corpus or SAMPLE_CORPUS)
    golds = _sample(golds, args.limit, args.seed)
    if not golds:
        raise ValueError(f"no questions in {args.squad or args.dataset}")
    out_dir = args.out or REPORTS / name

    embedder = Embedder(config.embedding).warm_up()
    if documents is not None:
        _sync_index(documents, index_dir, embedder, config)
    index = Index.open(index_dir)
    if not same_vectors(index.config.embedding, embedder.config):
        embedder = Embedder(index.config.embedding).warm_up()
    missing = sorted({s for g in golds for s in g["sources"] if s not in index.documents})
    if missing:
        print(f"warning: {len(missing)} gold source(s) are not in {index_dir} (e.g. {missing[0]!r}); "
              "is --corpus right?", file=sys.stderr)
    answerer = Answerer(index, embedder).warm_up()
    mode = args.mode or index.config.retrieval.mode
    ready = time.perf_counter()

    threshold = answerer.threshold if args.threshold is None else args.threshold
    doc_texts = {doc_id: index.document_text(doc_id) for doc_id in index.documents}

    def scored(mode_name: str, out_path: Path | None) -> tuple[list[Record], Record, list[Record]]:
        # answer once with nothing withheld, so the threshold curve spans every threshold
        raw = answer_questions(answerer, golds, None, k=args.k, mode=mode_name, threshold=0.0)
        final = [withhold_record(r, threshold) for r in raw]
        if out_path is not None:
            write_jsonl(out_path, final)
        summary, rows = evaluate(golds, final, doc_texts)
        summary["curve"] = threshold_curve(raw, golds)
        summary["calibration"] = calibration(raw, golds)
        return final, summary, rows

    predictions, summary, rows = scored(mode, out_dir / "predictions.jsonl")
    summary["reader"] = {
        **answerer.reader_info, "threshold": threshold,
        "training": {k: v for k, v in answerer.reader.metadata.get("training", {}).items() if k != "per_epoch"},
    }
    answered = time.perf_counter()

    compare = None
    if args.compare:
        compare = []
        for other in ("dense", "bm25", "hybrid"):
            row = _retrieval_row(answerer, golds, other)
            other_summary = summary if other == mode else scored(other, None)[1]
            row.update(_answer_columns(other_summary))
            compare.append(row)
    report = write_report(out_dir, summary, rows, compare)

    _print_summary(summary)
    if compare:
        print()
        _print_table(list(compare[0]), [list(row.values()) for row in compare])
    finished = time.perf_counter()
    print(f"\nanswered {len(golds)} questions in {answered - ready:.1f} s "
          f"({1000 * (answered - ready) / len(golds):.0f} ms each); setup {ready - started:.1f} s, "
          f"total {finished - started:.1f} s")
    print(f"report: {report}")
    return 0
