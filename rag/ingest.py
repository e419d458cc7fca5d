"""Read articles from disk (.txt, .md, .html, .jsonl) into Documents, page boilerplate marked out."""
from __future__ import annotations

import codecs
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.types import Document, Span

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
SAMPLE_CORPUS = Path(__file__).parent / "data" / "sample"
# A document losing more than this share of its words as page boilerplate is reported.
MAX_QUIET_DROPPED_SHARE = 0.4


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
class IngestWarning:
    """An input that was read, with something the user should know (its encoding was guessed,
    much of it was left out as page boilerplate)."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class IngestResult:
    documents: list[Document]
    problems: list[IngestProblem]
    warnings: list[IngestWarning] = field(default_factory=list)


class IngestError(ValueError):
    """An input that cannot be read as an article."""


# --- page boilerplate -------------------------------------------------------------------------
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


_HEADER_CHARS = 4096


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
    # the date is looked for near the top only: the first 15 lines, at most _HEADER_CHARS
    header = "\n".join(text[:_HEADER_CHARS].splitlines()[:15])
    iso_date = (parse_date(date[:_HEADER_CHARS]) if date else None) or parse_date(header)
    digest = hashlib.sha256(
        json.dumps([doc_id, title, iso_date, text], ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:32]
    return Document(
        id=doc_id, title=title, date=iso_date, source=source, text=text, body=body,
        content_hash=digest,
    )


# Bytes that never occur in text: NUL and the C0 controls other than \t \n \v \f \r and ESC.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # Windows "ANSI" first; latin-1 decodes any byte


def _decode(path: Path) -> tuple[str, str | None]:
    """The file's text, and the encoding it was read with when that is not UTF-8.

    UTF-8 (with or without a byte-order mark) is tried first, then cp1252 and latin-1, so a text
    file saved in a legacy encoding is read, not lost; the caller warns about the guess. A binary
    file (NUL bytes, or more than 5% control bytes in its first 8 KB) is refused.
    """
    data = path.read_bytes()
    if not data.strip():
        raise IngestError("empty file")
    head = data[:8192]
    if b"\x00" in data or len(head.translate(None, _CONTROL_BYTES)) < 0.95 * len(head):
        raise IngestError("binary file (contains NUL or control bytes)")
    try:
        return data.decode("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"), None
    except UnicodeDecodeError:
        pass
    for encoding in _FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _encoding_warning(path: Path, encoding: str) -> IngestWarning:
    return IngestWarning(str(path), f"not UTF-8; read as {encoding}")


def _boilerplate_warning(path: Path, document: Document, line: int | None = None) -> IngestWarning | None:
    share = dropped_share(document)
    if share <= MAX_QUIET_DROPPED_SHARE:
        return None
    return IngestWarning(
        str(path), f"{share:.0%} of {document.id!r} left out as page boilerplate", line
    )


def _read_html(path: Path, doc_id: str) -> tuple[Document, str | None]:
    import trafilatura  # heavy import, only needed for HTML

    html, encoding = _decode(path)
    extracted = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=False
    )
    text = getattr(extracted, "text", None) if extracted is not None else None
    if not text or not text.strip():
        raise IngestError("no article text found in the HTML")
    return make_document(
        doc_id, text, str(path),
        title=getattr(extracted, "title", None), date=getattr(extracted, "date", None),
    ), encoding


def _read_jsonl(path: Path, id_prefix: str) -> tuple[list[Document], list[IngestProblem], list[IngestWarning]]:
    documents: list[Document] = []
    problems: list[IngestProblem] = []
    warnings: list[IngestWarning] = []
    text, encoding = _decode(path)
    if encoding:
        warnings.append(_encoding_warning(path, encoding))
    for number, line in enumerate(text.splitlines(), start=1):
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
            document = make_document(
                doc_id, text, str(record.get("url") or path),
                title=_optional_str(record.get("title")), date=_optional_str(record.get("date")),
            )
            documents.append(document)
            warning = _boilerplate_warning(path, document, number)
            if warning:
                warnings.append(warning)
        except json.JSONDecodeError as exc:
            problems.append(IngestProblem(str(path), f"malformed JSON ({exc.msg})", number))
        except IngestError as exc:
            problems.append(IngestProblem(str(path), str(exc), number))
    return documents, problems, warnings


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def read_file(
    path: Path, doc_id: str, warnings: list[IngestWarning] | None = None
) -> tuple[list[Document], list[IngestProblem]]:
    """Read one file into Documents (several for JSONL); problems are returned, not raised.

    Notes on what was read (a legacy encoding, much boilerplate left out) are appended to
    ``warnings`` when a list is given.
    """
    documents, problems, notes = _read(path, doc_id)
    if warnings is not None:
        warnings.extend(notes)
    return documents, problems


def _read(path: Path, doc_id: str) -> tuple[list[Document], list[IngestProblem], list[IngestWarning]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return _read_jsonl(path, doc_id)
        if suffix in (".html", ".htm"):
            document, encoding = _read_html(path, doc_id)
        elif suffix in (".txt", ".md", ".markdown"):
            text, encoding = _decode(path)
            document = make_document(doc_id, text, str(path))
        else:
            raise IngestError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    except IngestError as exc:
        return [], [IngestProblem(str(path), str(exc))], []
    except OSError as exc:
        return [], [IngestProblem(str(path), f"cannot read ({exc.strerror or exc})")], []
    warnings = [_encoding_warning(path, encoding)] if encoding else []
    warning = _boilerplate_warning(path, document)
    if warning:
        warnings.append(warning)
    return [document], [], warnings


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


def load_documents(paths: Sequence[Path | str], progress: bool = False) -> IngestResult:
    """Read every article under ``paths`` (folders are searched recursively).

    Unreadable inputs are skipped and reported in ``problems``; a missing path raises
    ``FileNotFoundError``. Document ids are unique: a repeated id is reported and skipped.
    Files read with a guessed encoding, or with much of their text left out as boilerplate, are
    kept and reported in ``warnings``. ``progress`` shows a bar on stderr while files are read.
    """
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
    documents: list[Document] = []
    problems: list[IngestProblem] = []
    warnings: list[IngestWarning] = []
    seen: set[str] = set()
    files = list(_files(roots))
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="reading", unit="file", file=sys.stderr)
    for path, doc_id in files:
        read, skipped, notes = _read(path, doc_id)
        problems.extend(skipped)
        warnings.extend(notes)
        for document in read:
            if document.id in seen:
                problems.append(IngestProblem(str(path), f"duplicate document id {document.id!r}"))
                continue
            seen.add(document.id)
            documents.append(document)
    return IngestResult(documents, problems, warnings)
