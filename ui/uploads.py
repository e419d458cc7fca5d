"""Articles added from the page: checked, read into the upload namespace, kept and indexed.

``add_uploads(engine, paths)`` is the entry point; it returns a Markdown report for the page and
never loses an indexed article (``build_index`` publishes atomically, and an upload that would
replace something is refused unless asked to).
"""
from __future__ import annotations

import contextvars
import dataclasses
import os
import re
import shutil
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.ingest import read_file
from rag.store import Index, build_index
from rag.types import Document
from ui import format as fmt
from ui.engine import Engine

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_FILES = 50
# The whole batch sits in gradio's temp folder, is read into memory and embedded in one indexing
# run that holds the index's writer lock: 20 MB (four files at the per-file limit) bounds the disk,
# the memory and the minutes one click can occupy the indexer; bigger archives go through
# `rag index --add`.
MAX_UPLOAD_BATCH_BYTES = 20 * 1024 * 1024
UPLOADS_DIR = "uploads"
# Uploaded articles live in their own namespace of document ids, so that no upload can replace an
# article indexed from the command line: "upload/NAME", and "upload/NAME/ID" for a JSONL line.
UPLOAD_PREFIX = "upload/"
# Indexing runs in its own thread at this lower CPU priority (Linux), so that the operating
# system serves the threads answering questions first while an upload is being embedded.
INDEXING_NICE = 10
REPLACE_LABEL = "Replace articles with the same name"


@dataclass
class UploadFile:
    """One readable uploaded file: where gradio put it, its original name, its articles."""

    path: Path
    name: str
    documents: list[Document]


@dataclass
class UploadBatch:
    """What a set of uploaded files yielded: documents to index and a message per bad file."""

    files: list[UploadFile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def documents(self) -> list[Document]:
        return [document for upload in self.files for document in upload.documents]


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


# An absolute path inside a message (an OSError's file name, say): shown as its last part only.
_ABSOLUTE_PATH = re.compile(r"(?<![\w./~-])(?:[A-Za-z]:)?[/\\](?:[^\s'\"/\\]+[/\\])*([^\s'\"/\\]+)")


def public_text(text: str) -> str:
    """``text`` with every absolute path cut to its file name: messages shown on the page must
    not tell the server's folders."""
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), text)


def upload_doc_id(name: str) -> str:
    """The document id of the uploaded file ``name``."""
    return f"{UPLOAD_PREFIX}{name}"


def _namespaced(document: Document, name: str) -> Document:
    """``document`` read from the upload ``name`` with an id in the upload namespace: a JSONL
    line's own "id" becomes ``upload/NAME/ID``; a line without one keeps ``upload/NAME#LINE``."""
    base = upload_doc_id(name)
    if document.id == base:
        return document
    line = document.id[len(base) + 1:] if document.id.startswith(base + "#") else ""
    if line.isdigit():
        return document
    return dataclasses.replace(document, id=f"{base}/{document.id}")


def check_upload(path: Path | str, max_bytes: int = MAX_UPLOAD_BYTES, name: str | None = None) -> str | None:
    """Why the uploaded file at ``path`` cannot be indexed, or None when it may be read."""
    path = Path(path)
    name = name or path.name
    if name.startswith(".") or not name.strip():
        return f"{name or '(unnamed)'}: hidden or unnamed files are not indexed"
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        return (
            f"{name}: unsupported file type {suffix or '(no extension)'}; "
            f"upload {', '.join(UPLOAD_SUFFIXES[:-1])} or {UPLOAD_SUFFIXES[-1]} files"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{name}: cannot read the upload ({exc.strerror or 'error'})"
    if size == 0:
        return f"{name}: the file is empty"
    if size > max_bytes:
        return f"{name}: the file is {_size_text(size)}; the limit is {_size_text(max_bytes)} per file"
    return None


def read_uploads(
    paths: Sequence[Path | str],
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_total_bytes: int = MAX_UPLOAD_BATCH_BYTES,
) -> UploadBatch:
    """Check and read uploaded files. A file's original name (the basename gradio keeps) gives
    its document id ``upload/NAME`` (see ``_namespaced`` for JSONL); problems come back as one
    message per file, naming it and nothing else of the server's paths."""
    batch = UploadBatch()
    if len(paths) > MAX_UPLOAD_FILES:
        batch.errors.append(f"{len(paths)} files at once is too many; upload at most {MAX_UPLOAD_FILES}")
        return batch
    total = 0
    for raw in paths:
        try:
            total += Path(raw).stat().st_size
        except OSError:
            pass  # reported for the file below
    if total > max_total_bytes:
        batch.errors.append(
            f"these {len(paths)} files add up to {_size_text(total)}; the limit is "
            f"{_size_text(max_total_bytes)} per upload: add them in smaller batches"
        )
        return batch
    names: set[str] = set()
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        name = path.name
        problem = check_upload(path, max_bytes, name)
        if problem:
            batch.errors.append(public_text(problem))
            continue
        if name in names:
            batch.errors.append(f"{name}: another file of this upload has the same name; rename one of them")
            continue
        names.add(name)
        try:
            documents, problems = read_file(path, doc_id=upload_doc_id(name))
        except Exception as exc:  # a parser's own failure: reported, the other files go on
            batch.errors.append(public_text(f"{name}: cannot read the file ({exc})"))
            continue
        for issue in problems:
            where = f"{name} line {issue.line}" if issue.line is not None else name
            batch.errors.append(public_text(f"{where}: {issue.reason}"))
        fresh = []
        for document in documents:
            document = _namespaced(document, name)
            if document.id in seen:
                batch.errors.append(f"{name}: document id {document.id!r} appears twice in this upload")
                continue
            seen.add(document.id)
            fresh.append(document)
        if fresh:
            batch.files.append(UploadFile(path, name, fresh))
    return batch


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _clashes(index: Index, upload: UploadFile, kept: Path) -> list[str]:
    """What indexing ``upload`` would replace: ids indexed with other content, and the kept copy
    of a different earlier file of the same name. An identical re-upload replaces nothing."""
    clashes = []
    for document in upload.documents:
        info = index.documents.get(document.id)
        if info is None:
            continue
        try:
            same = (info.title, info.date) == (document.title, document.date) and index.document_text(document.id) == document.text
        except KeyError:
            same = False
        if not same:
            clashes.append(document.id)
    if not clashes and kept.exists() and not _same_file(upload.path, kept):
        clashes.append(f"the earlier upload {upload.name}")
    return clashes


def _in_background(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a fresh thread at lower CPU priority and wait for it (re-raising).

    The waiting thread only sleeps; the operating system gives the CPU to the threads that
    answer questions first, so indexing a large upload slows asks down as little as it can.
    The context is carried over, so gradio's progress bar still works inside ``work``.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        if sys.platform.startswith("linux"):  # per-thread on Linux; elsewhere it would be the process
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INDEXING_NICE)
            except (OSError, AttributeError):
                pass
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="rag-indexing", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def add_uploads(
    engine: Engine,
    paths: Sequence[Path | str],
    progress: Callable[[float, str], None] | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    *,
    replace: bool = False,
    max_total_bytes: int = MAX_UPLOAD_BATCH_BYTES,
) -> tuple[str, bool]:
    """Index uploaded files into the engine's index and swap in the new index.

    Returns (a Markdown report, whether the index changed). Uploads get the ids ``upload/NAME``
    and are kept as ``INDEX/uploads/NAME``. A file that would replace an indexed article or a
    different earlier upload of the same name is refused unless ``replace``. Bad files are
    reported and left out; when nothing valid is left the index is not touched. The work runs
    in a background thread at lower priority (see ``_in_background``).
    """
    report = progress or (lambda fraction, text: None)
    if not paths:
        return "Choose one or more files first (.txt, .md, .html, .htm or .jsonl).", False
    return _in_background(lambda: _add_uploads(engine, paths, report, max_bytes, replace, max_total_bytes))


def _add_uploads(
    engine: Engine,
    paths: Sequence[Path | str],
    report: Callable[[float, str], None],
    max_bytes: int,
    replace: bool,
    max_total_bytes: int,
) -> tuple[str, bool]:
    report(0.05, "Reading files")
    batch = read_uploads(paths, max_bytes, max_total_bytes)
    lines: list[str] = []
    errors = list(batch.errors)
    changed = False
    uploads = engine.index_dir / UPLOADS_DIR
    with engine.write_lock:
        accepted: list[UploadFile] = []
        for upload in batch.files:
            clashes = _clashes(engine.index, upload, uploads / upload.name)
            if clashes and not replace:
                errors.append(
                    f"{upload.name}: already indexed with different content ({', '.join(clashes)}); "
                    f"tick “{REPLACE_LABEL}” to replace it, or rename the file"
                )
            else:
                accepted.append(upload)
        staged: dict[str, Path] = {}
        try:
            if accepted:
                report(0.15, "Keeping the files")
                uploads.mkdir(parents=True, exist_ok=True)
                for upload in accepted:  # staged next to their final names, moved there on success
                    target = uploads / upload.name
                    if not (target.exists() and _same_file(upload.path, target)):
                        stage = uploads / f".staging-{uuid.uuid4().hex}-{upload.name}"
                        shutil.copyfile(upload.path, stage)
                        staged[upload.name] = stage
                kept_as = {str(u.path): str(uploads / u.name) for u in accepted}
                documents = [  # point at the kept copy, not gradio's temporary file (JSONL urls stay)
                    dataclasses.replace(d, source=kept_as[d.source]) if d.source in kept_as else d
                    for u in accepted for d in u.documents
                ]
                count = len(documents)
                report(0.2, f"Embedding {count} article{'s' if count != 1 else ''} (large files take minutes)")
                result = build_index(documents, engine.index_dir, engine.embedder, engine.index.config, remove_missing=False)
                for name, stage in staged.items():
                    os.replace(stage, uploads / name)
                staged.clear()
                changed = result.changed
                if changed:
                    report(0.85, "Loading the new index")
                    engine.reload()
                added = list(result.added)
                updated = list(result.updated)
                unchanged = [d.id for d in documents if d.id not in result.added and d.id not in result.updated]
                if added:
                    lines.append(f"**Added {len(added)} article{'s' if len(added) != 1 else ''}:** " + ", ".join(fmt.escape_inline(i) for i in added))
                if updated:
                    lines.append(f"**Replaced {len(updated)}:** " + ", ".join(fmt.escape_inline(i) for i in updated))
                if unchanged:
                    lines.append("**Already indexed, unchanged:** " + ", ".join(fmt.escape_inline(i) for i in unchanged))
                lines.append(f"The archive now holds {len(engine.index.documents)} articles.")
        except Exception as exc:  # the index is untouched: build_index publishes atomically
            lines.append(f"**Indexing failed, the archive is unchanged:** {fmt.escape_inline(public_text(str(exc)))}")
            changed = False
        finally:
            for stage in staged.values():
                stage.unlink(missing_ok=True)
    if errors:
        lines.append("**Not added:**\n" + "\n".join(f"- {fmt.escape_inline(error)}" for error in errors))
    report(1.0, "Done")
    return "\n\n".join(lines) if lines else "Nothing to add.", changed


def remove_temporary(paths: Sequence[Path | str], root: Path | str) -> None:
    """Delete uploaded files that gradio keeps under ``root`` (its temp folder), and the folder
    gradio made for each when it is left empty. Paths outside ``root`` are never touched."""
    root = Path(root).resolve()
    for raw in paths:
        try:
            path = Path(raw).resolve()
        except OSError:
            continue
        if root not in path.parents:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError:
            continue
        parent = path.parent
        if parent != root:
            try:
                parent.rmdir()  # only when empty
            except OSError:
                pass
