"""The index folder: FAISS vectors, BM25 arrays and an SQLite store, written atomically.

Layout of an index folder ``DIR``::

    DIR/CURRENT            name of the live generation, swapped with one atomic rename
    DIR/gen-*/manifest.json  configuration, model, dimension, counts, versions
    DIR/gen-*/store.sqlite   documents, chunks and sentences with their offsets
    DIR/gen-*/chunks.faiss   one unit vector per chunk (row = chunks.row)
    DIR/gen-*/sentences.npy  one unit vector per sentence (row = sentences.row), float16
    DIR/gen-*/bm25/          bm25s arrays over the chunks
    DIR/feedback.jsonl     answers users rated (kept across generations)

A build writes a new generation beside the live one and only then points CURRENT at it, so a
run killed at any moment leaves the previous index loadable.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from rag.chunking import chunk_document
from rag.config import Config
from rag.dedup import minhash_signature, near_duplicate_groups
from rag.embedding import Embedder
from rag.types import Chunk, Document, Span

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
FEEDBACK_FILE = "feedback.jsonl"

_SCHEMA = """
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
_DOCUMENT_COLUMNS = "id, title, date, source, text, body, content_hash, minhash"


class IndexLoadError(RuntimeError):
    """An index folder that is missing, corrupt or built with another model."""


@dataclass(frozen=True)
class BuildReport:
    """What one ``build_index`` run changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reembedded: list[str] = field(default_factory=list)  # kept, re-chunked from their stored text
    unchanged: int = 0
    documents: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    sentences: int = 0
    duplicate_groups: int = 0
    seconds: float = 0.0
    generation: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.reembedded)


# --- reading ------------------------------------------------------------------------------------


def _live_generation(index_dir: Path) -> Path:
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
    path = _live_generation(Path(index_dir)) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"index at {index_dir} is corrupt: cannot read {path.name} ({exc})") from None


def check_compatible(manifest: dict[str, Any], config: Config, where: Path) -> None:
    """Refuse an index whose format, model or dimension differs from ``config``'s."""
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


class Index:
    """A loaded, read-only index generation: vectors, BM25 and metadata in memory, texts on demand.

    Example:
        >>> index = Index.open(Path("index"))
        >>> index.chunk_count, index.document(index.chunk_doc[0]).title
    """

    def __init__(self, index_dir: Path, generation: Path, manifest: dict[str, Any]):
        import faiss

        self.index_dir = index_dir
        self.generation = generation
        self.manifest = manifest
        self.config = Config.from_dict(manifest["config"])
        self._db = sqlite3.connect(
            f"file:{generation / 'store.sqlite'}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        self.faiss = faiss.read_index(str(generation / "chunks.faiss"))
        self.sentence_vectors = np.load(generation / "sentences.npy")
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
        self._check_counts()
        self._doc_sentence_rows: dict[str, range] = {}
        for row, doc_id in enumerate(self.sentence_doc):
            first = self._doc_sentence_rows.get(doc_id, range(row, row)).start
            self._doc_sentence_rows[doc_id] = range(first, row + 1)
        self.bm25 = _load_bm25(generation / "bm25")
        self.document_text = lru_cache(maxsize=512)(self._document_text)

    @classmethod
    def open(cls, index_dir: Path | str, config: Config | None = None) -> "Index":
        """Load the live generation of ``index_dir``; refuse one built with another model."""
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        check_compatible(manifest, config or Config.from_dict(manifest.get("config", {})), index_dir)
        try:
            return cls(index_dir, _live_generation(index_dir), manifest)
        except IndexLoadError:
            raise
        except Exception as exc:  # faiss, numpy and sqlite each raise their own types
            raise IndexLoadError(f"index at {index_dir} is corrupt: {exc}") from None

    def _check_counts(self) -> None:
        counts = self.manifest.get("counts", {})
        actual = {
            "chunks": len(self.chunk_doc), "faiss vectors": self.faiss.ntotal,
            "sentences": len(self.sentence_doc), "sentence vectors": len(self.sentence_vectors),
            "documents": len(self.documents),
        }
        expected = {
            "chunks": counts.get("chunks"), "faiss vectors": counts.get("chunks"),
            "sentences": counts.get("sentences"), "sentence vectors": counts.get("sentences"),
            "documents": counts.get("documents"),
        }
        wrong = [f"{k}: {actual[k]} != {expected[k]}" for k in actual if actual[k] != expected[k]]
        if wrong:
            raise IndexLoadError(f"index at {self.index_dir} is corrupt: counts disagree ({'; '.join(wrong)})")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def stored_documents(self) -> list[tuple]:
        """Every document row as written (id, title, date, source, text, body, hash, minhash)."""
        return self._query(f"SELECT {_DOCUMENT_COLUMNS} FROM documents")

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


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    title: str
    date: str | None
    source: str
    dup_group: str | None
    chunk_count: int


def _load_bm25(folder: Path) -> Any:
    import bm25s

    return bm25s.BM25.load(str(folder), show_progress=False, mmap=False)


# --- writing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder (CLI and chat-page uploads may overlap)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Stored:
    """One document's rows carried over from the live generation."""

    document: Document
    dup_signature: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Span]
    sentence_vectors: np.ndarray


def _read_previous(index_dir: Path, config: Config) -> tuple[dict[str, _Stored], list[Document]]:
    """What the live generation holds: the rows that can be reused as they are, and the documents
    whose rows cannot (built with other chunking or model settings, or vectors unreadable) but
    whose text is stored, so they are re-chunked and re-embedded instead of being lost.

    Raises ``IndexLoadError`` when a live generation exists but not even its documents can be
    read: the caller decides whether a build may go on without them.
    """
    if not (index_dir / CURRENT_FILE).is_file():
        return {}, []
    try:
        manifest = read_manifest(index_dir)
        index = Index.open(index_dir, config)
    except IndexLoadError as exc:
        return {}, _documents_of(index_dir, reason=str(exc))
    same_build = Config.from_dict(manifest["config"])
    if (same_build.chunking, same_build.embedding) != (config.chunking, config.embedding):
        documents = [_document_of(row) for row in index.stored_documents()]
        index.close()
        return {}, documents
    chunk_matrix = index.faiss.reconstruct_n(0, index.faiss.ntotal) if index.faiss.ntotal else np.zeros((0, config.embedding.dimension), np.float32)
    stored: dict[str, _Stored] = {}
    rows = index.stored_documents()
    by_doc_chunks: dict[str, list[int]] = {}
    for row, doc_id in enumerate(index.chunk_doc):
        by_doc_chunks.setdefault(doc_id, []).append(row)
    by_doc_sentences: dict[str, list[int]] = {}
    for row, doc_id in enumerate(index.sentence_doc):
        by_doc_sentences.setdefault(doc_id, []).append(row)
    for row in rows:
        document, minhash = _document_of(row), row[7]
        doc_id, text = document.id, document.text
        chunk_rows = by_doc_chunks.get(doc_id, [])
        sentence_rows = by_doc_sentences.get(doc_id, [])
        sentences = [Span(*map(int, index.sentence_span[r])) for r in sentence_rows]
        chunks = []
        for r in chunk_rows:
            start, end = map(int, index.chunk_span[r])
            first, last = index.chunk_sentences[r]
            chunks.append(Chunk(doc_id, start, end, text[start:end], tuple(
                Span(*map(int, index.sentence_span[s])) for s in range(int(first), int(last) + 1)
            )))
        stored[doc_id] = _Stored(
            document, np.frombuffer(minhash, dtype=np.uint64).copy(), chunks,
            chunk_matrix[chunk_rows], sentences,
            index.sentence_vectors[sentence_rows].astype(np.float32),
        )
    index.close()
    return stored, []


def _document_of(row: tuple) -> Document:
    doc_id, title, date, source, text, body, content_hash = row[:7]
    return Document(doc_id, title, date, source, text, tuple(Span(*s) for s in json.loads(body)), content_hash)


def _documents_of(index_dir: Path, reason: str) -> list[Document]:
    """The documents stored in the live generation's SQLite file, read without the vectors."""
    try:
        path = _live_generation(index_dir) / "store.sqlite"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [_document_of(row) for row in db.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents")]
        finally:
            db.close()
    except (IndexLoadError, sqlite3.Error, ValueError, TypeError) as exc:
        raise IndexLoadError(f"{reason}; its documents cannot be read either ({exc})") from None


def _embedding_text(document: Document, text: str, config: Config) -> str:
    return f"{document.title}. {text}" if config.embedding.title_in_chunk else text


def _process(documents: Sequence[Document], config: Config, embedder: Embedder, progress: bool) -> list[_Stored]:
    """Chunk, embed and sign new or changed documents; ``progress`` shows bars on stderr."""
    to_chunk: Any = documents
    if progress:
        import sys

        from tqdm import tqdm

        to_chunk = tqdm(documents, desc="chunking", unit="doc", file=sys.stderr)
    chunked = [(d, chunk_document(d, config.chunking, embedder.count_tokens)) for d in to_chunk]
    chunk_texts = [_embedding_text(d, c.text, config) for d, chunks in chunked for c in chunks]
    sentence_lists = [sorted({s for c in chunks for s in c.sentences}, key=lambda s: (s.start, s.end)) for _, chunks in chunked]
    sentence_texts = [d.text[s.start : s.end] for (d, _), spans in zip(chunked, sentence_lists) for s in spans]
    chunk_vectors = embedder.embed_documents(chunk_texts, progress=progress)
    sentence_vectors = embedder.embed_documents(sentence_texts, progress=progress)
    result, chunk_at, sentence_at = [], 0, 0
    for (document, chunks), sentences in zip(chunked, sentence_lists):
        body_text = " ".join(document.text[s.start : s.end] for s in document.body)
        result.append(_Stored(
            document, minhash_signature(body_text, config.dedup), chunks,
            chunk_vectors[chunk_at : chunk_at + len(chunks)], sentences,
            sentence_vectors[sentence_at : sentence_at + len(sentences)],
        ))
        chunk_at += len(chunks)
        sentence_at += len(sentences)
    return result


def bm25_tokens(texts: Sequence[str]) -> list[list[str]]:
    """The BM25 terms of each text: lower-cased, English stop words out, Snowball-stemmed."""
    import bm25s

    # "en_plus" also drops question words (what, which, did, ...) that the short list keeps
    return bm25s.tokenize(
        list(texts), stopwords="en_plus", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def _write_generation(folder: Path, stored: list[_Stored], groups: dict[str, str], config: Config, progress: bool) -> dict[str, int]:
    import bm25s
    import faiss

    db = sqlite3.connect(folder / "store.sqlite")
    db.executescript(_SCHEMA)
    chunk_row = sentence_row = 0
    bm25_texts: list[str] = []
    for item in stored:
        document = item.document
        db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
            (document.id, document.title, document.date, document.source, document.text,
             json.dumps([[s.start, s.end] for s in document.body]), document.content_hash,
             groups.get(document.id), item.dup_signature.tobytes(), len(item.chunks)),
        )
        sentence_index = {s: sentence_row + i for i, s in enumerate(item.sentences)}
        db.executemany(
            "INSERT INTO sentences VALUES (?,?,?,?)",
            [(sentence_index[s], document.id, s.start, s.end) for s in item.sentences],
        )
        for chunk in item.chunks:
            db.execute(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                (chunk_row, document.id, chunk.start, chunk.end,
                 sentence_index[chunk.sentences[0]], sentence_index[chunk.sentences[-1]]),
            )
            bm25_texts.append(f"{document.title}\n{chunk.text}")
            chunk_row += 1
        sentence_row += len(item.sentences)
    db.commit()
    db.close()

    dimension = config.embedding.dimension
    chunk_matrix = np.concatenate([i.chunk_vectors for i in stored]) if stored else np.zeros((0, dimension), np.float32)
    vectors = faiss.IndexFlatIP(dimension)
    vectors.add(np.ascontiguousarray(chunk_matrix, dtype=np.float32))
    faiss.write_index(vectors, str(folder / "chunks.faiss"))
    sentence_matrix = np.concatenate([i.sentence_vectors for i in stored]) if stored else np.zeros((0, dimension), np.float32)
    np.save(folder / "sentences.npy", sentence_matrix.astype(np.float16))

    retriever = bm25s.BM25()
    # bm25s cannot index an empty corpus; an index with no chunks still needs a loadable folder
    retriever.index(bm25_tokens(bm25_texts or [""]), show_progress=progress)
    retriever.save(str(folder / "bm25"), show_progress=False)
    return {"documents": len(stored), "chunks": chunk_row, "sentences": sentence_row}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("rag", "sentence-transformers", "faiss-cpu", "bm25s", "torch", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(index_dir: Path, generation: Path) -> None:
    """Point CURRENT at ``generation`` with one atomic rename, then drop older generations."""
    for path in generation.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(generation)
    fd, temporary = tempfile.mkstemp(dir=index_dir, prefix=".CURRENT.")
    os.chmod(temporary, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(generation.name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)
    _remove_stale(index_dir, keep=generation.name)


def _remove_stale(index_dir: Path, keep: str) -> None:
    """Delete generations and temporary files that CURRENT does not point at (left by crashes)."""
    for path in index_dir.iterdir():
        if path.name == keep:
            continue
        if path.is_dir() and path.name.startswith(("gen-", ".gen-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(".CURRENT."):
            path.unlink(missing_ok=True)


def build_index(
    documents: Sequence[Document],
    index_dir: Path | str,
    embedder: Embedder,
    config: Config | None = None,
    *,
    remove_missing: bool = True,
    progress: bool = False,
) -> BuildReport:
    """Bring the index at ``index_dir`` in line with ``documents``.

    Only new or changed documents (by content hash) are chunked and embedded; with
    ``remove_missing`` documents absent from ``documents`` are dropped, otherwise kept (adding
    files). Without ``config`` an existing index keeps the settings it was built with. The new
    generation becomes live only once it is complete on disk.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    if config is None:
        # keep the settings the index was built with, so adding files re-embeds nothing else
        try:
            config = Config.from_dict(read_manifest(index_dir)["config"])
        except IndexLoadError:
            config = Config()
    with _writer_lock(index_dir):
        if (index_dir / CURRENT_FILE).is_file():
            _remove_stale(index_dir, keep=_live_generation(index_dir).name)
        try:
            previous, restored = _read_previous(index_dir, config)
        except IndexLoadError as exc:
            if not remove_missing:
                raise IndexLoadError(
                    f"cannot add to the index at {index_dir}: {exc}. Adding now would drop the documents "
                    f"it holds; rebuild it from the original files with `rag index PATH ... --index {index_dir}`"
                ) from None
            previous, restored = {}, []  # a full rebuild names every document it keeps
        incoming = {d.id: d for d in documents}
        known = {**{d.id: d for d in restored}, **{i: s.document for i, s in previous.items()}}
        added = [i for i in incoming if i not in known]
        updated = [i for i in incoming if i in known and known[i].content_hash != incoming[i].content_hash]
        removed = [i for i in known if i not in incoming] if remove_missing else []
        # stored documents whose vectors cannot be reused are re-embedded from their stored text
        reembedded = [d.id for d in restored if d.id not in removed and d.id not in updated]
        to_process = [incoming[i] for i in incoming if i not in previous or i in updated]
        to_process += [d for d in restored if d.id in reembedded and d.id not in incoming]
        fresh = {s.document.id: s for s in _process(to_process, config, embedder, progress)}
        keep = {i: s for i, s in previous.items() if i not in removed}
        keep.update(fresh)
        lost = sorted(set(known) - set(keep) - set(removed))
        if lost:  # never publish a generation that lost a document nobody asked to remove
            raise RuntimeError(f"refusing to publish an index that would lose {len(lost)} document(s): {lost[:5]}")
        stored = [keep[i] for i in sorted(keep)]
        if previous and not (added or updated or removed or reembedded):
            counts = read_manifest(index_dir)["counts"]
            return BuildReport(
                unchanged=len(stored), documents=counts["documents"], chunks=counts["chunks"],
                sentences=counts["sentences"], duplicate_groups=counts["duplicate_groups"],
                seconds=time.perf_counter() - started, generation=_live_generation(index_dir).name,
            )
        groups = near_duplicate_groups({s.document.id: s.dup_signature for s in stored}, config.dedup)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        building = Path(tempfile.mkdtemp(dir=index_dir, prefix=f".gen-{stamp}-"))
        building.chmod(0o755)
        try:
            counts = _write_generation(building, stored, groups, config, progress)
            manifest = {
                "format_version": FORMAT_VERSION,
                "model": config.embedding.model_name,
                "dimension": config.embedding.dimension,
                "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "counts": {**counts, "duplicate_groups": len(set(groups.values()))},
                "config": config.to_dict(),
                "versions": _versions(),
            }
            (building / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            generation = building.with_name(building.name.lstrip("."))
            building.rename(generation)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        _publish(index_dir, generation)
    return BuildReport(
        added=added, updated=updated, removed=removed, reembedded=reembedded,
        unchanged=len(stored) - len(added) - len(updated) - len(reembedded),
        documents=counts["documents"], chunks=counts["chunks"],
        chunks_embedded=sum(len(s.chunks) for s in fresh.values()), sentences=counts["sentences"],
        duplicate_groups=len(set(groups.values())), seconds=time.perf_counter() - started,
        generation=generation.name,
    )


def append_feedback(index_dir: Path | str, record: dict[str, Any]) -> Path:
    """Append one rated answer to the index folder's feedback log."""
    path = Path(index_dir) / FEEDBACK_FILE
    line = json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **record}, ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return path
