"""Command line: `rag index`, `rag search`, `rag chunks`, `rag ask`, `rag eval`, `rag serve`, `rag bench`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rag.config import EMBEDDING_BACKENDS, RETRIEVAL_MODES, STORE_KINDS, VECTOR_INDEX_KINDS, Config

DEFAULT_INDEX = Path("index")


class UserError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit status 2."""


def _add_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=Path, default=None, metavar="DIR",
                        help="index folder (default: ./index)")


def _add_backend_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--embedding-backend", choices=EMBEDDING_BACKENDS, default=None, help=help)


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", type=int, default=None, help="passages to return (default 5)")
    parser.add_argument("--mode", choices=RETRIEVAL_MODES, default=None, help="retrieval mode (default hybrid)")
    parser.add_argument("--date-from", metavar="YYYY-MM-DD", help="only articles dated on or after")
    parser.add_argument("--date-to", metavar="YYYY-MM-DD", help="only articles dated on or before")
    parser.add_argument("--doc", action="append", metavar="ID", help="only this document (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Extractive question answering over news articles.")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build or update an index from articles")
    index.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the bundled sample corpus)")
    index.add_argument("--add", action="store_true", help="add and update only; keep documents not given")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_backend_option(index, "how chunks are embedded: onnx-int8 (default; about 2x faster) or torch fp32 "
                               "(default with --add: the index's own)")
    index.add_argument("--vector-index", choices=VECTOR_INDEX_KINDS, default=None,
                       help="exact (flat) or approximate (ivf) vector search; auto (default) switches to ivf "
                            "from 100,000 chunks")
    index.add_argument("--store", choices=STORE_KINDS, default=None,
                       help="where vectors and BM25 live: faiss (default, in the index folder) or milvus "
                            "(default when rebuilding or adding: the index's own)")
    index.add_argument("--milvus-uri", metavar="URI",
                       help="Milvus for --store milvus: a file path (Milvus Lite) or http://host:19530")
    _add_index_option(index)

    search = commands.add_parser("search", help="ranked passages for a question")
    search.add_argument("question")
    _add_search_options(search)
    _add_backend_option(search, "refuse the index unless it was embedded with this backend")
    _add_index_option(search)

    chunks = commands.add_parser("chunks", help="print the indexed chunks as JSONL")
    _add_index_option(chunks)

    ask = commands.add_parser("ask", help="answer a question with cited sources")
    ask.add_argument("question", nargs="?", help="the question (omit with --batch)")
    ask.add_argument("--history", action="append", default=[], metavar="QUESTION",
                     help="an earlier question of the conversation (repeatable, oldest first)")
    ask.add_argument("--batch", type=Path, metavar="IN.jsonl", help="answer every question of a JSONL file")
    ask.add_argument("--out", type=Path, metavar="OUT.jsonl", help="where --batch writes its records")
    ask.add_argument("--threshold", type=float, default=None,
                     help="confidence under which to abstain (default: the reader's fitted threshold)")
    ask.add_argument("--answers", type=int, default=1, metavar="N", help="give the N best distinct answers")
    _add_search_options(ask)
    _add_backend_option(ask, "refuse the index unless it was embedded with this backend")
    _add_index_option(ask)

    evaluate = commands.add_parser("eval", help="measure retrieval and answers on a gold set")
    from rag.evaluate import add_arguments

    add_arguments(evaluate)
    _add_index_option(evaluate)

    serve = commands.add_parser("serve", help="start the chat page")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860)
    _add_index_option(serve)

    train_reader = commands.add_parser("train-reader", help="train the answer reader and fit its confidence")
    from rag.reader.train import add_arguments as add_train_arguments

    add_train_arguments(train_reader)

    bench = commands.add_parser("bench", help="indexing throughput and search/answer latency")
    from rag.bench import add_arguments as add_bench_arguments

    add_bench_arguments(bench)
    return parser


def _print_json(record: Any) -> None:
    print(json.dumps(record, ensure_ascii=False))


def _filter(args: argparse.Namespace):
    from rag.retrieval import SearchFilter
    from rag.validation import parse_iso_date

    date_from = parse_iso_date(args.date_from, "--date-from") if args.date_from else None
    date_to = parse_iso_date(args.date_to, "--date-to") if args.date_to else None
    if date_from and date_to and date_from > date_to:
        raise UserError(f"the date range is empty: --date-from {date_from} is after --date-to {date_to}")
    where = SearchFilter(date_from, date_to, frozenset(args.doc) if args.doc else None)
    return where or None


def _load(index_dir: Path, backend: str | None = None):
    """The index and its embedding model, loaded once; ``backend`` must match the index's."""
    from dataclasses import replace

    from rag.embedding import Embedder
    from rag.store import Index, check_compatible

    index = Index.open(index_dir)
    embedding = index.config.embedding
    if backend is not None:
        embedding = replace(embedding, backend=backend)
        check_compatible(index.manifest, replace(index.config, embedding=embedding), index_dir)
    return index, Embedder(embedding).warm_up()


def _index_config(args: argparse.Namespace) -> Config:
    """Default settings, with the command line's backend, vector index and store. The store the
    index already uses is kept unless another is asked for; so is its backend when adding."""
    from dataclasses import replace

    from rag.store import IndexLoadError, read_manifest

    config = Config()
    try:
        built = Config.from_dict(read_manifest(args.index)["config"])
    except IndexLoadError:
        built = None  # nothing built yet
    backend = args.embedding_backend or (built.embedding.backend if built and args.add else None)
    if backend:
        config = replace(config, embedding=replace(config.embedding, backend=backend))
    if args.vector_index:
        config = replace(config, vectors=replace(config.vectors, kind=args.vector_index))
    store = built.store if built else config.store
    if args.store or args.milvus_uri:
        kind = args.store or ("milvus" if args.milvus_uri else store.kind)
        if kind == "milvus" and not (args.milvus_uri or store.milvus_uri):
            raise UserError("--store milvus needs --milvus-uri (a file path for Milvus Lite, or http://host:19530)")
        if kind == "faiss" and args.milvus_uri:
            raise UserError("--milvus-uri goes with --store milvus")
        store = replace(store, kind=kind, milvus_uri=args.milvus_uri or (store.milvus_uri if kind == "milvus" else None))
    return replace(config, store=store)


def cmd_index(args: argparse.Namespace) -> int:
    from rag.embedding import Embedder
    from rag.ingest import SAMPLE_CORPUS, load_documents
    from rag.store import build_index

    paths = args.paths or [SAMPLE_CORPUS]
    if not args.quiet:
        print("reading " + ", ".join(map(str, paths)) + " ...", file=sys.stderr, flush=True)
    result = load_documents(paths)
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    for note in result.warnings:  # read and indexed, but worth a look
        print(f"warning: {note}", file=sys.stderr)
    if not result.documents:
        raise UserError("no readable articles found in " + ", ".join(map(str, paths)))
    config = _index_config(args)
    report = build_index(
        result.documents, args.index, Embedder(config.embedding).warm_up(), config,
        remove_missing=not args.add, progress=not args.quiet,
    )
    rate = report.chunks_embedded / report.seconds if report.seconds else 0.0
    print(
        f"indexed {report.documents} documents, {report.chunks} chunks, {report.sentences} sentences "
        f"into {args.index} in {report.seconds:.1f} s ({config.embedding.backend} embeddings, "
        f"{report.vector_index} vector index)\n"
        f"  added {len(report.added)}, updated {len(report.updated)}, removed {len(report.removed)}, "
        f"re-embedded {len(report.reembedded)}, "
        f"unchanged {report.unchanged}; embedded {report.chunks_embedded} chunks ({rate:.1f} chunks/s); "
        f"{report.duplicate_groups} near-duplicate group(s); skipped {len(result.problems)} input(s); "
        f"{len(result.warnings)} warning(s)"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag.retrieval import Retriever

    from rag.validation import check_k, check_question

    check_k(args.k)
    where = _filter(args)
    question = check_question(args.question, Config().answer)
    index, embedder = _load(args.index, args.embedding_backend)
    passages = Retriever(index, embedder).search(question, k=args.k, mode=args.mode, where=where)
    if args.json:
        _print_json({"question": args.question, "passages": [p.to_dict() for p in passages]})
        return 0
    if not passages:
        print("no passages found")
    for p in passages:
        parts = " ".join(f"{name}={value:.4f}" for name, value in (("dense", p.dense_score), ("bm25", p.bm25_score)) if value is not None)
        print(f"[{p.rank}] {p.doc_id} — {p.title} ({p.date or 'undated'}) [{p.start}:{p.end}] score={p.score:.4f} {parts}")
        for doc, start, end in p.duplicates:
            print(f"    also in {doc} [{start}:{end}]")
        print("    " + " ".join(p.text.split()))
    return 0


def cmd_chunks(args: argparse.Namespace) -> int:
    from rag.store import Index

    index = Index.open(args.index)
    for record in index.chunks():
        _print_json(record)
    return 0


def _print_answer(answer) -> None:
    if answer.error:
        print(f"error: {answer.error}")
        return
    if answer.abstained:
        print(answer.message)
        if answer.passages:
            print("\nRelated reading:")
            for p in answer.passages:
                print(f"  - {p.title} ({p.doc_id}, {p.date or 'undated'}): {' '.join(p.text.split())[:160]}…")
        return
    print(f"Answer: {answer.answer}")
    print(f"Sentence: {answer.sentence}")
    print(f"Confidence: {answer.confidence:.2f}")
    print("Sources:")
    for c in answer.citations:
        print(f"  [{c.n}] {c.title} — {c.doc}, {c.date or 'undated'}, chars {c.start}-{c.end}")
        print(f"      “{' '.join(c.quote.split())}”")
    for n, other in enumerate(answer.alternatives, start=2):
        source = other.citations[0]
        print(f"Answer {n}: {other.answer} (confidence {other.confidence:.2f}; {source.doc}, chars {source.start}-{source.end})")


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.answer import Answerer

    if args.batch is None and args.question is None:
        raise UserError("give a question, or --batch IN.jsonl --out OUT.jsonl")
    if args.batch is not None and args.out is None:
        raise UserError("--batch needs --out OUT.jsonl")
    from rag.validation import check_history, check_k, check_question

    check_k(args.k)
    if args.answers < 1:
        raise UserError(f"--answers must be at least 1, not {args.answers}")
    where = _filter(args)
    if args.batch is None:  # refused before the model loads, as `rag search` does
        check_question(args.question, Config().answer)
        check_history(args.history, Config().answer)
    if args.batch is not None:
        from rag.gold import read_questions

        questions = read_questions(args.batch)  # validates every line before the model loads
        index, embedder = _load(args.index, args.embedding_backend)
        from rag.evaluate import answer_questions

        answer_questions(Answerer(index, embedder), questions, args.out, k=args.k, mode=args.mode, where=where,
                         threshold=args.threshold, answers=args.answers)
        print(f"answered {len(questions)} questions into {args.out}", file=sys.stderr)
        return 0
    index, embedder = _load(args.index, args.embedding_backend)
    answer = Answerer(index, embedder).ask(
        args.question, args.history, k=args.k, mode=args.mode, where=where, threshold=args.threshold,
        answers=args.answers,
    )
    if args.json:
        _print_json(answer.to_dict())
    else:
        _print_answer(answer)
    return 1 if answer.error else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluate import run

    return run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    serve(args.index, host=args.host, port=args.port)
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from rag.reader.train import run

    return run(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.bench import run

    return run(args)


COMMANDS = {
    "index": cmd_index, "search": cmd_search, "chunks": cmd_chunks, "ask": cmd_ask,
    "eval": cmd_eval, "serve": cmd_serve, "bench": cmd_bench, "train-reader": cmd_train_reader,
}


def main(argv: Sequence[str] | None = None) -> int:
    from rag.validation import QuestionError
    from rag.embedding import EmbeddingError
    from rag.store import IndexLoadError
    from rag.stores import StoreError

    args = build_parser().parse_args(argv)
    if getattr(args, "index", "n/a") is None and args.command != "eval":
        args.index = DEFAULT_INDEX  # eval picks its own default per dataset
    try:
        return COMMANDS[args.command](args)
    except (UserError, IndexLoadError, StoreError, EmbeddingError, QuestionError, FileNotFoundError, ValueError) as exc:
        message = str(exc)
        if getattr(args, "json", False):
            _print_json({"error": message})
        print(f"rag {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rag {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
