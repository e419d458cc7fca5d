"""The index folder: an SQLite store and a chunk store (FAISS + BM25, or Milvus), written atomically.

Layout of an index folder ``DIR``::

    DIR/CURRENT            name of the live generation, swapped with one atomic rename
    DIR/gen-*/manifest.json  configuration, model, dimension, counts, versions
    DIR/gen-*/store.sqlite   documents, chunks and sentences with their offsets
    DIR/gen-*/chunks.faiss   one unit vector per chunk (row = chunks.row): exact or IVF, see rag.vectors
    DIR/gen-*/bm25/          bm25s arrays over the chunks
                             (both replaced by a Milvus collection with --store milvus: rag.stores)
    DIR/feedback.jsonl     answers users rated (kept across generations)

A build writes a new generation beside the live one and only then points CURRENT at it, so a
run killed at any moment leaves the previous index loadable.
"""
from rag.store.build import BuildReport, append_feedback, build_index
from rag.store.index import (
    CURRENT_FILE, FEEDBACK_FILE, FORMAT_VERSION, DocumentInfo, Index, IndexLoadError, check_compatible,
    read_manifest, same_vectors,
)

__all__ = [
    "BuildReport", "CURRENT_FILE", "DocumentInfo", "FEEDBACK_FILE", "FORMAT_VERSION", "Index", "IndexLoadError",
    "append_feedback", "build_index", "check_compatible", "read_manifest", "same_vectors",
]
