"""Checks on what a user types, shared by the CLI, the Python API and the chat page, so each
refuses the same inputs with the same message."""
from __future__ import annotations

import re
import unicodedata
from datetime import date as Date
from typing import Sequence

from rag.config import AnswerConfig


class QuestionError(ValueError):
    """A question the answerer cannot take (empty, too long, not in English)."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_question(question: str, config: AnswerConfig) -> str:
    """The question with outer white space trimmed; raises QuestionError when it cannot be asked."""
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(question) > config.max_question_chars:
        raise QuestionError(
            f"the question is {len(question)} characters long; the limit is {config.max_question_chars}"
        )
    letters = [c for c in question if c.isalpha()]
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if not letters or latin / len(letters) < 0.5:
        raise QuestionError("the question is not in English; the articles are indexed in English only")
    return question


def check_history(history: Sequence[str], config: AnswerConfig) -> list[str]:
    """Earlier questions of a conversation, each held to the question's length limit."""
    if len(history) > config.max_history_items:
        raise QuestionError(
            f"the history has {len(history)} questions; the limit is {config.max_history_items}"
        )
    checked = []
    for n, item in enumerate(history, 1):
        if not isinstance(item, str):
            raise QuestionError(f"history item {n} is not text")
        if len(item.strip()) > config.max_question_chars:
            raise QuestionError(
                f"history item {n} is {len(item.strip())} characters long; the limit is {config.max_question_chars}"
            )
        if item.strip():
            checked.append(item.strip())
    return checked


def check_k(k: int | None) -> None:
    """Refuse a passage count below one (None means the default)."""
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, not {k}")


def parse_iso_date(value: str, label: str = "date") -> str:
    """``value`` if it is a real calendar date written YYYY-MM-DD; raises ValueError otherwise."""
    value = value.strip()
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{label} {value!r} is not a date: use YYYY-MM-DD, e.g. 2019-02-27")
    try:
        Date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label} {value!r} does not exist: use YYYY-MM-DD, e.g. 2019-02-27") from None
    return value
