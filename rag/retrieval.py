"""Passages for a question: dense and BM25 search of the index's chunk store, fused by reciprocal
rank fusion (the store does the searching: see rag/stores), near-duplicates folded."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from rag.config import RETRIEVAL_MODES, RetrievalConfig
from rag.dedup import token_jaccard, words
from rag.embedding import Embedder
from rag.store import Index, check_compatible
from rag.stores import Hit, SearchFilter, reciprocal_rank_fusion  # noqa: F401  (re-exported for callers)
from rag.types import Passage


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
        depth = max(self.config.candidates, 3 * k)
        if mode != "bm25" and query_vectors is None:
            query_vectors = self.embedder.embed_queries(questions)
        store, where = self.index.store, where or None
        results = []
        for i, question in enumerate(questions):
            if mode == "hybrid":
                hits = store.hybrid(question, query_vectors[i], depth, where, self.config.rrf_k)
            elif mode == "dense":
                hits = store.dense(query_vectors[i], depth, where)
            else:
                hits = store.keyword(question, depth, where)
            results.append(self._passages(hits, k))
        return results

    def with_dense_scores(self, question: str, passages: Sequence[Passage]) -> list[Passage]:
        """``passages`` with the question's dense cosine filled in for each that lacks one, as after
        a BM25 search; the ranking is left as it is. The answer's confidence reads these scores."""
        if all(p.dense_score is not None for p in passages):
            return list(passages)
        docs = frozenset(p.doc_id for p in passages)
        rows = sum(len(self.index.chunk_rows(doc)) for doc in docs)
        vector = self.embedder.embed_queries([question])[0]
        # a search restricted to the passages' documents scores each of their chunks exactly
        scores = {hit.row: hit.score for hit in self.index.store.dense(vector, rows, SearchFilter(docs=docs))}
        return [p if p.dense_score is not None else replace(p, dense_score=scores.get(p.chunk_row)) for p in passages]

    def _passages(self, hits: Sequence[Hit], k: int) -> list[Passage]:
        """The top ``k`` results, each near-duplicate passage folded into the first that carries it."""
        index = self.index
        kept: list[Passage] = []
        kept_words: list[set[str]] = []
        for row, score, dense_score, keyword_score in hits:
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
                dense_score=dense_score, bm25_score=keyword_score,
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

