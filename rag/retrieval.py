"""Passages for a question: dense (FAISS inner product) and BM25, fused by reciprocal rank fusion."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from rag.config import RETRIEVAL_MODES, RetrievalConfig
from rag.dedup import token_jaccard, words
from rag.embedding import Embedder
from rag.store import Index, bm25_tokens, check_compatible
from rag.types import Passage

Ranking = list[tuple[int, float]]  # (chunk row, score), best first


@dataclass(frozen=True)
class SearchFilter:
    """Restricts a search to documents dated within [date_from, date_to] and/or listed in ``docs``.

    Dates are ISO strings compared as text; documents without a date are left out of a
    date-filtered search.
    """

    date_from: str | None = None
    date_to: str | None = None
    docs: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.docs)

    def allows(self, doc_id: str, date: str | None) -> bool:
        if self.docs is not None and doc_id not in self.docs:
            return False
        if self.date_from or self.date_to:
            if date is None:
                return False
            if self.date_from and date < self.date_from:
                return False
            if self.date_to and date > self.date_to:
                return False
        return True


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = 60) -> Ranking:
    """Fuse rankings: each item scores the sum of ``1 / (k + rank)`` over the rankings holding it."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class Retriever:
    """Searches one index.

    Example:
        >>> retriever = Retriever(Index.open("index"), Embedder().warm_up())
        >>> [p.doc_id for p in retriever.search("Who met Putin?", k=3)]
    """

    def __init__(self, index: Index, embedder: Embedder, config: RetrievalConfig | None = None):
        # questions must be embedded the way the index's chunks were
        check_compatible(index.manifest, replace(index.config, embedding=embedder.config), index.index_dir)
        self.index = index
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    def search(self, question: str, **options) -> list[Passage]:
        """Ranked passages for one question; see ``search_batch`` for the options."""
        return self.search_batch([question], **options)[0]

    def search_batch(
        self,
        questions: Sequence[str],
        *,
        k: int | None = None,
        mode: str | None = None,
        where: SearchFilter | None = None,
        query_vectors: np.ndarray | None = None,
    ) -> list[list[Passage]]:
        """Ranked passages for each question.

        Args:
            questions: the questions (or retrieval queries).
            k: passages to return per question (near-duplicates collapsed first).
            mode: "hybrid", "dense" or "bm25".
            where: optional date-range and document filter.
            query_vectors: embeddings of ``questions`` when the caller already has them.
        """
        k = self.config.k if k is None else k
        mode = mode or self.config.mode
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; use one of {', '.join(RETRIEVAL_MODES)}")
        if k < 1:
            raise ValueError("k must be at least 1")
        allowed = self._allowed_rows(where) if where else None
        depth = max(self.config.candidates, 3 * k)
        if mode != "bm25" and query_vectors is None:
            query_vectors = self.embedder.embed_queries(questions)
        results = []
        for i, question in enumerate(questions):
            dense = self.dense_search(query_vectors[i], depth, allowed) if mode != "bm25" else []
            lexical = self.bm25_search(question, depth, allowed) if mode != "dense" else []
            if mode == "hybrid":
                ranking = reciprocal_rank_fusion([dense, lexical], self.config.rrf_k)
            else:
                ranking = dense or lexical
            results.append(self._passages(ranking, dict(dense), dict(lexical), k))
        return results

    def dense_search(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None = None) -> Ranking:
        """Chunks by inner product with the (unit) query vector; see ``rag.vectors.search``."""
        from rag.vectors import search

        return search(self.index.faiss, query_vector, n, allowed, self.index.config.vectors)

    def bm25_search(self, question: str, n: int, allowed: np.ndarray | None = None) -> Ranking:
        """Chunks by BM25 score; chunks sharing no term with the question are left out."""
        tokens = bm25_tokens([question])[0]
        if not tokens or self.index.chunk_count == 0:
            return []
        scores = np.asarray(self.index.bm25.get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            mask = np.zeros_like(scores)
            mask[allowed] = 1.0
            scores = scores * mask
        n = min(n, int(np.count_nonzero(scores > 0)))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top]

    def _allowed_rows(self, where: SearchFilter) -> np.ndarray:
        """Chunk rows of the documents ``where`` allows: one test per document, not per chunk."""
        index, documents = self.index, self.index.documents
        named = sorted(where.docs) if where.docs is not None else documents
        runs = [index.chunk_rows(doc_id) for doc_id in named
                if doc_id in documents and where.allows(doc_id, documents[doc_id].date)]
        if not runs:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in runs])

    def _passages(self, ranking: Ranking, dense: dict[int, float], lexical: dict[int, float], k: int) -> list[Passage]:
        """The top ``k`` results, each near-duplicate passage folded into the first that carries it."""
        index = self.index
        kept: list[Passage] = []
        kept_words: list[set[str]] = []
        for row, score in ranking:
            doc = index.document(index.chunk_doc[row])
            start, end = (int(x) for x in index.chunk_span[row])
            text = index.chunk_text(row)
            tokens = set(words(text))
            twin = self._duplicate_of(doc.dup_group, tokens, kept, kept_words)
            if twin is not None:
                kept[twin] = replace(kept[twin], duplicates=kept[twin].duplicates + ((doc.id, start, end),))
                continue
            if len(kept) == k:
                continue  # keep scanning: a later hit may be a twin of a kept passage
            kept.append(Passage(
                chunk_row=row, doc_id=doc.id, title=doc.title, date=doc.date, start=start, end=end,
                text=text, rank=len(kept) + 1, score=score,
                dense_score=dense.get(row), bm25_score=lexical.get(row),
            ))
            kept_words.append(tokens)
        return kept

    def _duplicate_of(self, group: str | None, tokens: set[str], kept: list[Passage], kept_words: list[set[str]]) -> int | None:
        documents = self.index.documents
        threshold = self.index.config.dedup.passage_overlap
        for i, passage in enumerate(kept):
            overlap = token_jaccard(tokens, kept_words[i])
            same_group = group is not None and documents[passage.doc_id].dup_group == group
            # near-duplicate articles share passages loosely; unrelated articles only verbatim
            if (same_group and overlap >= threshold) or overlap >= 0.9:
                return i
        return None

