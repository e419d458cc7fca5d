"""The chat page: ask the indexed news articles, read the quoted sources, add articles.

``build_app(index_dir)`` loads the model and the index once and returns a ``gr.Blocks``;
``serve(index_dir)`` launches it. Nothing is loaded when this module is imported.

The page also exposes ``/ask`` for programs::

    from gradio_client import Client
    record = Client("http://127.0.0.1:7860/").predict("Who offered to mediate?", [], api_name="/ask")

``record`` is ``Answer.to_dict()``, the record of ``rag ask --json``.
"""
from __future__ import annotations

import contextvars
import dataclasses
import json
import os
import re
import shutil
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.answer import Answerer
from rag.config import RETRIEVAL_MODES, AnswerConfig
from rag.embedding import Embedder
from rag.ingest import read_file
from rag.retrieval import SearchFilter
from rag.store import Index, append_feedback, build_index
from rag.types import Answer, Document
from rag.validation import QuestionError, check_history, parse_iso_date
from ui import format as fmt

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
# Earlier questions an /ask caller may send (unless the answerer's AnswerConfig sets
# max_history_items): follow-ups need the last few, more is only work. Each earlier question is
# held to the question's own length limit (AnswerConfig.max_question_chars).
MAX_HISTORY_ITEMS = AnswerConfig().max_history_items
RUNNER_UPS = 2  # other answers shown under the main one, when confident enough
# Indexing runs in its own thread at this lower CPU priority (Linux), so that the operating
# system serves the threads answering questions first while an upload is being embedded.
INDEXING_NICE = 10
# Gradio's queue groups: asks (page and /ask API) and uploads never wait on each other.
ASK_QUEUE = "ask"
UPLOAD_QUEUE = "upload"
REPLACE_LABEL = "Replace articles with the same name"
DEFAULT_K = 5
EXAMPLE_QUESTIONS = [
    "What reward did the US offer for information on Hafiz Saeed?",
    "How much money is Russia putting into the gas pipeline?",
    "Who won the 2018 Tour de France?",  # not in the sample articles: shows a plain "no"
]
CSS_PATH = Path(__file__).with_name("style.css")

# Scrolls an opened article to its highlighted quote (inside the article's own scroll box).
SOURCES_JS = """
element.addEventListener('toggle', (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open) return;
  const box = details.querySelector('.rag-article');
  const mark = box && box.querySelector('mark.quote');
  if (!box || !mark) return;
  const offset = mark.getBoundingClientRect().top - box.getBoundingClientRect().top;
  box.scrollTop = Math.max(0, box.scrollTop + offset - box.clientHeight / 3);
}, true);
"""

# Cite markers in the chat ([1] [2]) jump to the matching source card instead of navigating.
PAGE_JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.cite');
    if (!link) return;
    const id = (link.getAttribute('href') || '').replace('#', '');
    const card = id && document.getElementById(id);
    if (!card) return;
    event.preventDefault();
    event.stopPropagation();
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('rag-flash');
    void card.offsetWidth;
    card.classList.add('rag-flash');
  }, true);
}
"""


# --- the engine: model and index, loaded once ----------------------------------------------------

class Engine:
    """Holds the live Answerer; an upload re-indexes and swaps in a fresh one.

    Requests read ``engine.answerer`` once and keep that object for the whole request, so a swap
    never changes the index under a running question.
    """

    def __init__(self, index_dir: Path, embedder: Embedder | None = None):
        self.index_dir = Path(index_dir)
        index = Index.open(self.index_dir)
        self.embedder = embedder or Embedder(index.config.embedding).warm_up()
        self.answerer = Answerer(index, self.embedder).warm_up()
        self._write_lock = threading.Lock()

    @property
    def index(self) -> Index:
        return self.answerer.index

    def reload(self) -> None:
        """Open the index's live generation and swap it in."""
        # the loaded models are handed on rather than loaded again
        self.answerer = Answerer(Index.open(self.index_dir), self.embedder, reader=self.answerer.reader).warm_up()

    def ask(self, question: str, history: Sequence[str] = (), **options: Any) -> Answer:
        return self.answerer.ask(question, history=list(history), **options)


# --- settings -----------------------------------------------------------------------------------

class SettingsError(ValueError):
    """A setting the user typed that cannot be used (shown as is)."""


def parse_date_field(value: str | None, label: str) -> str | None:
    """``value`` as an ISO date string, None when blank; raises SettingsError otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    try:  # the same strict check as the CLI's --date-from/--date-to
        return parse_iso_date(value, f"{label} date")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def search_filter(date_from: str | None, date_to: str | None) -> SearchFilter | None:
    """The date-range filter of the settings, None for no filter; raises SettingsError."""
    start = parse_date_field(date_from, "The “from”")
    end = parse_date_field(date_to, "The “to”")
    if start and end and start > end:
        raise SettingsError(f"The date range is empty: “from” ({start}) is after “to” ({end})")
    return SearchFilter(date_from=start, date_to=end) if (start or end) else None


class HistoryError(ValueError):
    """An /ask history that cannot be used (returned as the record's error)."""


def parse_history(history: Any, max_items: int = MAX_HISTORY_ITEMS, max_chars: int | None = None) -> list[str]:
    """Earlier questions from an API caller: a list of strings, a JSON list, or nothing.

    Raises HistoryError for anything else, for more than ``max_items`` questions, and for a
    question longer than ``max_chars`` (the limit on the question itself).
    """
    if history is None:
        return []
    if isinstance(history, str):
        text = history.strip()
        if not text:
            return []
        if max_chars is not None and len(text) > max_items * (max_chars + 8) + 2:
            raise HistoryError(
                f"the history is {len(text)} characters long; the limit is {max_items} earlier "
                f"questions of up to {max_chars} characters each"
            )
        try:
            history = json.loads(text)
        except json.JSONDecodeError:
            history = text
        if isinstance(history, str):
            history = [history]
    if not isinstance(history, (list, tuple)):
        raise HistoryError("history must be a list of earlier questions (or a JSON string of one)")
    items = [item if isinstance(item, str) else str(item) for item in history]
    try:  # the limits every caller of the answerer gets (rag.validation)
        return check_history(items, AnswerConfig(max_history_items=max_items, max_question_chars=max_chars or 10**9))
    except QuestionError as exc:
        raise HistoryError(str(exc)) from None


def error_record(question: Any, message: str) -> dict:
    """The `rag ask --json` record of a request that was not asked: ``error`` says why."""
    text = question if isinstance(question, str) else str(question or "")
    return Answer(text, None, None, True, 0.0, message=message, error=message).to_dict()


# --- uploads ------------------------------------------------------------------------------------

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
    with engine._write_lock:
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


# --- chat handlers ------------------------------------------------------------------------------

def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # gradio 6 normalises message content to a list of parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def make_handlers(engine: Engine, upload_root: Path | str | None = None) -> dict[str, Callable]:
    """The page's event handlers, bound to ``engine``. ``upload_root`` is gradio's temp folder:
    uploaded files under it are deleted once they have been processed (kept or refused)."""

    def respond(question, chat, history, k, mode, date_from, date_to):
        question = (question or "").strip()
        chat = list(chat or [])
        history = list(history or [])
        try:
            where = search_filter(date_from, date_to)
        except SettingsError as exc:  # keep the question in the box to ask again once fixed
            chat.append({"role": "assistant", "content": f"**Check the search settings:** {fmt.escape_inline(str(exc))}"})
            return question, chat, history, None, fmt.SOURCES_PLACEHOLDER
        answerer = engine.answerer
        history = history[-MAX_HISTORY_ITEMS:]
        answer = answerer.ask(
            question, history=history, k=int(k or DEFAULT_K),
            mode=mode if mode in RETRIEVAL_MODES else None, where=where, answers=RUNNER_UPS + 1,
        )
        if question:
            chat.append({"role": "user", "content": fmt.escape_inline(question)})
        chat.append({"role": "assistant", "content": fmt.answer_markdown(answer)})
        last = None
        if answer.error is None:
            last = {"record": answer.to_dict(), "history": list(history)}
            history = (history + [question])[-MAX_HISTORY_ITEMS:]
        sources = fmt.sources_html(answer, answerer.index.document_text)
        return "", chat, history, last, sources

    def rate(last, rating):
        if not last:
            return "Ask a question first, then rate the answer."
        record = last["record"]
        append_feedback(engine.index_dir, {
            "question": record["question"],
            "history": last["history"],
            "answer": record["answer"],
            "sentence": record["sentence"],
            "abstained": record["abstained"],
            "confidence": record["confidence"],
            "citations": record["citations"],
            "rating": rating,
        })
        thumb = "👍" if rating == "up" else "👎"
        return f"{thumb} Thanks, your rating of the last answer was saved."

    def clear():
        return [], [], None, fmt.SOURCES_PLACEHOLDER, ""

    def upload(files, replace=False, progress=None):
        paths = [f if isinstance(f, (str, Path)) else getattr(f, "name", str(f)) for f in (files or [])]
        try:  # (a gr.Progress is falsy: it has a length, 0)
            message, _ = add_uploads(
                engine, paths, progress=(lambda x, d: progress(x, desc=d)) if progress is not None else None,
                replace=bool(replace),
            )
        finally:  # kept files were copied to INDEX/uploads; refused ones are not kept at all
            if upload_root is not None:
                remove_temporary(paths, upload_root)
        index = engine.index
        return (
            message,
            fmt.corpus_rows(index.documents),
            fmt.header_html(len(index.documents), index.chunk_count),
            None,
        )

    def api_ask(question: str, history: list[str] | str | None = None) -> dict:
        """Answer one question over the indexed articles; returns the `rag ask --json` record.

        history: the earlier questions of the conversation, oldest first (a list, or a JSON
        string of one), so that follow-ups like "And when was that?" are understood. At most
        20 questions, each within the question's length limit; otherwise the record's "error"
        says what is wrong and nothing is asked.
        """
        answerer = engine.answerer
        limits = answerer.config.answer
        try:
            earlier = parse_history(history, limits.max_history_items, limits.max_question_chars)
        except HistoryError as exc:
            return error_record(question, str(exc))
        return answerer.ask(question or "", history=earlier, answers=RUNNER_UPS + 1).to_dict()

    return {"respond": respond, "rate": rate, "clear": clear, "upload": upload, "api_ask": api_ask}


# --- the page -----------------------------------------------------------------------------------

def build_app(index_dir: Path, embedder: Embedder | None = None) -> "gr.Blocks":
    """The chat page over the index at ``index_dir``; loads the model and the index now, once.

    Launch it with ``demo.launch(**launch_options())`` (as ``serve`` does) for the page's theme,
    CSS and script: gradio 6 takes those in ``launch()``, not in ``gr.Blocks()``.
    """
    import gradio as gr

    from gradio.utils import get_upload_folder

    engine = Engine(Path(index_dir), embedder)
    handlers = make_handlers(engine, upload_root=get_upload_folder())
    index = engine.index

    # uploads are deleted from gradio's temp folder once processed; this sweeps what is left
    # behind (files chosen but never added) after an hour
    with gr.Blocks(title="Ask the news archive", fill_width=True, elem_id="rag-app", delete_cache=(3600, 3600)) as demo:
        header = gr.HTML(fmt.header_html(len(index.documents), index.chunk_count), elem_id="rag-header-block")
        history = gr.State([])
        last = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=False, elem_id="rag-main"):
                    with gr.Column(scale=3, min_width=340, elem_id="rag-chat-col"):
                        chatbot = gr.Chatbot(
                            show_label=False, elem_id="rag-chat", height=440,
                            feedback_options=None, latex_delimiters=[], buttons=["copy"],
                            placeholder=(
                                "**Ask about the articles.** Answers are copied word for word from "
                                "the news articles, with numbered sources beside them."
                            ),
                        )
                        with gr.Row(elem_id="rag-ask-row"):
                            question = gr.Textbox(
                                placeholder="Ask a question about the articles…", show_label=False,
                                lines=1, max_lines=4, scale=6, autofocus=True, elem_id="rag-question",
                                container=False,
                            )
                            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rag-ask")
                        with gr.Row(elem_id="rag-feedback-row", visible=False) as feedback_row:
                            up = gr.Button("👍 Helpful", size="sm", scale=0, min_width=100, elem_id="rag-up")
                            down = gr.Button("👎 Not helpful", size="sm", scale=0, min_width=120, elem_id="rag-down")
                            clear = gr.Button("New conversation", size="sm", scale=0, min_width=140, elem_id="rag-clear")
                            feedback_note = gr.Markdown("", elem_id="rag-feedback-note")
                    with gr.Column(scale=2, min_width=300, elem_id="rag-sources-col"):
                        sources = gr.HTML(
                            fmt.SOURCES_PLACEHOLDER, elem_id="rag-sources-panel", js_on_load=SOURCES_JS,
                            padding=False,
                        )
                # below the chat and its sources, so that on a phone the sources come right after
                # the answer and the examples and settings after them
                with gr.Row(equal_height=False, elem_id="rag-extras"):
                    with gr.Column(scale=3, min_width=340):
                        examples = gr.Examples(
                            examples=[[q] for q in EXAMPLE_QUESTIONS], inputs=[question],
                            label="Try one of these", elem_id="rag-examples",
                        )
                        with gr.Accordion("Search settings", open=False, elem_id="rag-settings"):
                            with gr.Row():
                                k = gr.Slider(1, 20, value=DEFAULT_K, step=1, label="Passages to search",
                                              info="How many passages are retrieved and shown as evidence")
                                mode = gr.Radio(list(RETRIEVAL_MODES), value="hybrid", label="Retrieval",
                                                info="hybrid = meaning + keywords; bm25 = keywords only")
                            with gr.Row():
                                date_from = gr.Textbox(label="From date", placeholder="YYYY-MM-DD", max_lines=1,
                                                       info="Only articles dated on or after")
                                date_to = gr.Textbox(label="To date", placeholder="YYYY-MM-DD", max_lines=1,
                                                     info="Only articles dated on or before")
                    gr.Column(scale=2, min_width=300)  # keeps the examples as wide as the chat
            with gr.Tab("Articles", id="articles"):
                gr.Markdown(
                    "The articles the answers come from. Add your own: plain text, Markdown, HTML, "
                    f"or JSON Lines (one article per line, with a `text` field), up to "
                    f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB per file and "
                    f"{MAX_UPLOAD_BATCH_BYTES // (1024 * 1024)} MB per upload. Uploaded articles get "
                    f"the ids `{UPLOAD_PREFIX}FILE NAME`, apart from the articles indexed on the server.",
                    elem_id="rag-corpus-intro",
                )
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        corpus = gr.Dataframe(
                            value=fmt.corpus_rows(index.documents), headers=fmt.CORPUS_HEADERS,
                            datatype=["str", "str", "str", "number"], interactive=False, wrap=True,
                            label="Indexed articles", elem_id="rag-corpus", column_widths=["48%", "14%", "28%", "10%"],
                            show_search="search",
                        )
                    with gr.Column(scale=2, min_width=280):
                        files = gr.File(
                            file_count="multiple", file_types=list(UPLOAD_SUFFIXES), label="Upload articles",
                            elem_id="rag-upload",
                        )
                        replace = gr.Checkbox(
                            value=False, label=REPLACE_LABEL, elem_id="rag-replace",
                            info="Off: a file whose name was uploaded before with other content is refused",
                        )
                        add = gr.Button("Add to index", variant="primary", elem_id="rag-add")
                        upload_note = gr.Markdown("", elem_id="rag-upload-note")

        ask_inputs = [question, chatbot, history, k, mode, date_from, date_to]
        ask_outputs = [question, chatbot, history, last, sources]
        respond = handlers["respond"]
        def show_feedback(last_answer):  # rating buttons appear once there is an answer to rate
            return gr.Row(visible=last_answer is not None), ""

        # asks (page and API) share one queue group, uploads have their own: an upload being
        # indexed never holds up a question, and uploads run one at a time
        for event in (ask.click, question.submit, examples.load_input_event.then):
            event(respond, ask_inputs, ask_outputs, api_visibility="private", concurrency_id=ASK_QUEUE).then(
                show_feedback, last, [feedback_row, feedback_note], api_visibility="private",
            )
        up.click(lambda state: handlers["rate"](state, "up"), last, feedback_note, api_visibility="private")
        down.click(lambda state: handlers["rate"](state, "down"), last, feedback_note, api_visibility="private")
        for event in (clear.click, chatbot.clear):
            event(handlers["clear"], None, [chatbot, history, last, sources, feedback_note], api_visibility="private").then(
                show_feedback, last, [feedback_row, feedback_note], api_visibility="private",
            )

        def upload(files_value, replace_value, progress=gr.Progress()):
            return handlers["upload"](files_value, replace_value, progress)

        add.click(
            upload, [files, replace], [upload_note, corpus, header, files], api_visibility="private",
            concurrency_id=UPLOAD_QUEUE, concurrency_limit=1,
            show_progress_on=[files, upload_note],  # the header and table stay readable meanwhile
        )
        gr.api(handlers["api_ask"], api_name="ask", concurrency_id=ASK_QUEUE)

    demo.rag_engine = engine  # for tests and embedding applications
    return demo


def launch_options() -> dict[str, Any]:
    """The theme, CSS and script ``launch()`` needs for this page (gradio 6 takes them there)."""
    import gradio as gr

    theme = gr.themes.Soft(
        primary_hue="blue", neutral_hue="slate",
        font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
    return {"theme": theme, "css": CSS_PATH.read_text(encoding="utf-8"), "js": PAGE_JS}


def serve(
    index_dir: Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    embedder: Embedder | None = None,
    *,
    concurrency: int = 2,
    block: bool = True,
) -> "gr.Blocks":
    """Build the page and serve it at http://HOST:PORT/ (blocks until stopped unless ``block``
    is False, then returns the running app)."""
    demo = build_app(Path(index_dir), embedder)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(
        server_name=host, server_port=port, prevent_thread_lock=not block, show_error=True,
        max_file_size=MAX_UPLOAD_BATCH_BYTES, footer_links=["api"], quiet=not block,
        **launch_options(),
    )
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Serve the chat page over an index.")
    parser.add_argument("--index", type=Path, default=Path("index"), help="index folder (default: index)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    serve(args.index, args.host, args.port)


if __name__ == "__main__":
    main()
