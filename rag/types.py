"""Typed records passed between the pipeline stages."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` into a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One article as read from disk.

    ``text`` is the file's text exactly as read (for HTML: the main text trafilatura extracted);
    every offset in the system points into it. ``body`` lists the spans of ``text`` that are
    article content, with page boilerplate left out.
    """

    id: str
    title: str
    date: str | None
    source: str
    text: str
    body: tuple[Span, ...]
    content_hash: str


@dataclass(frozen=True)
class Chunk:
    """A few consecutive sentences of one document, with offsets into its text."""

    doc_id: str
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...]

    @property
    def id(self) -> str:
        return f"{self.doc_id}:{self.start}-{self.end}"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its rank, fused score and the score of each retriever.

    ``duplicates`` lists the other (doc id, start, end) places that carry the same passage,
    near-duplicate articles collapsed into this one result.
    """

    chunk_row: int
    doc_id: str
    title: str
    date: str | None
    start: int
    end: int
    text: str
    rank: int
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    duplicates: tuple[tuple[str, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["doc"] = record.pop("doc_id")
        record["duplicates"] = [
            {"doc": doc, "start": start, "end": end} for doc, start, end in self.duplicates
        ]
        return record


@dataclass(frozen=True)
class Citation:
    """A verbatim quote backing an answer: ``quote == document.text[start:end]``."""

    n: int
    doc: str
    title: str
    date: str | None
    start: int
    end: int
    quote: str


@dataclass
class Answer:
    """The reply to one question.

    ``answer`` is None when the articles do not hold the answer (``abstained``); the closest
    passages are still listed as related reading.
    """

    question: str
    answer: str | None
    sentence: str | None
    abstained: bool
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    message: str = ""
    answer_span: Span | None = None
    evidence: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    alternatives: list["Answer"] = field(default_factory=list)  # runner-up answers, best first
    reader: dict[str, str] = field(default_factory=dict)  # which reader checkpoint answered

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of ``rag ask --json``."""
        record: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "sentence": self.sentence,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "message": self.message,
            "citations": [dataclasses.asdict(c) for c in self.citations],
            "passages": [
                {
                    "doc": p.doc_id,
                    "title": p.title,
                    "date": p.date,
                    "start": p.start,
                    "end": p.end,
                    "text": p.text,
                    "score": round(p.score, 6),
                }
                for p in self.passages
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "evidence": {k: round(v, 4) for k, v in self.evidence.items()},
            "alternatives": [
                {
                    "answer": a.answer, "sentence": a.sentence, "confidence": round(a.confidence, 4),
                    "citations": [dataclasses.asdict(c) for c in a.citations],
                }
                for a in self.alternatives
            ],
        }
        if self.reader:
            record["reader"] = dict(self.reader)
        if self.error is not None:
            record["error"] = self.error
        return record
