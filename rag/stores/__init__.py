"""The chunk store: where chunk vectors and keyword terms live, and how they are searched.

This is the one seam between an index and its search engine. The index's SQLite file stays the
source of truth for documents, texts, offsets and sentences; a chunk store holds, per chunk row,
its vector, its keyword text and the fields filters need (document id, date). Two stores:

* ``"faiss"`` (the default; embedded, no server): a FAISS index and bm25s arrays inside the
  generation folder (``rag/stores/local.py``);
* ``"milvus"``: one Milvus collection per generation, through ``pymilvus`` (``rag/stores/milvus.py``,
  ``pip install -e '.[milvus]'``): Milvus Lite when the URI is a local file, a Milvus server or
  cluster when it is ``http://host:19530``. Milvus computes BM25 and fuses hybrid results itself.

A build writes a complete store for its new generation with ``write_store``; the index then
publishes the generation by swapping ``CURRENT``, so a killed build never touches the live store.
Readers open the live one with ``open_store`` and call ``dense``, ``keyword`` or ``hybrid``; the
answerer and the chat page only ever see ``Retriever``, never a store.

Example:
    >>> store = open_store(generation_folder, manifest["store"], config, index.allowed_rows)
    >>> [hit.row for hit in store.hybrid("Who met Putin?", query_vector, 5)]
    [12, 3, 40, 41, 7]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import numpy as np

from rag.config import STORE_KINDS, Config


class StoreError(RuntimeError):
    """A chunk store that cannot be reached, written or read (the message says what to do)."""


class Hit(NamedTuple):
    """One chunk row found by a search; ``dense`` and ``keyword`` are the parts of a fused score
    when the store reports them (Milvus fuses on the server and reports only ``score``)."""

    row: int
    score: float
    dense: float | None = None
    keyword: float | None = None


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
        return bool(self.date_from or self.date_to or self.docs is not None)

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


@dataclass(frozen=True)
class ChunkTable:
    """What a store indexes, one entry per chunk row, in row order."""

    doc_ids: Sequence[str]
    dates: Sequence[str | None]  # the date of each chunk's document (ISO), None when undated
    texts: Sequence[str]  # what keyword search reads: "title\nchunk"
    vectors: np.ndarray  # (rows, dimension) unit float32

    def __len__(self) -> int:
        return len(self.doc_ids)


# rows a filter allows, computed by the index from its SQLite metadata (the embedded store
# filters by row; Milvus filters on its own fields and never calls it)
AllowedRows = Callable[[SearchFilter], np.ndarray]


class ChunkStore(Protocol):
    """A generation's chunk store, opened for reading."""

    def count(self) -> int:
        """Chunk rows held."""

    def vectors(self) -> np.ndarray:
        """Every chunk vector in row order (incremental builds reuse those of unchanged documents)."""

    def dense(self, vector: np.ndarray, n: int, where: SearchFilter | None = None) -> list[Hit]:
        """The ``n`` chunks nearest the unit query vector by inner product, best first."""

    def keyword(self, text: str, n: int, where: SearchFilter | None = None) -> list[Hit]:
        """The ``n`` best chunks by BM25 for ``text``; chunks sharing no term are left out."""

    def hybrid(
        self, text: str, vector: np.ndarray, n: int, where: SearchFilter | None = None, rrf_k: int = 60
    ) -> list[Hit]:
        """The ``n`` best of dense and of keyword search, fused by reciprocal rank fusion, best first."""

    def close(self) -> None:
        """Release files, connections and memory."""


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings: each row scores the sum of ``1 / (k + rank)`` over the rankings holding it."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit[0]] = fused.get(hit[0], 0.0) + 1.0 / (k + rank)  # a Hit or a (row, score) pair
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def write_store(folder: Path, table: ChunkTable, config: Config, index_dir: Path) -> dict[str, Any]:
    """Write the chunk store of a new generation (folder ``folder`` of index ``index_dir``);
    returns what the generation's manifest records under ``"store"``."""
    if config.store.kind == "faiss":
        from rag.stores.local import write_local_store

        return write_local_store(folder, table, config)
    if config.store.kind == "milvus":
        from rag.stores.milvus import write_milvus_store

        return write_milvus_store(folder, table, config, index_dir)
    raise StoreError(f"unknown store {config.store.kind!r}; use one of {', '.join(STORE_KINDS)}")


def open_store(folder: Path, recorded: dict[str, Any], config: Config, allowed_rows: AllowedRows) -> ChunkStore:
    """Open the chunk store a generation's manifest records (``recorded`` = its ``"store"``)."""
    kind = recorded.get("kind", "faiss")
    if kind == "faiss":
        from rag.stores.local import LocalStore

        return LocalStore(folder, config, allowed_rows)
    if kind == "milvus":
        from rag.stores.milvus import MilvusStore

        return MilvusStore(recorded, config)
    raise StoreError(f"the index records an unknown store {kind!r}")


def remove_stale_stores(index_dir: Path, recorded: dict[str, Any], replaced: dict[str, Any]) -> None:
    """After a generation is published: drop what dead generations left outside the index folder
    (Milvus collections of earlier or killed builds), except the store of the generation just
    replaced, which processes that opened it before the swap may still be searching. The embedded
    store keeps everything inside the generation folders, which the index removes itself."""
    if recorded.get("kind") == "milvus":
        from rag.stores.milvus import remove_stale_collections

        remove_stale_collections(index_dir, recorded, replaced.get("collection"))
