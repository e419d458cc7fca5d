"""`rag bench`: indexing throughput, then search and answer latency on a freshly built index."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.config import EMBEDDING_BACKENDS, STORE_KINDS, Config, EmbeddingConfig
from rag.evaluate import positive_int

SAMPLE_GOLD = Path(__file__).resolve().parent.parent / "eval" / "gold" / "sample.jsonl"
# the CPU instruction sets onnxruntime's int8 matrix kernels choose between, slowest first
INT8_INSTRUCTIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `rag bench`."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, nargs="+", metavar="PATH",
                        help="articles to index (default: the bundled sample corpus)")
    source.add_argument("--squad", type=Path, metavar="FILE.json",
                        help="index the articles of a SQuAD 2.0 file and time its questions")
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="index the corpus N times over, ids copyK/<id> (to reach 10k+ chunks)")
    parser.add_argument("--queries", type=positive_int, default=100, metavar="N",
                        help="questions to time (default 100)")
    # not "index": cli.py would default that to ./index, and a benchmark must not touch a real index
    parser.add_argument("--index", dest="bench_index", type=Path, metavar="DIR",
                        help="build into DIR and keep it (default: a temporary folder, removed after)")
    parser.add_argument("--embedding-backend", choices=EMBEDDING_BACKENDS, default=EmbeddingConfig().backend,
                        help="embedding backend to index and search with (default onnx-int8)")
    parser.add_argument("--store", choices=STORE_KINDS, default="faiss",
                        help="chunk store to build and search (default faiss)")
    parser.add_argument("--milvus-uri", metavar="URI",
                        help="Milvus for --store milvus (default: a Milvus Lite file in the bench's temporary folder)")
    parser.add_argument("--json", action="store_true", help="also print one JSON record")
    from rag.bench_scale import add_scale_arguments  # --scale N, and the two options only it reads

    add_scale_arguments(parser)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _stats(values_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(values_ms)
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "mean": float(values.mean())}


def _time_each(call: Callable[[Any], Any], items: Sequence[Any]) -> dict[str, float]:
    spent = []
    for item in items:
        started = time.perf_counter()
        call(item)
        spent.append((time.perf_counter() - started) * 1000)
    return _stats(spent)


def machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The CPU the numbers come from. The int8 reader's speed depends on it more than on any recent
    change (its batch of 6 windows of 175 tokens ran in 109 ms on one session's machine and in
    184 ms on another's, docs/reader.md), so a latency figure means little without it."""
    model, flags = platform.processor() or platform.machine(), set()
    if cpuinfo.is_file():
        first_cpu = cpuinfo.read_text(errors="replace").split("\n\n")[0]
        fields = {key.strip(): value.strip() for key, sep, value in
                  (line.partition(":") for line in first_cpu.splitlines()) if sep}
        model = fields.get("model name", model)
        flags = set(fields.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": cores, "int8_instructions": [f for f in INT8_INSTRUCTIONS if f in flags]}


def _documents_and_questions(args: argparse.Namespace) -> tuple[list[Any], list[dict]]:
    from rag.gold import read_questions, read_squad
    from rag.ingest import SAMPLE_CORPUS, load_documents

    if args.squad:
        documents, questions = read_squad(args.squad)
        return documents, random.Random(13).sample(questions, min(args.queries, len(questions)))
    result = load_documents(args.corpus or [SAMPLE_CORPUS])
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not result.documents:
        raise ValueError("no readable articles found")
    gold = SAMPLE_GOLD if SAMPLE_GOLD.is_file() else Path("eval/gold/sample.jsonl")
    questions = read_questions(gold)
    return result.documents, [questions[i % len(questions)] for i in range(args.queries)]


def _doc_recall_at_1(retriever: Any, questions: Sequence[dict]) -> float | None:
    """Share of questions with sources whose top passage is from one (copyK/ prefixes dropped)."""
    scored = [q for q in questions if q.get("sources")]
    if not scored:
        return None
    hits = 0
    for question in scored:
        top = retriever.search(question["question"], k=1, mode="hybrid")
        hits += bool(top) and re.sub(r"^copy\d+/", "", top[0].doc_id) in question["sources"]
    return hits / len(scored)


def _repeated(documents: Sequence[Any], times: int) -> list[Any]:
    if times == 1:
        return list(documents)
    # the content hash only tells whether one id changed between builds, so copies may share it
    return [dataclasses.replace(d, id=f"copy{k}/{d.id}") for k in range(times) for d in documents]


def run(args: argparse.Namespace) -> int:
    """`rag bench`: see ``add_arguments``."""
    host = machine()
    print(f"machine: {host['cpu']}, {host['cores']} cores; int8 instructions: "
          f"{', '.join(host['int8_instructions']) or 'none known'}")
    if args.scale:
        from rag.bench_scale import run_scale

        return run_scale(args)
    from rag.answer import Answerer
    from rag.embedding import Embedder
    from rag.retrieval import Retriever
    from rag.store import CURRENT_FILE, Index, build_index

    if args.bench_index is not None and (args.bench_index / CURRENT_FILE).exists():
        raise ValueError(f"{args.bench_index} already holds an index; bench builds a fresh one")
    started = time.perf_counter()
    documents, questions = _documents_and_questions(args)
    documents = _repeated(documents, args.repeat)
    read_s = time.perf_counter() - started
    config = Config()
    config = dataclasses.replace(config, embedding=dataclasses.replace(config.embedding, backend=args.embedding_backend))
    loaded = time.perf_counter()
    embedder = Embedder(config.embedding).warm_up()
    model_s = time.perf_counter() - loaded

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        index_dir = args.bench_index or Path(scratch) / "index"
        if args.store == "milvus":
            uri = args.milvus_uri or str(Path(scratch) / "milvus.db")
            config = dataclasses.replace(config, store=dataclasses.replace(config.store, kind="milvus", milvus_uri=uri))
        build = build_index(documents, index_dir, embedder, config)
        result: dict[str, Any] = {
            "machine": host, "documents": build.documents, "chunks": build.chunks, "sentences": build.sentences,
            "read_s": read_s, "model_load_s": model_s, "index_s": build.seconds,
            "embedding_backend": config.embedding.backend, "vector_index": build.vector_index,
            "store": config.store.kind,
            "chunks_per_s": build.chunks / max(build.seconds, 1e-9),
            "peak_rss_mib_after_index": _peak_rss_mib(),
        }
        print(f"indexed {build.documents} documents, {build.chunks} chunks ({config.embedding.backend} "
              f"embeddings, {config.store.kind} store, {build.vector_index} vectors) in {build.seconds:.1f} s "
              f"(identical chunk texts embedded once): "
              f"{result['chunks_per_s']:.1f} chunks/s (reading {read_s:.1f} s, model load {model_s:.1f} s); "
              f"peak RSS {result['peak_rss_mib_after_index']:.0f} MiB")

        index = Index.open(index_dir)
        retriever = Retriever(index, embedder)
        answerer = Answerer(index, embedder).warm_up()
        first = questions[0]["question"]
        retriever.search(first, k=5, mode="hybrid")  # warm-up: first-call allocations, caches
        answerer.ask(first)
        texts = [q["question"] for q in questions]
        for mode in ("hybrid", "dense", "bm25"):
            stats = _time_each(lambda q: retriever.search(q, k=5, mode=mode), texts)
            result[f"search_{mode}_ms"] = stats
            print(f"search {mode} p50 {stats['p50']:.1f} ms p95 {stats['p95']:.1f} ms mean {stats['mean']:.1f} ms")
        recall = _doc_recall_at_1(retriever, questions)
        if recall is not None:
            result["doc_recall@1_hybrid"] = recall
            print(f"doc R@1 (hybrid, a copy counts as its original) {recall:.3f} over "
                  f"{sum(bool(q.get('sources')) for q in questions)} questions")
        stats = _time_each(lambda q: answerer.ask(q["question"], q.get("history") or []), questions)
        result["ask_ms"] = stats
        print(f"ask end-to-end p50 {stats['p50']:.1f} ms p95 {stats['p95']:.1f} ms mean {stats['mean']:.1f} ms")
        result.update(queries=len(questions), peak_rss_mib=_peak_rss_mib(),
                      total_s=time.perf_counter() - started)
        print(f"{len(questions)} queries each; peak RSS {result['peak_rss_mib']:.0f} MiB; "
              f"total {result['total_s']:.1f} s")
        index.close()
    if args.json:
        print(json.dumps(result))
    return 0
