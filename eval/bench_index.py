"""Indexing time of one corpus, three ways, in one run on one machine (issue #12).

    HF_HUB_OFFLINE=1 python eval/bench_index.py ../shared/benchmarks/bbc-news [--baseline-commit 5d5f9c6]

1. **baseline commit**: ``rag index`` of an older commit (default 5d5f9c6, torch fp32, every chunk
   and every sentence embedded), checked out into a temporary git worktree and run with this venv;
2. **plain**: the simplest build of the same chunks: sentence-transformers fp32 over every chunk,
   FAISS ``IndexFlatIP``, bm25s; no sentence pass, no SQLite;
3. **this tree**: ``rag index`` as it is now (one process, fresh index folder).

Each is a separate process timed from start to exit (model loading included) with its peak RSS.
Absolute times drift between machines and with load; the ratios within one run are what counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLAIN_BUILD = """
import sys, faiss, bm25s
from pathlib import Path
from sentence_transformers import SentenceTransformer
from rag.chunking import chunk_document
from rag.config import Config
from rag.embedding import resolve_model_path
from rag.ingest import load_documents
from rag.stores.terms import bm25_tokens
config = Config()
model = SentenceTransformer(str(resolve_model_path(config.embedding.model_name)), device="cpu")
count = lambda texts: [len(t) for t in model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]] if texts else []
documents = load_documents([Path(p) for p in sys.argv[2:]]).documents
texts = [f"{d.title}. {c.text}" for d in documents for c in chunk_document(d, config.chunking, count)]
vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
index = faiss.IndexFlatIP(vectors.shape[1]); index.add(vectors)
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
faiss.write_index(index, str(out / "chunks.faiss"))
retriever = bm25s.BM25(); retriever.index(bm25_tokens(texts), show_progress=False); retriever.save(str(out / "bm25"))
print(f"plain build: {len(documents)} documents, {len(texts)} chunks")
"""


def _timed(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource use
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    print(stdout.strip().splitlines()[-2:] if stdout.strip() else "", file=sys.stderr)
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024)}  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--baseline-commit", default="5d5f9c6")
    parser.add_argument("--skip", nargs="*", default=[], choices=["baseline", "plain", "current"])
    args = parser.parse_args(argv)
    corpus = [str(p.resolve()) for p in args.corpus]
    python = sys.executable
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rag-bench-index-") as scratch:
        scratch_dir = Path(scratch)
        if "baseline" not in args.skip:
            tree = scratch_dir / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline_commit],
                           cwd=ROOT, check=True, capture_output=True)
            try:  # run from the worktree, so `python -m rag.cli` imports its rag package
                results["baseline"] = _timed([python, "-m", "rag.cli", "index", *corpus, "--quiet",
                                              "--index", str(scratch_dir / "i-baseline")], tree)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
        if "plain" not in args.skip:
            results["plain"] = _timed([python, "-c", PLAIN_BUILD, str(scratch_dir / "i-plain"), *corpus], ROOT)
        if "current" not in args.skip:
            results["current"] = _timed([python, "-m", "rag.cli", "index", *corpus, "--quiet",
                                         "--index", str(scratch_dir / "i-current")], ROOT)
    for name, result in results.items():
        print(f"{name:9s} {result['seconds']:7.1f} s   peak RSS {result['peak_rss_mib']} MiB")
    if "current" in results:
        for name in ("baseline", "plain"):
            if name in results:
                print(f"speed-up over {name}: {results[name]['seconds'] / results['current']['seconds']:.2f}x "
                      f"(current / {name} = {results['current']['seconds'] / results[name]['seconds']:.2f})")
    print(json.dumps({"corpus": corpus, "baseline_commit": args.baseline_commit, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
