"""The chat page's building blocks, called directly over a real index built from the sample corpus:
HTML escaping and highlighting at exact offsets, chat messages, settings, uploads, feedback."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rag.embedding import Embedder
from rag.ingest import SAMPLE_CORPUS, load_documents
from rag.store import CURRENT_FILE, FEEDBACK_FILE, build_index
from ui import format as fmt
from ui.app import (
    MAX_HISTORY_ITEMS,
    MAX_UPLOAD_BATCH_BYTES,
    MAX_UPLOAD_BYTES,
    REPLACE_LABEL,
    Engine,
    SettingsError,
    add_uploads,
    check_upload,
    make_handlers,
    parse_history,
    read_uploads,
    search_filter,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEDIATE = "How much money is Russia putting into the gas pipeline?"
XSS_ARTICLE = """Zarvonian harbour festival draws record crowds

KELBROOK: The Zarvonian harbour festival took place on 3 March 2021 in the town of Kelbrook, where a banner reading <script>alert(1)</script> hung over the quay.

The festival website showed <img src=x onerror=alert(1)> instead of a photograph of the boats, and the printed programme said ${alert(2)} and {{constructor}} where the dates belonged.

More than 4,000 visitors watched the lantern parade along the quay, and fishing crews opened their boats to the public for the first time since the harbour was rebuilt.
"""
MARKS = re.compile(r'<mark class="([^"]+)"[^>]*>(.*?)</mark>', re.S)


class _Marks(HTMLParser):
    """The text inside each <mark>, by class, nested marks included; and all the text."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.open: list[list] = []
        self.found: list[tuple[str, str]] = []
        self.text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "mark":
            self.open.append([dict(attrs).get("class", ""), ""])

    def handle_endtag(self, tag):
        if tag == "mark":
            cls, inside = self.open.pop()
            self.found.append((cls, inside))

    def handle_data(self, data):
        self.text += data
        for entry in self.open:
            entry[1] += data

    def of(self, cls: str) -> list[str]:
        return [inside for c, inside in self.found if c == cls]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder().warm_up()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embedder) -> Path:
    folder = tmp_path_factory.mktemp("ui_index")
    build_index(load_documents([SAMPLE_CORPUS]).documents, folder, embedder)
    return folder


@pytest.fixture(scope="module")
def engine(index_dir, embedder) -> Engine:
    return Engine(index_dir, embedder)


@pytest.fixture()
def scratch_engine(index_dir, embedder, tmp_path) -> Engine:
    """An engine over a private copy of the index, for tests that add to it."""
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    return Engine(copy, embedder)


# --- escaping and highlighting -------------------------------------------------------------------

def test_script_text_is_escaped_and_marked_at_its_offsets():
    text = "Before <script>alert(1)</script> after"
    start = text.index("<script>")
    out = fmt.highlight(text, start, start + len("<script>"))
    assert out == 'Before <mark class="hl">&lt;script&gt;</mark>alert(1)&lt;/script&gt; after'
    assert "<script" not in out


def test_img_onerror_and_template_syntax_are_inert():
    text = 'x <img src=x onerror=alert(1)> ${alert(2)} {{constructor}} `code` "q" \\ y'
    out = fmt.render_marked(text, [(2, 30, "quote")])
    assert "<img" not in out and "${" not in out and "{{" not in out and "`" not in out
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", out)) == text


@pytest.mark.parametrize("needle", ["3 March 2021", "Café", "naïve “quotes”", "&amp;"])
def test_highlight_lands_on_exact_characters(needle):
    text = f"Säo <b>Paulo</b> & co. — Café naïve “quotes” &amp; on 3 March 2021, 🙂 end"
    start = text.index(needle)
    out = fmt.highlight(text, start, start + len(needle))
    (cls, inside), = MARKS.findall(out)
    assert html.unescape(inside) == needle
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", out)) == text


def test_nested_spans_and_clipping():
    text = "The festival took place on 3 March 2021 in Kelbrook."
    quote = (4, len(text) - 1)
    answer = (text.index("3 March"), text.index("3 March") + len("3 March 2021"))
    out = fmt.render_marked(text, [(answer[0], answer[1], "answer"), (quote[0], quote[1], "quote")])
    assert out.count("<mark") == 2 and out.count("</mark>") == 2
    assert '<mark class="quote">festival took place on <mark class="answer">3 March 2021</mark> in Kelbrook</mark>.' in out
    # a span crossing the end of an outer one is clipped to it; spans outside the text vanish
    crossing = fmt.render_marked("abcdefgh", [(1, 5, "quote"), (3, 7, "answer"), (20, 30, "gone"), (-5, 0, "gone")])
    assert crossing == 'a<mark class="quote">bc<mark class="answer">de</mark></mark>fgh'


def test_article_view_marks_quote_with_anchor():
    text = "First line.\n\nSecond <b>line</b> here.\nThird."
    start, end = text.index("Second"), text.index("here.") + 5
    out = fmt.article_html(text, start, end, (text.index("<b>"), text.index("</b>") + 4), anchor="q1")
    marks = _Marks(out)
    assert marks.of("quote") == [text[start:end]] and marks.of("answer") == ["<b>line</b>"]
    assert marks.text == text
    assert 'id="q1"' in out and "&lt;b&gt;line&lt;/b&gt;" in out and "<b>" not in out


def test_inline_chat_text_defuses_markdown():
    out = fmt.escape_inline("**bold** _x_ [link](http://e.com) #tag <i>y</i>\nnext")
    assert "<i>" not in out and "\n" not in out
    assert "\\*\\*bold\\*\\*" in out and "\\[link\\]" in out


# --- chat messages and sources over the real index ----------------------------------------------

def test_answer_message_and_sources(engine):
    answer = engine.ask(MEDIATE)
    assert not answer.abstained and answer.citations, answer.message
    message = fmt.answer_markdown(answer)
    assert f'<mark class="answer">{fmt.escape_inline(answer.answer)}</mark>' in message
    assert '<a class="cite" href="#rag-src-1">[1]</a>' in message
    assert "{" not in message and '"question"' not in message  # no raw JSON

    panel = fmt.sources_html(answer, engine.index.document_text)
    first = answer.citations[0]
    assert 'id="rag-src-1"' in panel and html.escape(first.title) in panel and html.escape(first.doc) in panel
    marks = MARKS.findall(panel)
    assert ("answer", answer.answer) in [(kind, html.unescape(text)) for kind, text in marks]
    # the whole article's mark holds exactly the cited characters
    article = panel.split("<details", 1)[1].split("</details>", 1)[0]
    article_marks = _Marks(article.split(">", 1)[1])
    assert article_marks.of("quote") == [first.quote]
    assert article_marks.of("answer") == [answer.answer]
    assert first.quote == engine.index.document_text(first.doc)[first.start : first.end]
    assert f'<mark class="quote" id="rag-quote-1">' in panel


def test_abstention_reads_plainly_with_related_passages(engine):
    answer = engine.ask("Who won the 2018 Tour de France?")
    assert answer.abstained
    message = fmt.answer_markdown(answer)
    assert message.startswith("**Not in these articles:**")
    assert html.escape(answer.passages[0].title) in message
    panel = fmt.sources_html(answer, engine.index.document_text)
    assert "closest passages" in panel and "rag-related" in panel


def test_errors_show_the_message(engine):
    message = fmt.answer_markdown(engine.ask("   "))
    assert message.startswith("**Can't ask that:**") and "empty" in message


def test_respond_keeps_follow_up_history(engine):
    respond = make_handlers(engine)["respond"]
    box, chat, history, last, panel = respond(MEDIATE, [], [], 5, "hybrid", "", "")
    assert box == "" and history == [MEDIATE] and last["record"]["question"] == MEDIATE
    assert [m["role"] for m in chat] == ["user", "assistant"] and "rag-card" in panel
    box, chat, history, last, panel = respond("When was it agreed?", chat, history, 3, "bm25", "", "")
    assert history == [MEDIATE, "When was it agreed?"] and last["history"] == [MEDIATE]
    assert len(chat) == 4
    # a bad date keeps the question in the box and asks nothing
    box, chat2, history2, last2, _ = respond("Who?", chat, history, 5, "hybrid", "2019-13-01", "")
    assert box == "Who?" and history2 == history and last2 is None
    assert "Check the search settings" in chat2[-1]["content"] and "2019-13-01" in chat2[-1]["content"]


# --- settings -----------------------------------------------------------------------------------

def test_date_range_validation():
    assert search_filter("", " ") is None
    where = search_filter("2018-01-01", "2019-12-31")
    assert (where.date_from, where.date_to) == ("2018-01-01", "2019-12-31")
    for bad in ("2019/01/01", "yesterday", "2019-02-30", "19-01-01"):
        with pytest.raises(SettingsError, match="YYYY-MM-DD"):
            search_filter(bad, None)
    with pytest.raises(SettingsError, match="after"):
        search_filter("2020-01-01", "2019-01-01")


def test_history_from_api_callers():
    assert parse_history(None) == [] and parse_history("") == [] and parse_history([]) == []
    assert parse_history(["a", " ", "b"]) == ["a", "b"]
    assert parse_history('["a", "b"]') == ["a", "b"]
    assert parse_history("just one question") == ["just one question"]
    with pytest.raises(ValueError):
        parse_history({"a": 1})


# --- uploads ------------------------------------------------------------------------------------

def test_upload_checks_type_emptiness_and_size(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 something")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    big = tmp_path / "huge.txt"
    big.write_bytes(b"word " * (MAX_UPLOAD_BYTES // 5 + 1))
    good = tmp_path / "good.md"
    good.write_text("A headline here\n\nSome article text that is long enough to be read as an article.\n")
    assert "report.pdf" in check_upload(pdf) and "unsupported file type .pdf" in check_upload(pdf)
    assert check_upload(empty) == "empty.txt: the file is empty"
    assert "huge.txt" in check_upload(big) and "limit is 5.0 MB" in check_upload(big)
    assert check_upload(good) is None


def test_read_uploads_names_each_bad_file(tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02 not text")
    lines = tmp_path / "feed.jsonl"
    lines.write_text('{"id": "a1", "title": "One", "text": "Body of the first article, long enough."}\nnot json\n{"id": "a2"}\n')
    batch = read_uploads([binary, lines])
    assert [d.id for d in batch.documents] == ["upload/feed.jsonl/a1"]
    assert any(e.startswith("binary.txt:") and "NUL" in e for e in batch.errors)
    assert any(e.startswith("feed.jsonl line 2:") and "JSON" in e for e in batch.errors)
    assert any(e.startswith("feed.jsonl line 3:") and "text" in e for e in batch.errors)


def test_bad_uploads_leave_the_index_alone(scratch_engine, tmp_path):
    live = (scratch_engine.index_dir / CURRENT_FILE).read_text()
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF")
    empty = tmp_path / "blank.txt"
    empty.write_text("")
    message, changed = add_uploads(scratch_engine, [bad, empty])
    assert not changed and "notes.pdf" in message and "blank.txt" in message and "Not added" in message
    assert (scratch_engine.index_dir / CURRENT_FILE).read_text() == live
    assert not (scratch_engine.index_dir / "uploads").exists()


def test_upload_adds_article_and_swaps_the_index(scratch_engine, tmp_path):
    before = scratch_engine.answerer
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG")
    seen = []
    message, changed = add_uploads(scratch_engine, [article, bad], progress=lambda f, d: seen.append(d))
    assert changed and "zarvon\\_festival.txt" in message and "photo.png" in message
    assert scratch_engine.answerer is not before and "upload/zarvon_festival.txt" in scratch_engine.index.documents
    assert (scratch_engine.index_dir / "uploads" / "zarvon_festival.txt").read_text(encoding="utf-8") == XSS_ARTICLE
    assert seen[0] == "Reading files" and seen[-1] == "Done"

    answer = scratch_engine.ask("When did the Zarvonian harbour festival take place?")
    assert not answer.abstained and answer.citations[0].doc == "upload/zarvon_festival.txt", answer.message
    assert "3 March 2021" in answer.sentence
    panel = fmt.sources_html(answer, scratch_engine.index.document_text)
    message = fmt.answer_markdown(answer)
    for out in (panel, message):
        assert "<script" not in out and "<img" not in out and "${" not in out and "{{" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel and "&lt;img src=x onerror=alert(1)&gt;" in panel

    # the same file again changes nothing
    message, changed = add_uploads(scratch_engine, [article])
    assert not changed and "unchanged" in message


def test_feedback_is_appended(scratch_engine):
    handlers = make_handlers(scratch_engine)
    assert "Ask a question first" in handlers["rate"](None, "up")
    _, _, _, last, _ = handlers["respond"](MEDIATE, [], [], 5, "hybrid", "", "")
    assert "saved" in handlers["rate"](last, "down")
    record = json.loads((scratch_engine.index_dir / FEEDBACK_FILE).read_text().splitlines()[-1])
    assert record["rating"] == "down" and record["question"] == MEDIATE
    assert record["answer"] == last["record"]["answer"] and record["citations"] and record["history"] == []


def test_api_record_matches_cli_json(engine):
    record = make_handlers(engine)["api_ask"](MEDIATE, "[]")
    assert {"question", "answer", "sentence", "abstained", "confidence", "citations", "passages", "timings_ms"} <= set(record)
    json.dumps(record)


def test_importing_the_app_loads_nothing():
    code = "import sys, ui, ui.app; assert 'gradio' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in sys.modules if m in ('gradio','torch'))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# --- issue #14: uploads in their own namespace (2), escaping once (8), history limits (9),
# --- upload housekeeping (10) --------------------------------------------------------------------

SAMPLE_ID = "004_c0bc88ef037bc82c.txt"  # an article of the sample corpus
REWARD = "What reward did the US offer for information on Hafiz Saeed?"


def test_upload_named_like_an_indexed_article_leaves_it_alone(scratch_engine, tmp_path):
    original = scratch_engine.index.document_text(SAMPLE_ID)
    impostor = tmp_path / SAMPLE_ID
    impostor.write_text(XSS_ARTICLE, encoding="utf-8")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": SAMPLE_ID, "title": "Replaced", "text": XSS_ARTICLE}) + "\n", encoding="utf-8")
    message, changed = add_uploads(scratch_engine, [impostor, feed])
    assert changed, message
    documents = scratch_engine.index.documents
    assert scratch_engine.index.document_text(SAMPLE_ID) == original
    assert f"upload/{SAMPLE_ID}" in documents and f"upload/feed.jsonl/{SAMPLE_ID}" in documents
    assert documents[SAMPLE_ID].title != "Replaced"
    assert (scratch_engine.index_dir / "uploads" / SAMPLE_ID).read_text(encoding="utf-8") == XSS_ARTICLE


def test_a_different_file_of_the_same_name_needs_the_replace_choice(scratch_engine, tmp_path):
    first, second = tmp_path / "a" / "notes.txt", tmp_path / "b" / "notes.txt"
    for path, text in ((first, XSS_ARTICLE), (second, XSS_ARTICLE.replace("4,000", "9,000"))):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    kept = scratch_engine.index_dir / "uploads" / "notes.txt"
    message, changed = add_uploads(scratch_engine, [first])
    assert changed and "upload/notes.txt" in message.replace("\\", "")

    # off by default: refused, naming the article and the choice; nothing replaced
    message, changed = add_uploads(scratch_engine, [second])
    assert not changed and "Not added" in message
    plain = message.replace("\\", "")
    assert "notes.txt: already indexed with different content (upload/notes.txt)" in plain and REPLACE_LABEL in plain
    assert "4,000" in scratch_engine.index.document_text("upload/notes.txt") and "4,000" in kept.read_text()

    # the same file again is no replacement: accepted as unchanged
    message, changed = add_uploads(scratch_engine, [first])
    assert not changed and "unchanged" in message and "Not added" not in message

    # ticked: replaced, visibly
    message, changed = add_uploads(scratch_engine, [second], replace=True)
    assert changed and "Replaced 1" in message
    assert "9,000" in scratch_engine.index.document_text("upload/notes.txt") and "9,000" in kept.read_text()
    assert not list(kept.parent.glob(".staging-*"))


def test_chat_text_is_escaped_once(engine):
    out = fmt.escape_inline("Khan's $10 million & <b>x</b> **y** #1 `z`")
    assert "&#" not in out and "Khan's" in out and "\\$10 million" in out
    assert "&amp; &lt;b&gt;x&lt;/b&gt;" in out and "\\*\\*y\\*\\*" in out and "\\#1" in out and "\\`z\\`" in out
    # a sentence of the sample corpus with an apostrophe, marked as the chat marks an answer
    text = engine.index.document_text("001_066d803ddee4351a.txt")
    start = text.index("Pakistan's support")
    marked = fmt.render_marked(text[start : start + 40], [(0, 8, "answer")], escaper=fmt.escape_inline)
    assert marked.startswith('<mark class="answer">Pakistan</mark>\'s support') and "&#" not in marked
    # the example question's answer reads "$10 million" (escaped for Markdown, not as an entity)
    answer = engine.ask(REWARD)
    assert not answer.abstained and "$10 million" in answer.answer, answer.message
    message = fmt.answer_markdown(answer)
    assert "&#" not in message and "\\$10 million" in message


def test_every_history_item_has_the_question_limit(engine):
    api_ask = make_handlers(engine)["api_ask"]
    for history in (["x" * 200_000], json.dumps(["x" * 200_000]), "x" * 200_000, [MEDIATE, "y" * 1001]):
        record = api_ask(MEDIATE, history)
        assert record["error"] and record["answer"] is None and not record["citations"], record
        assert "characters long" in record["error"] and "limit" in record["error"]
    record = api_ask(MEDIATE, ["Who?"] * (MAX_HISTORY_ITEMS + 1))
    assert record["error"] and str(MAX_HISTORY_ITEMS) in record["error"]
    record = api_ask(MEDIATE, {"not": "a list"})
    assert record["error"] and "list" in record["error"]
    assert api_ask(MEDIATE, ["Who?"] * MAX_HISTORY_ITEMS).get("error") is None


def test_an_upload_batch_has_a_total_size_limit(tmp_path):
    paths = []
    for i in range(MAX_UPLOAD_BATCH_BYTES // MAX_UPLOAD_BYTES + 1):
        path = tmp_path / f"part{i}.txt"
        path.write_bytes(b"word " * (MAX_UPLOAD_BYTES // 5 - 10))
        paths.append(path)
    batch = read_uploads(paths)
    assert batch.documents == [] and len(batch.errors) == 1
    assert "add up to" in batch.errors[0] and "limit is 20.0 MB per upload" in batch.errors[0]


def test_upload_messages_name_files_not_server_paths(scratch_engine, tmp_path):
    (scratch_engine.index_dir / "uploads").write_text("in the way")  # the folder cannot be made
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    feed = tmp_path / "feed.jsonl"
    feed.write_text("not json\n", encoding="utf-8")
    message, changed = add_uploads(scratch_engine, [article, feed])
    assert not changed and "Indexing failed" in message and "feed.jsonl line 1" in message
    for folder in (scratch_engine.index_dir, tmp_path):
        assert str(folder) not in message
    assert "/" not in message.replace("upload/", "")
    assert "upload/zarvon_festival.txt" not in scratch_engine.index.documents


def test_processed_and_refused_uploads_leave_the_temp_folder(scratch_engine, tmp_path):
    temp = tmp_path / "gradio"
    good, bad, empty = temp / "h1" / "zarvon_festival.txt", temp / "h2" / "photo.png", temp / "h3" / "blank.txt"
    for path in (good, bad, empty):
        path.parent.mkdir(parents=True)
    good.write_text(XSS_ARTICLE, encoding="utf-8")
    bad.write_bytes(b"\x89PNG")
    empty.write_text("")
    outside = tmp_path / "mine.txt"
    outside.write_text(XSS_ARTICLE, encoding="utf-8")
    upload = make_handlers(scratch_engine, upload_root=temp)["upload"]
    message, rows, header, files = upload([str(good), str(bad), str(empty), str(outside)])
    assert "Added 2 articles" in message and "photo.png" in message and "blank.txt" in message
    assert files is None and "/" not in message.replace("upload/", "")
    assert list(temp.iterdir()) == []  # the files and the folders gradio made for them
    assert outside.is_file()  # never anything outside gradio's folder
    assert (scratch_engine.index_dir / "uploads" / "zarvon_festival.txt").is_file()


def test_runner_up_answers_are_listed_under_the_answer(engine):
    answer = engine.ask("What reward did the US offer for information on Hafiz Saeed?", answers=3, threshold=0.0)
    assert answer.alternatives, "with nothing withheld there are runners-up"
    text = fmt.answer_markdown(answer)
    assert "Other possible answers" in text
    assert text.index(fmt.escape_inline(answer.answer)) < text.index("Other possible answers")
    for other in answer.alternatives:
        assert fmt.escape_inline(other.answer) in text


def test_the_page_runs_unchanged_on_a_milvus_index(tmp_path, embedder):
    from conftest import store_config

    index_dir = tmp_path / "index"
    build_index(load_documents([SAMPLE_CORPUS]).documents, index_dir, embedder, store_config("milvus", tmp_path))
    engine = Engine(index_dir, embedder)
    assert engine.index.config.store.kind == "milvus"
    article = tmp_path / "zarvon_festival.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    message, changed = add_uploads(engine, [article])
    assert changed and engine.index.manifest["store"]["kind"] == "milvus"
    answer = engine.ask("When did the Zarvonian harbour festival take place?")
    assert not answer.abstained and answer.citations[0].doc == "upload/zarvon_festival.txt", answer.message
    assert "<script" not in fmt.sources_html(answer, engine.index.document_text)
