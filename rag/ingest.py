"""Read articles from disk (.txt, .md, .html, .jsonl) into Documents, page boilerplate marked out."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.types import Document, Span

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
SAMPLE_CORPUS = Path(__file__).parent / "data" / "sample"


@dataclass(frozen=True)
class IngestProblem:
    """An input that was skipped, and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"skipped {where}: {self.reason}"


@dataclass(frozen=True)
class IngestResult:
    documents: list[Document]
    problems: list[IngestProblem]


class IngestError(ValueError):
    """An input that cannot be read as an article."""


# --- page boilerplate -------------------------------------------------------------------------
# A line matching one of these is never article content.
_DROP_LINE = re.compile(
    r"""^(?:
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
      | sign\s+up\b.*newsletter.*
      | .*\bnewsletter\b.*\bsign\s+up\b.*
      | .*\btake\s+a\s+paid\s+subscription\b.*
      | .*\bsupport\s+from\s+(?:wonderful\s+)?readers\b.*
      | .*\b(?:uses|use)\s+cookies\b.*
      | .*\bcookie\s+(?:policy|settings|preferences)\b.*
      | accept(?:\s+all)?(?:\s+cookies)?
      | your\s+email\s+address\s+will\s+not\s+be\s+published.*
      | please\s+enter\s+your\s+(?:comment|name|email).*
      | required\s+fields\s+are\s+marked.*
      | save\s+my\s+name,?\s+email.*
      | (?:copyright\s*)?©.* | .*\ball\s+rights\s+reserved\b.*
      | !?\[[^\]]*\]\([^)]*\)                              # a Markdown image or link on its own
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# A line matching one of these starts the page furniture below the article: teaser lists,
# comment forms, appeals. Everything from it on is dropped once the article has begun.
_TAIL_MARKER = re.compile(
    r"""^(?:
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
    )\s*:?$""",
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
_DATE_PREFIX = re.compile(
    r"^\s*(?:date|published|posted|updated)\s*:?\s*(?:19|20)\d\d-[01]\d-[0-3]\d\s*", re.I
)


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
    stripped = re.sub(r"^(?:date|published|posted|updated)\s*:?\s*", "", line.strip(), flags=re.I)
    stripped = re.sub(r"^" + _WEEKDAY, "", stripped, flags=re.I)
    return any(p.fullmatch(stripped) for p in _DATE_PATTERNS)


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every line of ``text``, without its line break."""
    position = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        yield position, position + len(content)
        position += len(line)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def find_body(text: str) -> tuple[Span, ...]:
    """Spans of ``text`` that are article content: one per kept line, boilerplate left out.

    Lines that are page furniture (navigation, share and follow links, subscription and
    cookie notices, comment forms, "Also read" links, bare date lines) are dropped; a teaser or
    comment section header ("Latest from…", "Next Story", "Leave a Reply", …) met after the
    article has begun drops everything below it.
    """
    spans: list[Span] = []
    article_started = False
    for line_start, line_end in _lines(text):
        start, end = _trim(text, line_start, line_end)
        if start == end:
            continue
        line = text[start:end]
        if _TAIL_MARKER.match(line):
            if article_started:
                break
            continue
        if _DROP_LINE.match(line) or _BREADCRUMB.match(line) or _is_date_line(line):
            continue
        prefix = _DATE_PREFIX.match(line)
        if prefix:
            start, end = _trim(text, start + prefix.end(), end)
            if start == end:
                continue
        spans.append(Span(start, end))
        if len(text[start:end].split()) >= 20:
            article_started = True
    return tuple(spans)


def _title_from_body(text: str, body: Sequence[Span]) -> str | None:
    """The headline: the first kept line that is short and not a sentence."""
    for span in body[:5]:
        line = text[span.start : span.end].lstrip("#").strip()
        words = line.split()
        if 2 <= len(words) <= 25 and not line.endswith((".", "…", ":")):
            return line
    return None


def _fallback_title(text: str, body: Sequence[Span], doc_id: str) -> str:
    if not body:
        return doc_id
    first = text[body[0].start : body[0].end]
    first = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    return first if len(first) <= 90 else first[:87].rsplit(" ", 1)[0] + "…"


def make_document(
    doc_id: str,
    text: str,
    source: str,
    *,
    title: str | None = None,
    date: str | None = None,
) -> Document:
    """Build a Document from raw text: find the body, title and date when not given."""
    if not text.strip():
        raise IngestError("empty article")
    body = find_body(text)
    if not body:
        raise IngestError("no article text left after removing page boilerplate")
    title = (title or "").strip() or _title_from_body(text, body) or _fallback_title(text, body, doc_id)
    header = "\n".join(text.splitlines()[:15])
    iso_date = (parse_date(date) if date else None) or parse_date(header)
    digest = hashlib.sha256(
        json.dumps([doc_id, title, iso_date, text], ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:32]
    return Document(
        id=doc_id, title=title, date=iso_date, source=source, text=text, body=body,
        content_hash=digest,
    )


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise IngestError("empty file")
    if b"\x00" in data[:8192]:
        raise IngestError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not valid UTF-8 (byte {exc.start})") from None


def _read_html(path: Path, doc_id: str) -> Document:
    import trafilatura  # heavy import, only needed for HTML

    html = _decode(path)
    extracted = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False
    )
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip():
        raise IngestError("no article text found in the HTML")
    return make_document(
        doc_id, text, str(path),
        title=getattr(extracted, "title", None), date=getattr(extracted, "date", None),
    )


def _read_jsonl(path: Path, id_prefix: str) -> tuple[list[Document], list[IngestProblem]]:
    documents: list[Document] = []
    problems: list[IngestProblem] = []
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise IngestError("a line must be a JSON object")
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                raise IngestError('missing or empty "text" field')
            doc_id = str(record.get("id") or f"{id_prefix}#{number}")
            documents.append(
                make_document(
                    doc_id, text, str(record.get("url") or path),
                    title=_optional_str(record.get("title")), date=_optional_str(record.get("date")),
                )
            )
        except json.JSONDecodeError as exc:
            problems.append(IngestProblem(str(path), f"malformed JSON ({exc.msg})", number))
        except IngestError as exc:
            problems.append(IngestProblem(str(path), str(exc), number))
    return documents, problems


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def read_file(path: Path, doc_id: str) -> tuple[list[Document], list[IngestProblem]]:
    """Read one file into Documents (several for JSONL); problems are returned, not raised."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return _read_jsonl(path, doc_id)
        if suffix in (".html", ".htm"):
            return [_read_html(path, doc_id)], []
        if suffix in (".txt", ".md", ".markdown"):
            return [make_document(doc_id, _decode(path), str(path))], []
        raise IngestError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    except IngestError as exc:
        return [], [IngestProblem(str(path), str(exc))]
    except OSError as exc:
        return [], [IngestProblem(str(path), f"cannot read ({exc.strerror or exc})")]


def _files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Every input file with its document id: the path relative to the folder it was found in."""
    for root in paths:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES and not any(
                    part.startswith(".") for part in path.relative_to(root).parts
                ):
                    yield path, path.relative_to(root).as_posix()
        else:
            yield root, root.name


def load_documents(paths: Sequence[Path | str]) -> IngestResult:
    """Read every article under ``paths`` (folders are searched recursively).

    Unreadable inputs are skipped and reported in ``problems``; a missing path raises
    ``FileNotFoundError``. Document ids are unique: a repeated id is reported and skipped.
    """
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
    documents: list[Document] = []
    problems: list[IngestProblem] = []
    seen: set[str] = set()
    for path, doc_id in _files(roots):
        read, skipped = read_file(path, doc_id)
        problems.extend(skipped)
        for document in read:
            if document.id in seen:
                problems.append(IngestProblem(str(path), f"duplicate document id {document.id!r}"))
                continue
            seen.add(document.id)
            documents.append(document)
    return IngestResult(documents, problems)
