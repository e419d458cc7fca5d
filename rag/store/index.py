"""Reading an index generation: its manifest, its SQLite store and its chunk store (the folder
layout is described in ``rag.store``)."""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from rag.config import Config, EmbeddingConfig
from rag.stores import ChunkStore, SearchFilter, StoreError, open_store

FORMAT_VERSION = 2  # 2: no sentence vectors; the vector index may be IVF
CURRENT_FILE = "CURRENT"
FEEDBACK_FILE = "feedback.jsonl"

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT NOT NULL, text TEXT NOT NULL,
    body TEXT NOT NULL, content_hash TEXT NOT NULL, dup_group TEXT, minhash BLOB NOT NULL,
    chunk_count INTEGER NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL
);
CREATE TABLE sentences (
    row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE INDEX sentences_doc ON sentences(doc_id);
"""
DOCUMENT_COLUMNS = "id, title, date, source, text, body, content_hash, minhash"


class IndexLoadError(RuntimeError):
    """An index folder that is missing, corrupt or built with another model."""



def live_generation(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT_FILE
    if not pointer.is_file():
        raise IndexLoadError(
            f"no index at {index_dir}: build one with `rag index [PATH ...] --index {index_dir}`"
        )
    generation = index_dir / pointer.read_text(encoding="utf-8").strip()
    if not generation.is_dir():
        raise IndexLoadError(f"index at {index_dir} is corrupt: {generation.name} is missing")
    return generation


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of the live generation of ``index_dir``."""
    path = live_generation(Path(index_dir)) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: cannot read {path.name} ({exc})") from None


def same_vectors(a: EmbeddingConfig, b: EmbeddingConfig) -> bool:
    """Whether two embedding settings give interchangeable vectors (batch size aside)."""
    return (a.model_name, a.dimension, a.backend, a.title_in_chunk) == (b.model_name, b.dimension, b.backend, b.title_in_chunk)


def check_compatible(manifest: dict[str, Any], config: Config, where: Path) -> None:
    """Refuse an index whose format, model, dimension or embedding backend differs from ``config``'s."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexLoadError(
            f"index at {where} has format version {manifest.get('format_version')}, this version "
            f"reads {FORMAT_VERSION}: rebuild it with `rag index`"
        )
    built_with = (manifest.get("model"), manifest.get("dimension"))
    expected = (config.embedding.model_name, config.embedding.dimension)
    if built_with != expected:
        raise IndexLoadError(
            f"index at {where} was built with model {built_with[0]} ({built_with[1]}-d), but this run "
            f"uses {expected[0]} ({expected[1]}-d): rebuild it with `rag index --index {where}`"
        )
    built_backend = Config.from_dict(manifest.get("config", {})).embedding.backend
    if built_backend != config.embedding.backend:
        raise IndexLoadError(
            f"index at {where} was embedded with the {built_backend} backend, but this run uses "
            f"{config.embedding.backend}; their vectors do not mix. Use --embedding-backend {built_backend}, "
            f"or rebuild it: `rag index PATH ... --embedding-backend {config.embedding.backend} --index {where}`"
        )


class Index:
    """A loaded, read-only index generation: vectors, BM25 and metadata in memory, texts on demand.

    Example:
        >>> index = Index.open(Path("index"))
        >>> index.chunk_count, index.document(index.chunk_doc[0]).title
    """

    def __init__(self, index_dir: Path, generation: Path, manifest: dict[str, Any]):
        self.index_dir = index_dir
        self.generation = generation
        self.manifest = manifest
        self.config = Config.from_dict(manifest["config"])
        self._db = sqlite3.connect(
            f"file:{generation / 'store.sqlite'}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        rows = self._query('SELECT doc_id, start, "end", first_sentence, last_sentence FROM chunks ORDER BY row')
        self.chunk_doc = [r[0] for r in rows]
        self.chunk_span = np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2)
        self.chunk_sentences = np.array([(r[3], r[4]) for r in rows], dtype=np.int64).reshape(-1, 2)
        sentence_rows = self._query('SELECT doc_id, start, "end" FROM sentences ORDER BY row')
        self.sentence_doc = [r[0] for r in sentence_rows]
        self.sentence_span = np.array([(r[1], r[2]) for r in sentence_rows], dtype=np.int64).reshape(-1, 2)
        self.documents = {
            r[0]: DocumentInfo(r[0], r[1], r[2], r[3], r[4], r[5])
            for r in self._query("SELECT id, title, date, source, dup_group, chunk_count FROM documents ORDER BY id")
        }
        # a build writes each document's chunks and sentences as one run of rows
        self._doc_chunk_rows = _runs(self.chunk_doc)
        self._doc_sentence_rows = _runs(self.sentence_doc)
        self.store: ChunkStore = open_store(generation, manifest.get("store", {}), self.config, self.allowed_rows)
        self._check_counts()
        self.document_text = lru_cache(maxsize=512)(self._document_text)

    @classmethod
    def open(cls, index_dir: Path | str, config: Config | None = None) -> "Index":
        """Load the live generation of ``index_dir``; refuse one built with another model."""
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        check_compatible(manifest, config or Config.from_dict(manifest.get("config", {})), index_dir)
        try:
            return cls(index_dir, live_generation(index_dir), manifest)
        except IndexLoadError:
            raise
        except StoreError as exc:  # a Milvus that cannot be reached is not a corrupt index
            raise IndexLoadError(f"index at {index_dir}: {exc}") from None
        except Exception as exc:  # faiss, numpy and sqlite each raise their own types
            raise IndexLoadError(f"index at {index_dir} is corrupt: {exc}") from None

    def _check_counts(self) -> None:
        counts = self.manifest.get("counts", {})
        actual = {
            "chunks": len(self.chunk_doc), "stored vectors": self.store.count(),
            "sentences": len(self.sentence_doc), "documents": len(self.documents),
        }
        expected = {
            "chunks": counts.get("chunks"), "stored vectors": counts.get("chunks"),
            "sentences": counts.get("sentences"), "documents": counts.get("documents"),
        }
        wrong = [f"{k}: {actual[k]} != {expected[k]}" for k in actual if actual[k] != expected[k]]
        if wrong:
            raise IndexLoadError(f"index at {self.index_dir} is corrupt: counts disagree ({'; '.join(wrong)})")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def stored_documents(self) -> list[tuple]:
        """Every document row as written (id, title, date, source, text, body, hash, minhash)."""
        return self._query(f"SELECT {DOCUMENT_COLUMNS} FROM documents")

    def _document_text(self, doc_id: str) -> str:
        rows = self._query("SELECT text FROM documents WHERE id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return rows[0][0]

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_doc)

    def document(self, doc_id: str) -> "DocumentInfo":
        return self.documents[doc_id]

    def chunk_text(self, row: int) -> str:
        start, end = self.chunk_span[row]
        return self.document_text(self.chunk_doc[row])[start:end]

    def allowed_rows(self, where: SearchFilter) -> np.ndarray:
        """Chunk rows of the documents ``where`` allows: one test per document, not per chunk."""
        documents = self.documents
        named = sorted(where.docs) if where.docs is not None else documents
        runs = [self.chunk_rows(doc_id) for doc_id in named
                if doc_id in documents and where.allows(doc_id, documents[doc_id].date)]
        if not runs:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in runs])

    def chunk_rows(self, doc_id: str) -> range:
        """Rows of the chunks of ``doc_id`` (empty for an unknown document)."""
        return self._doc_chunk_rows.get(doc_id, range(0))

    def sentence_rows(self, chunk_row: int) -> range:
        first, last = self.chunk_sentences[chunk_row]
        return range(int(first), int(last) + 1)

    def sentence_rows_between(self, doc_id: str, start: int, end: int) -> list[int]:
        """Rows of the sentences of ``doc_id`` that lie within ``[start, end)``."""
        return [
            row for row in self._doc_sentence_rows.get(doc_id, range(0))
            if self.sentence_span[row][0] >= start and self.sentence_span[row][1] <= end
        ]

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every indexed chunk as a plain record, in row order."""
        for row in range(self.chunk_count):
            info = self.documents[self.chunk_doc[row]]
            start, end = (int(x) for x in self.chunk_span[row])
            yield {
                "row": row, "doc": info.id, "title": info.title, "date": info.date,
                "start": start, "end": end, "text": self.chunk_text(row),
            }

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.store.close()


def _runs(doc_of_row: Sequence[str]) -> dict[str, range]:
    """Each document's rows, given the document of every row (a document's rows are contiguous)."""
    runs: dict[str, range] = {}
    for row, doc_id in enumerate(doc_of_row):
        runs[doc_id] = range(runs.get(doc_id, range(row, row)).start, row + 1)
    return runs


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    title: str
    date: str | None
    source: str
    dup_group: str | None
    chunk_count: int
