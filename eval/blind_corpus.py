"""Lay out the corpus of the blind news gold set (eval/gold/news-blind.jsonl) as one folder of
links: the BBC ``heldout`` articles under their topic folders, and the five sample articles.

    python eval/blind_corpus.py /tmp/news-blind
    rag eval --dataset eval/gold/news-blind.jsonl --corpus /tmp/news-blind --index /tmp/news-blind-index

Document ids then match the gold set's sources ("business/071.txt", "000_c843eb08c4d7e257.txt").
The articles are linked, never copied: they stay where ../shared keeps them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag.ingest import SAMPLE_CORPUS

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--benchmarks", type=Path, default=BENCHMARKS)
    args = parser.parse_args()
    heldout = json.loads((args.benchmarks / "bbc-news-split.json").read_text(encoding="utf-8"))["heldout"]
    sources = [(name, args.benchmarks / "bbc-news" / name) for name in heldout]
    sources += [(path.name, path) for path in sorted(SAMPLE_CORPUS.glob("*.txt"))]
    for name, source in sources:
        link = args.out / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(source.resolve())
    print(f"{len(sources)} articles linked under {args.out}")


if __name__ == "__main__":
    main()
