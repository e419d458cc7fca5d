"""The chat page: ask the indexed news articles, read the quoted sources, add articles.

``build_app(index_dir)`` loads the model and the index once and returns a ``gr.Blocks``;
``serve(index_dir)`` launches it. Nothing is loaded when this module is imported.

The page also exposes ``/ask`` for programs::

    from gradio_client import Client
    record = Client("http://127.0.0.1:7860/").predict("Who offered to mediate?", [], api_name="/ask")

``record`` is ``Answer.to_dict()``, the record of ``rag ask --json``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.answer import Answerer
from rag.config import RETRIEVAL_MODES
from rag.embedding import Embedder
from rag.ingest import read_file
from rag.retrieval import SearchFilter
from rag.store import Index, append_feedback, build_index
from rag.types import Answer, Document
from ui import format as fmt

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_FILES = 50
UPLOADS_DIR = "uploads"
DEFAULT_K = 5
EXAMPLE_QUESTIONS = [
    "Which US defence secretary visited Pakistan with the do more message?",
    "How many countries voted against Russia in the special UNGA session?",
    "What reward did the US offer for information on Hafiz Saeed?",
    "Who offered to mediate between Islamabad and New Delhi?",
    "What did Imran Khan say about the situation in Ukraine?",
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
        self.embedder = embedder or Embedder().warm_up()
        self.answerer = Answerer(Index.open(self.index_dir), self.embedder).warm_up()
        self._write_lock = threading.Lock()

    @property
    def index(self) -> Index:
        return self.answerer.index

    def reload(self) -> None:
        """Open the index's live generation and swap it in."""
        # the loaded NER model is handed on rather than loaded again
        self.answerer = Answerer(Index.open(self.index_dir), self.embedder, ner=self.answerer.ner).warm_up()

    def ask(self, question: str, history: Sequence[str] = (), **options: Any) -> Answer:
        return self.answerer.ask(question, history=list(history), **options)


# --- settings -----------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SettingsError(ValueError):
    """A setting the user typed that cannot be used (shown as is)."""


def parse_date_field(value: str | None, label: str) -> str | None:
    """``value`` as an ISO date string, None when blank; raises SettingsError otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    if not _ISO_DATE.match(value):
        raise SettingsError(f"{label} date “{value}” is not a date: use YYYY-MM-DD, e.g. 2019-02-27")
    try:
        Date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{label} date “{value}” does not exist: use YYYY-MM-DD, e.g. 2019-02-27") from None
    return value


def search_filter(date_from: str | None, date_to: str | None) -> SearchFilter | None:
    """The date-range filter of the settings, None for no filter; raises SettingsError."""
    start = parse_date_field(date_from, "The “from”")
    end = parse_date_field(date_to, "The “to”")
    if start and end and start > end:
        raise SettingsError(f"The date range is empty: “from” ({start}) is after “to” ({end})")
    return SearchFilter(date_from=start, date_to=end) if (start or end) else None


def parse_history(history: Any) -> list[str]:
    """Earlier questions from an API caller: a list of strings, a JSON list, or nothing."""
    if history is None:
        return []
    if isinstance(history, str):
        text = history.strip()
        if not text:
            return []
        try:
            history = json.loads(text)
        except json.JSONDecodeError:
            return [text]
        if isinstance(history, str):
            return [history] if history.strip() else []
    if not isinstance(history, (list, tuple)):
        raise ValueError("history must be a list of earlier questions (or a JSON string of one)")
    return [str(item) for item in history if str(item).strip()]


# --- uploads ------------------------------------------------------------------------------------

@dataclass
class UploadBatch:
    """What a set of uploaded files yielded: documents to index and a message per bad file."""

    documents: list[Document] = field(default_factory=list)
    files: list[tuple[Path, str]] = field(default_factory=list)  # (uploaded path, original name)
    errors: list[str] = field(default_factory=list)


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


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
        return f"{name}: cannot read the upload ({exc.strerror or exc})"
    if size == 0:
        return f"{name}: the file is empty"
    if size > max_bytes:
        return f"{name}: the file is {_size_text(size)}; the limit is {_size_text(max_bytes)} per file"
    return None


def read_uploads(paths: Sequence[Path | str], max_bytes: int = MAX_UPLOAD_BYTES) -> UploadBatch:
    """Check and read uploaded files. Each file's original name (the basename gradio keeps) is
    its document id; problems come back as one message per file, naming it."""
    batch = UploadBatch()
    if len(paths) > MAX_UPLOAD_FILES:
        batch.errors.append(f"{len(paths)} files at once is too many; upload at most {MAX_UPLOAD_FILES}")
        return batch
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        name = path.name
        problem = check_upload(path, max_bytes, name)
        if problem:
            batch.errors.append(problem)
            continue
        documents, problems = read_file(path, doc_id=name)
        for issue in problems:
            where = f"{name} line {issue.line}" if issue.line is not None else name
            batch.errors.append(f"{where}: {issue.reason}")
        fresh = []
        for document in documents:
            if document.id in seen:
                batch.errors.append(f"{name}: document id {document.id!r} appears twice in this upload")
                continue
            seen.add(document.id)
            fresh.append(document)
        if fresh:
            batch.documents.extend(fresh)
            batch.files.append((path, name))
    return batch


def add_uploads(
    engine: Engine,
    paths: Sequence[Path | str],
    progress: Callable[[float, str], None] | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> tuple[str, bool]:
    """Index uploaded files into the engine's index and swap in the new index.

    Returns (a Markdown report, whether the index changed). Bad files are reported and left
    out; when nothing valid is left the index is not touched. The originals are kept in
    ``INDEX/uploads/`` under their own names.
    """
    report = progress or (lambda fraction, text: None)
    if not paths:
        return "Choose one or more files first (.txt, .md, .html, .htm or .jsonl).", False
    report(0.05, "Reading files")
    batch = read_uploads(paths, max_bytes)
    lines: list[str] = []
    changed = False
    if batch.documents:
        uploads = engine.index_dir / UPLOADS_DIR
        kept_as = {str(path): str(uploads / name) for path, name in batch.files}
        documents = [  # point at the kept copy, not gradio's temporary file (JSONL urls stay)
            dataclasses.replace(d, source=kept_as[d.source]) if d.source in kept_as else d
            for d in batch.documents
        ]
        with engine._write_lock:
            report(0.2, f"Embedding {len(documents)} article{'s' if len(documents) != 1 else ''}")
            try:
                result = build_index(documents, engine.index_dir, engine.embedder, engine.index.config, remove_missing=False)
            except Exception as exc:  # the index is untouched: build_index publishes atomically
                lines.append(f"**Indexing failed, the archive is unchanged:** {fmt.escape_inline(str(exc))}")
                result = None
            if result is not None:
                uploads.mkdir(parents=True, exist_ok=True)
                for path, name in batch.files:
                    shutil.copyfile(path, uploads / name)
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
                    lines.append(f"**Updated {len(updated)}:** " + ", ".join(fmt.escape_inline(i) for i in updated))
                if unchanged:
                    lines.append("**Already indexed, unchanged:** " + ", ".join(fmt.escape_inline(i) for i in unchanged))
                lines.append(f"The archive now holds {len(engine.index.documents)} articles.")
    if batch.errors:
        lines.append("**Not added:**\n" + "\n".join(f"- {fmt.escape_inline(error)}" for error in batch.errors))
    report(1.0, "Done")
    return "\n\n".join(lines) if lines else "Nothing to add.", changed


# --- chat handlers ------------------------------------------------------------------------------

def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # gradio 6 normalises message content to a list of parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)


def make_handlers(engine: Engine) -> dict[str, Callable]:
    """The page's event handlers, bound to ``engine``."""

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
        answer = answerer.ask(
            question, history=history, k=int(k or DEFAULT_K),
            mode=mode if mode in RETRIEVAL_MODES else None, where=where,
        )
        if question:
            chat.append({"role": "user", "content": fmt.escape_inline(question)})
        chat.append({"role": "assistant", "content": fmt.answer_markdown(answer)})
        last = None
        if answer.error is None:
            last = {"record": answer.to_dict(), "history": list(history)}
            history.append(question)
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

    def upload(files, progress=None):
        paths = [f if isinstance(f, (str, Path)) else getattr(f, "name", str(f)) for f in (files or [])]
        message, _ = add_uploads(engine, paths, progress=(lambda x, d: progress(x, desc=d)) if progress else None)
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
        string of one), so that follow-ups like "And when was that?" are understood.
        """
        return engine.ask(question or "", parse_history(history)).to_dict()

    return {"respond": respond, "rate": rate, "clear": clear, "upload": upload, "api_ask": api_ask}


# --- the page -----------------------------------------------------------------------------------

def build_app(index_dir: Path, embedder: Embedder | None = None) -> "gr.Blocks":
    """The chat page over the index at ``index_dir``; loads the model and the index now, once.

    Launch it with ``demo.launch(**launch_options())`` (as ``serve`` does) for the page's theme,
    CSS and script: gradio 6 takes those in ``launch()``, not in ``gr.Blocks()``.
    """
    import gradio as gr

    engine = Engine(Path(index_dir), embedder)
    handlers = make_handlers(engine)
    index = engine.index

    with gr.Blocks(title="Ask the news archive", fill_width=True, elem_id="rag-app") as demo:
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
                    f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB per file.",
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
                        add = gr.Button("Add to index", variant="primary", elem_id="rag-add")
                        upload_note = gr.Markdown("", elem_id="rag-upload-note")

        ask_inputs = [question, chatbot, history, k, mode, date_from, date_to]
        ask_outputs = [question, chatbot, history, last, sources]
        respond = handlers["respond"]
        def show_feedback(last_answer):  # rating buttons appear once there is an answer to rate
            return gr.Row(visible=last_answer is not None), ""

        for event in (ask.click, question.submit, examples.load_input_event.then):
            event(respond, ask_inputs, ask_outputs, api_visibility="private").then(
                show_feedback, last, [feedback_row, feedback_note], api_visibility="private",
            )
        up.click(lambda state: handlers["rate"](state, "up"), last, feedback_note, api_visibility="private")
        down.click(lambda state: handlers["rate"](state, "down"), last, feedback_note, api_visibility="private")
        for event in (clear.click, chatbot.clear):
            event(handlers["clear"], None, [chatbot, history, last, sources, feedback_note], api_visibility="private").then(
                show_feedback, last, [feedback_row, feedback_note], api_visibility="private",
            )

        def upload(files_value, progress=gr.Progress()):
            return handlers["upload"](files_value, progress)

        add.click(upload, files, [upload_note, corpus, header, files], api_visibility="private")
        gr.api(handlers["api_ask"], api_name="ask")

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
        max_file_size=4 * MAX_UPLOAD_BYTES, footer_links=["api"], quiet=not block,
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
