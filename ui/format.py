"""HTML and Markdown for the chat page: answers, sources, whole articles, the corpus table.

Every piece of article text is escaped once, for where it goes, after the raw text has been
split at its offsets, so highlight tags land on exact characters and nothing in an article
(``<script>``, ``<img onerror=…>``, template syntax) is ever interpreted by the browser:

* :func:`escape` for HTML (the sources panel, a gr.HTML): tags and quotes become entities, and so
  do the characters of gr.HTML's template syntax (``$``, braces, backticks, backslashes);
* :func:`escape_inline` for the chat's Markdown: ``<``, ``>`` and ``&`` become entities (no
  HTML from an article is ever parsed) and Markdown's punctuation is backslash-escaped, so
  ``$10`` reads "$10" and "Khan's" reads "Khan's": no entity is ever escaped a second time.
  The chat renders no LaTeX (``latex_delimiters=[]``) and ``$`` is escaped besides.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Iterable, Sequence

from rag.types import Answer, Citation

SNIPPET_CHARS = 180
RELATED_IN_CHAT = 3
RELATED_SNIPPET_CHARS = 320

# Characters that gr.HTML's template engine would read as syntax (HTML context only).
_HTML_EXTRA = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;", "\\": "&#92;"})
# Markdown punctuation, escaped with a backslash in chat text. ``&``, ``<`` and ``>`` are not in
# it: they become entities, and an entity holds none of these characters (``&amp;`` ``&lt;``).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~$])")
# A list marker where a message starts ("- ", "+ ", "1. ", "2) "), which would make it a list.
_LIST_START = re.compile(r"^([-+]|\d{1,9}(?=[.)]))")
_MARKDOWN_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """``text`` as inert HTML: tags, quotes and template/Markdown syntax become entities."""
    return html.escape(text, quote=True).translate(_HTML_EXTRA)


def escape_inline(text: str) -> str:
    """``text`` for one line of the chat's Markdown, escaped once: ``&<>`` as entities (so no
    HTML in it is parsed), Markdown punctuation (``$`` included) backslash-escaped, runs of
    whitespace (line breaks included) collapsed to one space. Quotes and apostrophes stay as
    they are: in Markdown text they are not syntax."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", _SPACES.sub(" ", text)).translate(_MARKDOWN_HTML)
    return _LIST_START.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), escaped)


def render_marked(
    text: str,
    spans: Sequence[tuple[int, int, str]],
    *,
    escaper: Callable[[str], str] = escape,
    mark_ids: dict[str, str] | None = None,
) -> str:
    """``text`` with ``<mark class=CLS>`` around each ``(start, end, CLS)`` half-open range.

    The raw text is split at the offsets first and each piece escaped on its own, so tags sit at
    exactly the given characters. Spans are clipped to the text; a span that crosses an earlier
    one is clipped to fit inside it (spans nest, they never interleave); empty spans are dropped.
    ``mark_ids`` maps a class to an ``id`` for its (first) mark, to scroll to it.
    """
    n = len(text)
    ordered = sorted(
        ((max(0, min(s, n)), max(0, min(e, n)), cls) for s, e, cls in spans),
        key=lambda span: (span[0], -span[1]),
    )
    kept: list[tuple[int, int, str]] = []
    stack: list[tuple[int, int, str]] = []
    for start, end, cls in ordered:
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack:
            end = min(end, stack[-1][1])
        if end <= start:
            continue
        kept.append((start, end, cls))
        stack.append((start, end, cls))

    ids = dict(mark_ids or {})
    out: list[str] = []
    open_ends: list[int] = []
    position = 0

    def close_until(limit: int) -> None:
        nonlocal position
        while open_ends and open_ends[-1] <= limit:
            end = open_ends.pop()
            out.append(escaper(text[position:end]))
            out.append("</mark>")
            position = end

    for start, end, cls in kept:
        close_until(start)
        out.append(escaper(text[position:start]))
        position = start
        id_attr = f' id="{escape(ids.pop(cls))}"' if cls in ids else ""
        out.append(f'<mark class="{escape(cls)}"{id_attr}>')
        open_ends.append(end)
    close_until(n)
    out.append(escaper(text[position:]))
    return "".join(out)


def highlight(text: str, start: int, end: int, cls: str = "hl") -> str:
    """``text`` escaped, with one ``<mark>`` around ``text[start:end]``."""
    return render_marked(text, [(start, end, cls)])


# --- where the short answer sits -----------------------------------------------------------------

def answer_offsets_in(answer: Answer, citation: Citation) -> tuple[int, int] | None:
    """Offsets of the short answer inside ``citation.quote`` (relative to the quote), or None.

    The first citation is the answer's own sentence: ``answer.answer_span`` locates it exactly.
    Other citations carry the same answer in other words around it; it is looked up by text.
    """
    if not answer.answer:
        return None
    span = answer.answer_span
    if span is not None and citation.n == 1 and citation.start <= span.start and span.end <= citation.end:
        start, end = span.start - citation.start, span.end - citation.start
        if citation.quote[start:end] == answer.answer:
            return start, end
    found = citation.quote.lower().find(answer.answer.lower())
    if found < 0:
        return None
    return found, found + len(answer.answer)


def _sentence_offsets(answer: Answer) -> tuple[int, int] | None:
    """Offsets of the short answer inside ``answer.sentence``."""
    if not answer.sentence or not answer.answer:
        return None
    if answer.citations and answer.citations[0].quote == answer.sentence:
        found = answer_offsets_in(answer, answer.citations[0])
        if found:
            return found
    at = answer.sentence.find(answer.answer)
    return (at, at + len(answer.answer)) if at >= 0 else None


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of ``text`` on one line, cut at a word, with "…"."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


# --- chat messages ------------------------------------------------------------------------------

def _meta_line(parts: Iterable[str]) -> str:
    return '<span class="rag-meta">' + " · ".join(escape(p) for p in parts if p) + "</span>"


def answer_markdown(answer: Answer) -> str:
    """The assistant's chat message for ``answer``: Markdown with a little inline HTML."""
    if answer.error:
        message = answer.message or answer.error
        return f"**Can't ask that:** {escape_inline(message[:1].upper() + message[1:])}"
    if answer.abstained or not answer.answer:
        lines = ["**Not in these articles:** I could not find an answer in the indexed articles."]
        related: list = []  # the best passage of each article, best articles first
        for passage in answer.passages:
            if len(related) < RELATED_IN_CHAT and all(p.doc_id != passage.doc_id for p in related):
                related.append(passage)
        if related:
            lines += ["", "Closest passages:", ""]
            for passage in related:
                date = f" ({escape_inline(passage.date)})" if passage.date else ""
                lines.append(f"- **{escape_inline(passage.title)}**{date} — {escape_inline(snippet(passage.text, 140))}")
        lines += ["", _meta_line([f"confidence {answer.confidence:.0%}"])]
        return "\n".join(lines)

    sentence = answer.sentence or answer.answer
    offsets = _sentence_offsets(answer)
    if offsets:
        quoted = render_marked(sentence, [(offsets[0], offsets[1], "answer")], escaper=escape_inline)
    else:
        quoted = escape_inline(sentence)
    markers = " ".join(f'<a class="cite" href="#rag-src-{c.n}">[{c.n}]</a>' for c in answer.citations)
    sources = len({c.doc for c in answer.citations})
    lines = [
        f"**{escape_inline(answer.answer)}**",
        "",
        f"“{quoted.strip()}” {markers}".rstrip(),
        "",
        _meta_line([
            f"confidence {answer.confidence:.0%}",
            f"{sources} article{'s' if sources != 1 else ''}",
        ]),
    ]
    if answer.alternatives:
        lines += ["", "Other possible answers:", ""]
        for other in answer.alternatives:
            source = other.citations[0]
            lines.append(
                f"- **{escape_inline(other.answer or '')}** — "
                + _meta_line([f"confidence {other.confidence:.0%}", source.title or source.doc])
            )
    return "\n".join(lines)


# --- the sources panel --------------------------------------------------------------------------

SOURCES_PLACEHOLDER = (
    '<div class="rag-sources rag-empty">'
    "<p><b>Sources</b> appear here after you ask.</p>"
    "<p>Every answer is copied word for word from an article: each quote is numbered like the "
    "markers in the answer, and you can open the whole article with the quote highlighted.</p>"
    '<p class="rag-how"><b>How answers are made.</b> The question is matched against every passage '
    "by meaning and by keywords; the best sentence is quoted as it stands and the short answer "
    "inside it is highlighted. When no sentence is a confident match, the page says so and lists "
    "the closest passages instead of guessing. Rate answers with 👍 / 👎 to help tune it.</p>"
    "</div>"
)


def article_html(text: str, start: int, end: int, inner: tuple[int, int] | None = None, anchor: str | None = None) -> str:
    """A whole article, escaped, with ``[start, end)`` marked (``class="quote"``) and
    ``inner`` (absolute offsets, e.g. the short answer) marked inside it (``class="answer"``)."""
    spans = [(start, end, "quote")]
    if inner is not None:
        spans.append((inner[0], inner[1], "answer"))
    ids = {"quote": anchor} if anchor else None
    return f'<div class="rag-article">{render_marked(text, spans, mark_ids=ids)}</div>'


def _card(
    n: int | None, title: str, date: str | None, doc: str, quote_html: str,
    article: str | None, kind: str,
) -> str:
    number = f'<span class="rag-num">{n}</span>' if n is not None else ""
    anchor = f' id="rag-src-{n}"' if n is not None and kind == "citation" else ""
    meta = " · ".join(escape(p) for p in (date or "undated", doc))
    details = ""
    if article is not None:
        details = (
            '<details class="rag-open"><summary>Open the whole article</summary>'
            f"{article}</details>"
        )
    return (
        f'<div class="rag-card rag-{kind}"{anchor}>'
        f'<div class="rag-card-head">{number}<span class="rag-title">{escape(title)}</span></div>'
        f'<div class="rag-meta">{meta}</div>'
        f'<blockquote class="rag-quote">{quote_html}</blockquote>'
        f"{details}</div>"
    )


def sources_html(answer: Answer, document_text: Callable[[str], str] | None = None) -> str:
    """The sources panel for ``answer``: one card per citation (or related passage when the
    answer was withheld), each with the quote and the whole article behind a disclosure.

    ``document_text(doc_id)`` returns an article's full text; without it the cards carry the
    quotes only.
    """
    def full_text(doc: str) -> str | None:
        if document_text is None:
            return None
        try:
            return document_text(doc)
        except KeyError:
            return None

    if answer.error:
        return SOURCES_PLACEHOLDER
    cards: list[str] = []
    if not answer.abstained and answer.citations:
        heading = f"Sources · {len(answer.citations)} quote{'s' if len(answer.citations) != 1 else ''}"
        for citation in answer.citations:
            inner = answer_offsets_in(answer, citation)
            spans = [(inner[0], inner[1], "answer")] if inner else []
            quote = render_marked(citation.quote, spans)
            text = full_text(citation.doc)
            article = None
            if text is not None:
                absolute = (citation.start + inner[0], citation.start + inner[1]) if inner else None
                article = article_html(text, citation.start, citation.end, absolute, f"rag-quote-{citation.n}")
            cards.append(_card(citation.n, citation.title, citation.date, citation.doc, quote, article, "citation"))
    else:
        heading = "No answer found · closest passages"
        for i, passage in enumerate(answer.passages, start=1):
            text = full_text(passage.doc_id)
            article = article_html(text, passage.start, passage.end, None, f"rag-related-{i}") if text is not None else None
            cards.append(_card(i, passage.title, passage.date, passage.doc_id, escape(snippet(passage.text, RELATED_SNIPPET_CHARS)), article, "related"))
        if not cards:
            cards.append('<p class="rag-meta">No passage matched the question or the filters.</p>')
    return f'<div class="rag-sources"><div class="rag-sources-head">{escape(heading)}</div>{"".join(cards)}</div>'


# --- the corpus tab -----------------------------------------------------------------------------

CORPUS_HEADERS = ["Title", "Date", "Document id", "Chunks"]


def corpus_rows(documents: dict) -> list[list]:
    """One row per indexed article (``Index.documents``), newest first, undated last."""
    dated = sorted((d for d in documents.values() if d.date), key=lambda d: (d.date, d.id), reverse=True)
    undated = sorted((d for d in documents.values() if not d.date), key=lambda d: d.id)
    return [[d.title, d.date or "", d.id, int(d.chunk_count)] for d in dated + undated]


def header_html(documents: int, chunks: int) -> str:
    """The page's title line with the size of the corpus."""
    return (
        '<div class="rag-header"><h1>Ask the news archive</h1>'
        f'<p class="rag-sub">{documents} article{"s" if documents != 1 else ""} · {chunks} passages · '
        "answers are quoted word for word from the articles, with sources · runs offline</p></div>"
    )

