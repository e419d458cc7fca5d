"""Read articles from disk (.txt, .md, .html, .jsonl) into Documents, page boilerplate marked out."""
from __future__ import annotations

import codecs
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.boilerplate import dropped_share, find_body, page_date, page_title
from rag.types import Document

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
    title = (title or "").strip() or page_title(text, body, doc_id)
    iso_date = page_date(text, date)
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
