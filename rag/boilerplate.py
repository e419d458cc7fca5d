"""Where the article is in a scraped page: its body (page boilerplate left out), headline and date.

``find_body(text)`` gives the character spans of the article's own lines; everything else in the
file (menus, share buttons, "read more" lists, sign-up boxes, a cut tail) stays in the text, so
offsets into the original file hold, but is never chunked.
"""
from __future__ import annotations

import re
from datetime import date as Date
from typing import Iterator, Sequence

from rag.types import Document, Span

# Every pattern here runs in time linear in the line: none starts with ``.*``, and the rules only
# look at lines of furniture size (a line longer than _MAX_FURNITURE_CHARS is never boilerplate).
_MAX_FURNITURE_CHARS = 1000
# A line of this many words is prose; the article has begun once one is kept.
_PARAGRAPH_WORDS = 20

# A line matching one of these (matched from its start, to its end) is never article content.
_DROP_LINE = re.compile(
    r"""(?:
        (?:also|read)\s+(?:read|also|more)\b.*            # "ALSO READ: ...", "Read more"
      | see\s+also\b.*
      | follow\s+us\b.*
      | text\s+size\b.*
      | go\s*to\s*top | back\s+to\s+top
      | share\s+(?:this|on|via)\b.*
      | (?:tweet|print|email|advertisement|sponsored|comments?|tags?:.*)
      | \d+\s+comments?
      | \d+\s+mins?\s+read
      | scorecardresearch
      | issn\s+\d{4}-\d{3}[\dx]
      | subscribe\b.*
      | accept(?:\s+all)?(?:\s+cookies)?
      | your\s+email\s+address\s+will\s+not\s+be\s+published.*
      | please\s+enter\s+your\s+(?:comment|name|email).*
      | required\s+fields\s+are\s+marked.*
      | save\s+my\s+name,?\s+email.*
      | (?:copyright\s*)?©.*
      | !?\[[^\]]*\]\([^)]*\)                              # a Markdown image or link on its own
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# A line holding one of these anywhere is never article content (found with one left-to-right scan).
_DROP_IF_CONTAINS = re.compile(
    r"""\btake\s+a\s+paid\s+subscription\b
      | \bsupport\s+from\s+(?:wonderful\s+)?readers\b
      | \b(?:uses|use)\s+cookies\b
      | \bcookie\s+(?:policy|settings|preferences)\b
      | \ball\s+rights\s+reserved\b""",
    re.IGNORECASE | re.VERBOSE,
)
_SIGN_UP = re.compile(r"\bsign\s+up\b", re.IGNORECASE)
_NEWSLETTER = re.compile(r"newsletter", re.IGNORECASE)
_NEWSLETTER_WORD = re.compile(r"\bnewsletter\b", re.IGNORECASE)


def _is_dropped_line(line: str) -> bool:
    """Whether a (trimmed, furniture-sized) line is page boilerplate."""
    if _DROP_LINE.fullmatch(line) or _DROP_IF_CONTAINS.search(line):
        return True
    # "Sign up for our newsletters…", or "…newsletter… sign up…": each is one scan, where a
    # single ".*newsletter.*sign up.*" pattern backtracks once per "newsletter" in the line
    sign_up = _SIGN_UP.match(line)
    if sign_up and _NEWSLETTER.search(line, sign_up.end()):
        return True
    newsletter = _NEWSLETTER_WORD.search(line)
    return bool(newsletter and _SIGN_UP.search(line, newsletter.end()))


# A line matching one of these starts the page furniture below the article: teaser lists,
# comment forms, appeals. Everything from it on is dropped once the article has begun.
_TAIL_MARKER = re.compile(
    r"""(?:
        (?:previous|next|prev)\s+(?:story|article|post)
      | latest\s+(?:from|news|stories|articles)\b.*
      | don[’']?t\s+miss
      | most\s+(?:popular|read|viewed|shared)
      | leave\s+a\s+(?:reply|comment)
      | (?:related|more)\s+(?:stories|articles|posts|news)
      | related
      | you\s+(?:may|might)\s+also\s+like
      | recommended(?:\s+for\s+you)?
      | more\s+from\b.*
      | support\s+(?:our|independent|quality)\s+journalism
      | trending(?:\s+now)?
    )\s*:?""",
    re.IGNORECASE | re.VERBOSE,
)

# Breadcrumbs are glued words such as "HomeDiplomacyPakistan PM ...".
_BREADCRUMB = re.compile(r"^Home(?:[A-Z][a-z]+){1,}|^Home\s*[»>/|]")

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = (
    re.compile(r"(?P<year>(?:19|20)\d\d)-(?P<mnum>[01]\d)-(?P<day>[0-3]\d)\b"),
    re.compile(_MONTH + r"\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?,?\s+(?P<year>(?:19|20)\d\d)\b", re.I),
    re.compile(r"\b(?P<day>[0-3]?\d)(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(?P<year>(?:19|20)\d\d)\b", re.I),
)
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
# "\s*(?::\s*)?" and not "\s*:?\s*": two adjacent "\s*" split a long run of spaces in n ways
_DATE_LABEL = r"(?:date|published|posted|updated)\s*(?::\s*)?"
_DATE_PREFIX = re.compile(r"\s*" + _DATE_LABEL + r"(?:19|20)\d\d-[01]\d-[0-3]\d\s*", re.I)
_DATE_LABEL_PREFIX = re.compile(_DATE_LABEL, re.I)
_WEEKDAY_PREFIX = re.compile(_WEEKDAY, re.I)




def parse_date(text: str) -> str | None:
    """The first calendar date written in ``text``, as ISO ``YYYY-MM-DD``, or None."""
    best: tuple[int, str] | None = None
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        parts = match.groupdict()
        month = int(parts["mnum"]) if parts.get("mnum") else _MONTHS[parts["month"].lower()]
        try:
            iso = Date(int(parts["year"]), month, int(parts["day"])).isoformat()
        except ValueError:
            continue
        if best is None or match.start() < best[0]:
            best = (match.start(), iso)
    return best[1] if best else None


def _is_date_line(line: str) -> bool:
    """A line holding nothing but a date (with an optional label) is page metadata."""
    stripped = line.strip()
    label = _DATE_LABEL_PREFIX.match(stripped)
    if label:
        stripped = stripped[label.end() :]
    stripped = stripped[_WEEKDAY_PREFIX.match(stripped).end() :]
    return any(p.fullmatch(stripped) for p in _DATE_PATTERNS)


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every line of ``text``, without its line break."""
    position = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        yield position, position + len(content)
        position += len(line)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    line = text[start:end]
    stripped = line.lstrip()
    if not stripped:
        return start, start
    return start + len(line) - len(stripped), end - (len(stripped) - len(stripped.rstrip()))


def find_body(text: str) -> tuple[Span, ...]:
    """Spans of ``text`` that are article content: one per kept line, boilerplate left out.

    Lines that are page furniture (navigation, share and follow links, subscription and
    cookie notices, comment forms, "Also read" links, bare date lines) are dropped. A teaser or
    comment section header ("Latest from…", "Next Story", "Leave a Reply", …) met after the
    article has begun drops everything below it, but only when that looks like a page's tail:
    it holds less prose (lines of 20 words or more) than the article above the header. Otherwise
    (a file of whole pages one after another, a subheading that happens to read "Related") only
    the header line is dropped. Time is linear in the length of ``text``.
    """
    lines: list[tuple[int, int, int]] = []  # trimmed (start, end, words) of every non-blank line
    for line_start, line_end in _lines(text):
        start, end = _trim(text, line_start, line_end)
        if start < end:
            lines.append((start, end, len(text[start:end].split())))
    # prose (words in lines of _PARAGRAPH_WORDS or more) from each line to the end, in one pass
    prose_from = [0] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        words = lines[i][2]
        prose_from[i] = prose_from[i + 1] + (words if words >= _PARAGRAPH_WORDS else 0)

    spans: list[Span] = []
    article_started = False
    prose_above = 0  # prose kept since the article (or the last header that cut nothing) began
    for i, (start, end, words) in enumerate(lines):
        furniture_sized = end - start <= _MAX_FURNITURE_CHARS
        line = text[start:end] if furniture_sized else ""
        if furniture_sized and _TAIL_MARKER.fullmatch(line):
            if article_started and prose_from[i + 1] < prose_above:
                break
            prose_above = 0
            continue
        if furniture_sized and (_is_dropped_line(line) or _BREADCRUMB.match(line) or _is_date_line(line)):
            continue
        prefix = _DATE_PREFIX.match(line) if furniture_sized else None
        if prefix:
            start, end = _trim(text, start + prefix.end(), end)
            if start == end:
                continue
            words = len(text[start:end].split())
        spans.append(Span(start, end))
        if words >= _PARAGRAPH_WORDS:
            article_started = True
            prose_above += words
    return tuple(spans)


def dropped_share(document: Document) -> float:
    """The share of the document's words left out of its body (page boilerplate, a cut tail)."""
    total = len(document.text.split())
    if not total:
        return 0.0
    kept = sum(len(document.text[s.start : s.end].split()) for s in document.body)
    return max(0.0, 1.0 - kept / total)


def _headline(text: str, body: Sequence[Span]) -> str | None:
    """The headline: the first kept line that is short and not a sentence."""
    for span in body[:5]:
        line = text[span.start : span.end].lstrip("#").strip()
        words = line.split()
        if 2 <= len(words) <= 25 and not line.endswith((".", "…", ":")):
            return line
    return None


def _first_sentence(text: str, body: Sequence[Span], doc_id: str) -> str:
    if not body:
        return doc_id
    first = text[body[0].start : body[0].end]
    first = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    return first if len(first) <= 90 else first[:87].rsplit(" ", 1)[0] + "…"


def page_title(text: str, body: Sequence[Span], doc_id: str) -> str:
    """The article's headline: the first kept line that reads like one, else the start of its first
    sentence, else ``doc_id``."""
    return _headline(text, body) or _first_sentence(text, body, doc_id)


# The date is looked for near the top only (the first 15 lines, at most this many characters):
# further down, dates are those of the events reported.
_HEADER_CHARS = 4096


def page_date(text: str, given: str | None = None) -> str | None:
    """The article's date as ISO ``YYYY-MM-DD``: ``given`` (a date field in any written form) when
    it parses, else the first date near the top of ``text``."""
    header = "\n".join(text[:_HEADER_CHARS].splitlines()[:15])
    return (parse_date(given[:_HEADER_CHARS]) if given else None) or parse_date(header)
