"""Training and validation examples for the reader: SQuAD 2.0 files and generated questions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class ReaderExample:
    """One question over one context window.

    ``answer_start`` is a character offset into ``context`` and ``answer_text`` the answer
    copied from it; both are None when the context does not answer the question (the
    no-answer signal). ``group`` names the article, so splits keep whole articles apart.
    """

    qid: str
    question: str
    context: str
    answer_start: int | None
    answer_text: str | None
    group: str
    source: str  # "squad" or "synthetic"

    @property
    def answerable(self) -> bool:
        return self.answer_start is not None

    def to_dict(self) -> dict:
        return {
            "qid": self.qid, "question": self.question, "context": self.context,
            "answer_start": self.answer_start, "answer_text": self.answer_text,
            "group": self.group, "source": self.source,
        }

    @classmethod
    def from_dict(cls, record: dict) -> "ReaderExample":
        return cls(**{k: record.get(k) for k in (
            "qid", "question", "context", "answer_start", "answer_text", "group", "source")})


def read_squad(path: Path | str) -> Iterator[ReaderExample]:
    """Every question of a SQuAD 2.0 JSON file over its paragraph; the first gold answer is
    the target, unanswerable questions have none. ``group`` is the article title."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                first = answers[0] if answers else None
                yield ReaderExample(
                    qid=qa["id"], question=qa["question"], context=context,
                    answer_start=first["answer_start"] if first else None,
                    answer_text=first["text"] if first else None,
                    group=article["title"], source="squad",
                )


def write_examples(examples, path: Path | str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")


def read_examples(path: Path | str) -> list[ReaderExample]:
    with open(path, encoding="utf-8") as handle:
        return [ReaderExample.from_dict(json.loads(line)) for line in handle if line.strip()]
