"""Building an index: chunk and embed new or changed documents, reuse the rest, publish atomically."""
from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.chunking import chunk_document
from rag.config import Config
from rag.dedup import minhash_signature, near_duplicate_groups
from rag.embedding import Embedder
from rag.store.generation import publish, remove_stale, writer_lock
from rag.store.index import (
    CURRENT_FILE, DOCUMENT_COLUMNS, FEEDBACK_FILE, FORMAT_VERSION, SCHEMA, Index, IndexLoadError,
    live_generation, read_manifest, same_vectors,
)
from rag.types import Chunk, Document, Span
from rag.stores import ChunkTable, remove_stale_stores, write_store


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
    vector_index: str = ""  # "flat" or "ivf"
    seconds: float = 0.0
    generation: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.reembedded)



@dataclass
class _Stored:
    """One document's rows carried over from the live generation."""

    document: Document
    dup_signature: np.ndarray
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Span]


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
    if same_build.chunking != config.chunking or not same_vectors(same_build.embedding, config.embedding):
        documents = [_document_of(row) for row in index.stored_documents()]
        index.close()
        return {}, documents
    chunk_matrix = index.store.vectors()
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
        )
    index.close()
    return stored, []


def _document_of(row: tuple) -> Document:
    doc_id, title, date, source, text, body, content_hash = row[:7]
    return Document(doc_id, title, date, source, text, tuple(Span(*s) for s in json.loads(body)), content_hash)


def _documents_of(index_dir: Path, reason: str) -> list[Document]:
    """The documents stored in the live generation's SQLite file, read without the vectors."""
    try:
        path = live_generation(index_dir) / "store.sqlite"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [_document_of(row) for row in db.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents")]
        finally:
            db.close()
    except (IndexLoadError, sqlite3.Error, ValueError, TypeError) as exc:
        raise IndexLoadError(f"{reason}; its documents cannot be read either ({exc})") from None


def _embedding_text(document: Document, text: str, config: Config) -> str:
    return f"{document.title}. {text}" if config.embedding.title_in_chunk else text


# documents chunked and embedded together: small enough for a lively progress bar, large enough
# that sorting a block's chunks by length leaves little padding in the model's batches
_BLOCK_DOCUMENTS = 64


def _process(documents: Sequence[Document], config: Config, embedder: Embedder, bar: Any) -> list[_Stored]:
    """Chunk, embed and sign new or changed documents, block by block, advancing ``bar``."""
    result: list[_Stored] = []
    embedded, started = 0, time.perf_counter()
    # a text met before in this build (a story syndicated twice, a repeated boilerplate chunk)
    # takes the vector already computed: a view into an earlier block's matrix, no copy
    seen: dict[str, np.ndarray] = {}
    for first in range(0, len(documents), _BLOCK_DOCUMENTS):
        block = documents[first : first + _BLOCK_DOCUMENTS]
        chunked = [(d, chunk_document(d, config.chunking, embedder.count_tokens)) for d in block]
        texts = [_embedding_text(d, c.text, config) for d, chunks in chunked for c in chunks]
        missing = list(dict.fromkeys(t for t in texts if t not in seen))
        fresh = dict(zip(missing, embedder.embed_documents(missing)))
        vectors = (np.stack([seen[t] if t in seen else fresh[t] for t in texts]) if texts
                   else np.zeros((0, config.embedding.dimension), dtype=np.float32))
        for row, text in enumerate(texts):
            seen.setdefault(text, vectors[row])
        at = 0
        for document, chunks in chunked:
            body_text = " ".join(document.text[s.start : s.end] for s in document.body)
            sentences = sorted({s for c in chunks for s in c.sentences}, key=lambda s: (s.start, s.end))
            result.append(_Stored(
                document, minhash_signature(body_text, config.dedup), chunks,
                vectors[at : at + len(chunks)], sentences,
            ))
            at += len(chunks)
        embedded += at
        bar.update(len(block))
        bar.set_postfix_str(f"{embedded} chunks, {embedded / (time.perf_counter() - started):.1f} chunks/s")
    return result



def _progress_bar(documents: int, shown: bool) -> Any:
    """One bar over the documents to chunk and embed, with chunks/s and an ETA (a no-op when hidden)."""
    from tqdm import tqdm

    return tqdm(total=documents, desc="indexing", unit="doc", file=sys.stderr, disable=not shown or not documents)


def _write_generation(
    folder: Path, stored: list[_Stored], groups: dict[str, str], config: Config, index_dir: Path
) -> tuple[dict[str, int], dict[str, Any]]:
    """Write the SQLite file into ``folder`` and the chunk store beside it; returns the counts and
    what the manifest records about the store."""

    db = sqlite3.connect(folder / "store.sqlite")
    db.executescript(SCHEMA)
    chunk_row = sentence_row = 0
    keyword_texts: list[str] = []
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
            keyword_texts.append(f"{document.title}\n{chunk.text}")
            chunk_row += 1
        sentence_row += len(item.sentences)
    db.commit()
    db.close()

    dimension = config.embedding.dimension
    chunk_matrix = np.concatenate([i.chunk_vectors for i in stored]) if stored else np.zeros((0, dimension), np.float32)
    table = ChunkTable(
        doc_ids=[i.document.id for i in stored for _ in i.chunks],
        dates=[i.document.date for i in stored for _ in i.chunks],
        texts=keyword_texts, vectors=chunk_matrix,
    )
    recorded = write_store(folder, table, config, index_dir)
    return {"documents": len(stored), "chunks": chunk_row, "sentences": sentence_row}, recorded


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("rag", "onnxruntime", "sentence-transformers", "faiss-cpu", "bm25s", "torch", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


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
    if not same_vectors(embedder.config, config.embedding):
        raise ValueError(
            f"the embedder runs {embedder.config.model_name} on {embedder.backend}, but the index is to be "
            f"built with {config.embedding.model_name} on {config.embedding.backend}"
        )
    with writer_lock(index_dir):
        replaced_store: dict[str, Any] = {}
        if (index_dir / CURRENT_FILE).is_file():
            remove_stale(index_dir, keep=live_generation(index_dir).name)
            try:
                replaced_store = read_manifest(index_dir).get("store", {})
            except IndexLoadError:
                pass
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
        with _progress_bar(len(to_process), progress) as bar:
            fresh = {s.document.id: s for s in _process(to_process, config, embedder, bar)}
        keep = {i: s for i, s in previous.items() if i not in removed}
        keep.update(fresh)
        lost = sorted(set(known) - set(keep) - set(removed))
        if lost:  # never publish a generation that lost a document nobody asked to remove
            raise RuntimeError(f"refusing to publish an index that would lose {len(lost)} document(s): {lost[:5]}")
        stored = [keep[i] for i in sorted(keep)]
        if previous and not (added or updated or removed or reembedded):
            live = read_manifest(index_dir)
            counts = live["counts"]
            return BuildReport(
                unchanged=len(stored), documents=counts["documents"], chunks=counts["chunks"],
                sentences=counts["sentences"], duplicate_groups=counts["duplicate_groups"],
                vector_index=live.get("store", {}).get("vectors", {}).get("type", ""),
                seconds=time.perf_counter() - started, generation=live_generation(index_dir).name,
            )
        groups = near_duplicate_groups({s.document.id: s.dup_signature for s in stored}, config.dedup)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        building = Path(tempfile.mkdtemp(dir=index_dir, prefix=f".gen-{stamp}-"))
        building.chmod(0o755)
        try:
            if progress:
                print(f"writing {sum(len(s.chunks) for s in stored)} chunks ...", file=sys.stderr, flush=True)
            counts, recorded_store = _write_generation(building, stored, groups, config, index_dir)
            manifest = {
                "format_version": FORMAT_VERSION,
                "model": config.embedding.model_name,
                "dimension": config.embedding.dimension,
                "embedding": embedder.describe(),
                "store": recorded_store,
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
        publish(index_dir, generation)
        remove_stale_stores(index_dir, recorded_store, replaced_store)
    return BuildReport(
        added=added, updated=updated, removed=removed, reembedded=reembedded,
        unchanged=len(stored) - len(added) - len(updated) - len(reembedded),
        documents=counts["documents"], chunks=counts["chunks"],
        chunks_embedded=sum(len(s.chunks) for s in fresh.values()), sentences=counts["sentences"],
        duplicate_groups=len(set(groups.values())), vector_index=manifest["store"]["vectors"]["type"],
        seconds=time.perf_counter() - started, generation=generation.name,
    )


def append_feedback(index_dir: Path | str, record: dict[str, Any]) -> Path:
    """Append one rated answer to the index folder's feedback log."""
    path = Path(index_dir) / FEEDBACK_FILE
    line = json.dumps({"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **record}, ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return path

