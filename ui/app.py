"""The chat page: ask the indexed news articles, read the quoted sources, add articles.

``build_app(index_dir)`` loads the model and the index once and returns a ``gr.Blocks``;
``serve(index_dir)`` launches it. Nothing is loaded when this module is imported.

The page also exposes ``/ask`` for programs::

    from gradio_client import Client
    record = Client("http://127.0.0.1:7860/").predict("Who offered to mediate?", [], api_name="/ask")

``record`` is ``Answer.to_dict()``, the record of ``rag ask --json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from rag.config import RETRIEVAL_MODES
from rag.embedding import Embedder
from rag.store import append_feedback
from ui import format as fmt
from ui.engine import Engine
from ui.inputs import MAX_HISTORY_ITEMS, HistoryError, SettingsError, error_record, parse_history, search_filter
from ui.uploads import (
    MAX_UPLOAD_BATCH_BYTES,
    MAX_UPLOAD_BYTES,
    REPLACE_LABEL,
    UPLOAD_PREFIX,
    UPLOAD_SUFFIXES,
    add_uploads,
    remove_temporary,
)

RUNNER_UPS = 2  # other answers shown under the main one, when confident enough
# Gradio's queue groups: asks (page and /ask API) and uploads never wait on each other.
ASK_QUEUE = "ask"
UPLOAD_QUEUE = "upload"
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
