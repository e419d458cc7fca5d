"""Do the FAISS and Milvus chunk stores give the same answers? (issue #13)

    HF_HUB_OFFLINE=1 python eval/compare_stores.py --corpus /tmp/news-blind \\
        --dataset eval/gold/news-blind.jsonl --milvus-uri /tmp/news-blind-milvus.db
    HF_HUB_OFFLINE=1 python eval/compare_stores.py --squad ../shared/benchmarks/squad2-dev-half/squad2-dev-public.json

Builds one index per store from the same documents, asks every question of the gold set with
the same embedder and reader, and reports the share of questions answered alike (same answer
text, or both declined), doc Recall@1 of the answerer's passages with each store, and index and
ask times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.answer import Answerer  # noqa: E402
from rag.config import Config, StoreConfig  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.gold import read_questions, read_squad  # noqa: E402
from rag.ingest import load_documents  # noqa: E402
from rag.metrics import retrieval_metrics  # noqa: E402
from rag.reader.model import Reader  # noqa: E402
from rag.store import Index, build_index  # noqa: E402


def answers_with(store: StoreConfig, documents: list, questions: list[dict], embedder: Embedder,
                 reader: Reader, folder: Path) -> tuple[list[dict], dict]:
    started = time.perf_counter()
    build_index(documents, folder, embedder, Config(store=store))
    built = time.perf_counter() - started
    index = Index.open(folder)
    answerer = Answerer(index, embedder, reader=reader).warm_up()
    records, started = [], time.perf_counter()
    for question in questions:
        answer = answerer.ask(question["question"], question.get("history") or [])
        record = answer.to_dict()
        records.append({"id": question["id"], "answer": None if answer.abstained else answer.answer,
                        "passages": record.get("passages") or []})
    asked = time.perf_counter() - started
    recall = retrieval_metrics(questions, [{"id": r["id"], "passages": r["passages"]} for r in records], ks=(1,))
    index.close()
    return records, {"index_s": round(built, 1), "ask_ms_mean": round(1000 * asked / len(questions), 1),
                     "doc_recall@1": round(recall.get("recall@1", 0.0), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", type=Path, help="articles (with --dataset)")
    source.add_argument("--squad", type=Path, help="a SQuAD 2.0 file: its articles and questions")
    parser.add_argument("--dataset", type=Path, help="gold questions (JSONL) over --corpus")
    parser.add_argument("--milvus-uri", help="default: a Milvus Lite file in a temporary folder")
    args = parser.parse_args(argv)
    if args.squad:
        documents, questions = read_squad(args.squad)
    else:
        if not args.dataset:
            parser.error("--corpus goes with --dataset")
        documents, questions = load_documents([args.corpus]).documents, read_questions(args.dataset, gold=True)
    embedder, reader = Embedder().warm_up(), Reader().warm_up()
    with tempfile.TemporaryDirectory(prefix="rag-stores-") as scratch:
        uri = args.milvus_uri or str(Path(scratch) / "milvus.db")
        faiss_records, faiss_stats = answers_with(StoreConfig(), documents, questions, embedder, reader,
                                                  Path(scratch) / "faiss")
        milvus_records, milvus_stats = answers_with(StoreConfig(kind="milvus", milvus_uri=uri), documents,
                                                    questions, embedder, reader, Path(scratch) / "milvus")
    same = [a["answer"] == b["answer"] for a, b in zip(faiss_records, milvus_records)]
    differing = [(q["question"], a["answer"], b["answer"])
                 for q, a, b, alike in zip(questions, faiss_records, milvus_records, same) if not alike]
    print(f"{len(questions)} questions: same answer (or both declined) on {sum(same)} = {sum(same) / len(same):.3f}")
    print(f"faiss:  {faiss_stats}\nmilvus: {milvus_stats}")
    for question, a, b in differing:
        print(f"  differs: {question!r}: faiss {a!r} / milvus {b!r}")
    print(json.dumps({"questions": len(questions), "agreement": sum(same) / len(same),
                      "faiss": faiss_stats, "milvus": milvus_stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
