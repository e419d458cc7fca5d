"""The embedded chunk store: FAISS vectors and bm25s arrays inside the generation folder.

    gen-*/chunks.faiss   one unit vector per chunk row: exact, or IVF past a size (rag.vectors)
    gen-*/bm25/          bm25s arrays over "title\\nchunk" (plain .npy/.json, no pickles)

Filters come from the index as the rows they allow: FAISS searches through an ID selector and
BM25 scores are masked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Config
from rag.stores import AllowedRows, ChunkTable, Hit, SearchFilter, reciprocal_rank_fusion
from rag.stores.terms import bm25_tokens
from rag.vectors import all_vectors, build_vector_index, describe, search

VECTORS_FILE = "chunks.faiss"
BM25_FOLDER = "bm25"


def write_local_store(folder: Path, table: ChunkTable, config: Config) -> dict[str, Any]:
    """Write ``chunks.faiss`` and ``bm25/`` into the generation folder."""
    import bm25s
    import faiss

    vectors = build_vector_index(np.ascontiguousarray(table.vectors, dtype=np.float32), config.vectors)
    faiss.write_index(vectors, str(folder / VECTORS_FILE))
    keyword = bm25s.BM25()
    # bm25s cannot index an empty corpus; an index with no chunks still needs a loadable folder
    keyword.index(bm25_tokens(list(table.texts) or [""]), show_progress=False)
    keyword.save(str(folder / BM25_FOLDER), show_progress=False)
    return {"kind": "faiss", "vectors": describe(vectors)}


class LocalStore:
    """FAISS + bm25s, loaded into memory from a generation folder."""

    def __init__(self, folder: Path, config: Config, allowed_rows: AllowedRows):
        import bm25s
        import faiss

        self.config = config
        self._allowed_rows = allowed_rows
        self.faiss = faiss.read_index(str(folder / VECTORS_FILE))
        self.bm25 = bm25s.BM25.load(str(folder / BM25_FOLDER), show_progress=False, mmap=False)

    def count(self) -> int:
        return int(self.faiss.ntotal)

    def vectors(self) -> np.ndarray:
        return all_vectors(self.faiss)

    def _rows(self, where: SearchFilter | None) -> np.ndarray | None:
        return self._allowed_rows(where) if where else None

    def dense(self, vector: np.ndarray, n: int, where: SearchFilter | None = None) -> list[Hit]:
        found = search(self.faiss, vector, n, self._rows(where), self.config.vectors)
        return [Hit(row, score, dense=score) for row, score in found]

    def keyword(self, text: str, n: int, where: SearchFilter | None = None) -> list[Hit]:
        return self._keyword(text, n, self._rows(where))

    def _keyword(self, text: str, n: int, allowed: np.ndarray | None) -> list[Hit]:
        tokens = bm25_tokens([text])[0]
        if not tokens or self.count() == 0:
            return []
        scores = np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            mask = np.zeros_like(scores)
            mask[allowed] = 1.0
            scores = scores * mask
        n = min(n, int(np.count_nonzero(scores > 0)))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(int(r), float(scores[r]), keyword=float(scores[r])) for r in top]

    def hybrid(
        self, text: str, vector: np.ndarray, n: int, where: SearchFilter | None = None, rrf_k: int = 60
    ) -> list[Hit]:
        allowed = self._rows(where)  # computed once for both searches
        dense = [Hit(row, score, dense=score) for row, score in search(self.faiss, vector, n, allowed, self.config.vectors)]
        keyword = self._keyword(text, n, allowed)
        dense_scores = {h.row: h.score for h in dense}
        keyword_scores = {h.row: h.score for h in keyword}
        return [
            Hit(row, score, dense_scores.get(row), keyword_scores.get(row))
            for row, score in reciprocal_rank_fusion([dense, keyword], rrf_k)
        ]

    def close(self) -> None:
        self.faiss = self.bm25 = None
