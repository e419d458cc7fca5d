"""The chat page's building blocks, called directly over a real index built from the sample corpus:
HTML escaping and highlighting at exact offsets, chat messages and sources, feedback, the /ask API.
(Uploads: tests/test_ui_uploads.py; settings and history checks: tests/test_ui_inputs.py.)"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rag.store import FEEDBACK_FILE
from ui import format as fmt
from ui.app import make_handlers
from ui.inputs import MAX_HISTORY_ITEMS

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEDIATE = "How much money is Russia putting into the gas pipeline?"
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
    text = "Säo <b>Paulo</b> & co. — Café naïve “quotes” &amp; on 3 March 2021, 🙂 end"
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
    assert '<mark class="quote" id="rag-quote-1">' in panel


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


# --- feedback and the /ask API -----------------------------------------------------------------

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


# --- escaping once, history limits ---------------------------------------------------------------

REWARD = "What reward did the US offer for information on Hafiz Saeed?"


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


def test_runner_up_answers_are_listed_under_the_answer(engine):
    answer = engine.ask("What reward did the US offer for information on Hafiz Saeed?", answers=3, threshold=0.0)
    assert answer.alternatives, "with nothing withheld there are runners-up"
    text = fmt.answer_markdown(answer)
    assert "Other possible answers" in text
    assert text.index(fmt.escape_inline(answer.answer)) < text.index("Other possible answers")
    for other in answer.alternatives:
        assert fmt.escape_inline(other.answer) in text


