"""Speed of reading, cleaning, sentence splitting and chunking on large and hostile inputs.

    HF_HUB_OFFLINE=1 python eval/bench_ingest.py [--sizes 1 5 20] [--no-chunk]

Writes files of whole pages (the sample articles, repeated) of each size in MB to a temporary
folder and times each stage on them, printing MB/s: "read + clean" is ``load_documents`` (decode,
boilerplate removal, title and date), "split" is every sentence of the body, "chunk" is
``chunk_document`` with the embedding model's tokenizer (no embedding). Then it times the hostile
inputs of issue #14 — a 1 MB article on one line, long lines that once made a pattern backtrack, a
long run of dots — each of which must take well under a second.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.chunking import chunk_document, document_sentences, split_sentences  # noqa: E402
from rag.config import ChunkingConfig  # noqa: E402
from rag.ingest import SAMPLE_CORPUS, load_documents, make_document  # noqa: E402
from rag.types import Span  # noqa: E402

MB = 1024 * 1024


def _pages(size: int) -> str:
    """Whole sample pages, one after another, up to ``size`` characters."""
    pages = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE_CORPUS.glob("*.txt"))]
    parts, total, i = [], 0, 0
    while total < size:
        parts.append(pages[i % len(pages)])
        total += len(parts[-1]) + 1
        i += 1
    return "\n".join(parts)


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def _rate(size: int, seconds: float) -> str:
    return f"{size / MB / seconds:7.1f} MB/s ({seconds:6.2f} s)" if seconds else "      - MB/s"


def bench_sizes(sizes: list[float], count_tokens) -> None:
    print(f"{'file':>8}  {'read + clean':>24}  {'split sentences':>24}  {'chunk (tokenizer)':>24}  sentences")
    with tempfile.TemporaryDirectory() as folder:
        for megabytes in sizes:
            path = Path(folder) / f"pages-{megabytes:g}mb.txt"
            path.write_text(_pages(int(megabytes * MB)), encoding="utf-8")
            size = path.stat().st_size
            result, read_s = _timed(load_documents, [path])
            [document] = result.documents
            sentences, split_s = _timed(document_sentences, document)
            chunk_cell = "-"
            if count_tokens is not None:
                _, chunk_s = _timed(chunk_document, document, ChunkingConfig(), count_tokens)
                chunk_cell = _rate(size, chunk_s)
            print(f"{size / MB:6.1f}MB  {_rate(size, read_s):>24}  {_rate(size, split_s):>24}  {chunk_cell:>24}  {len(sentences)}")
            path.unlink()


def bench_hostile(count_tokens) -> None:
    paragraph = "The newsletter said residents who sign up early get a discount on the ferry, officials said. "
    one_line = "Ferry discount\n\n" + paragraph * (MB // len(paragraph)) + "\n"
    cases = [
        ("1 MB article on one line: clean", make_document, ("x.txt", one_line, "x.txt")),
        ("1 MB of 'newsletter … sign up' on one line: clean", make_document,
         ("x.txt", "Title\n\n" + "newsletter sign up " * (MB // 19), "x.txt")),
        ("'date' + 1 MB of spaces: clean", make_document, ("x.txt", "date" + " " * MB + "x\n", "x.txt")),
        ("1 MB of full stops: split", split_sentences, ("." * MB, Span(0, MB))),
        ("1 MB of 'Mr. ' abbreviations: split", split_sentences, ("Mr. " * (MB // 4), Span(0, MB // 4 * 4))),
    ]
    if count_tokens is not None:
        document = make_document("x.txt", one_line, "x.txt")
        cases.append(("1 MB article on one line: chunk", chunk_document, (document, ChunkingConfig(), count_tokens)))
        words = make_document("x.txt", "Title\n\n" + "word " * (MB // 5), "x.txt")
        cases.append(("1 MB sentence without a full stop: chunk", chunk_document, (words, ChunkingConfig(), count_tokens)))
    for name, function, args in cases:
        _, seconds = _timed(function, *args)
        print(f"  {name:<52} {seconds:6.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 20], help="file sizes in MB")
    parser.add_argument("--no-chunk", action="store_true", help="skip chunking (needs the model's tokenizer)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}; whole sample pages repeated to each size")
    count_tokens = None
    if not args.no_chunk:
        from rag.embedding import Embedder

        count_tokens = Embedder().warm_up().count_tokens
    bench_sizes(args.sizes, count_tokens)
    print("hostile inputs (issue #14):")
    bench_hostile(count_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
