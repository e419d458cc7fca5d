"""Document retrieval with each embedding backend, on the same questions (issue #12).

    HF_HUB_OFFLINE=1 python eval/retrieval_backends.py --blind-corpus /tmp/news-blind

Builds one index per backend (torch fp32, onnx-int8) for each set and scores doc Recall@1/@5 and
MRR@10 of hybrid and dense retrieval, k=5, over every question that names its source:

* SQuAD public half, open mode over all its articles (``--squad``);
* the blind news set ``eval/gold/news-blind.jsonl`` over ``--blind-corpus`` (lay it out with
  ``python eval/blind_corpus.py DIR``); skipped when not given.

Nothing is fitted here: it checks that the faster backend does not cost retrieval quality.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.config import EMBEDDING_BACKENDS, Config  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.gold import read_questions, read_squad  # noqa: E402
from rag.ingest import load_documents  # noqa: E402
from rag.metrics import retrieval_metrics  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.store import Index, build_index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad2-dev-half" / "squad2-dev-public.json"


def score(documents: list, golds: list[dict], backend: str, scratch: Path) -> dict[str, dict]:
    config = Config()
    config = replace(config, embedding=replace(config.embedding, backend=backend))
    embedder = Embedder(config.embedding).warm_up()
    folder = scratch / backend
    build_index(documents, folder, embedder, config)
    retriever = Retriever(Index.open(folder), embedder)
    golds = [g for g in golds if g.get("sources")]
    result = {}
    for mode in ("hybrid", "dense"):
        passages = retriever.search_batch([g["question"] for g in golds], k=5, mode=mode)
        predictions = [{"id": g["id"], "passages": [{"doc": p.doc_id} for p in found]}
                       for g, found in zip(golds, passages)]
        metrics = retrieval_metrics(golds, predictions, ks=(1, 5))
        result[mode] = {k: round(v, 3) for k, v in metrics.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--blind-corpus", type=Path)
    args = parser.parse_args(argv)
    sets = {"squad-public": read_squad(args.squad)}
    if args.blind_corpus:
        golds = read_questions(ROOT / "eval" / "gold" / "news-blind.jsonl", gold=True)
        sets["news-blind"] = (load_documents([args.blind_corpus]).documents, golds)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rag-backends-") as scratch:
        for name, (documents, golds) in sets.items():
            for backend in EMBEDDING_BACKENDS:
                results[f"{name} {backend}"] = found = score(documents, golds, backend, Path(scratch) / name)
                for mode, metrics in found.items():
                    print(f"{name:13s} {backend:9s} {mode:6s} R@1 {metrics['recall@1']:.3f} "
                          f"R@5 {metrics['recall@5']:.3f} MRR@10 {metrics['mrr@10']:.3f} (n={metrics['n']})",
                          flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
