"""What the page's settings and the /ask API's callers send, checked before anything is asked."""
from __future__ import annotations

import json
from typing import Any

from rag.config import AnswerConfig
from rag.retrieval import SearchFilter
from rag.types import Answer
from rag.validation import QuestionError, check_history, parse_iso_date

# Earlier questions an /ask caller may send (unless the answerer's AnswerConfig sets
# max_history_items): follow-ups need the last few, more is only work. Each earlier question is
# held to the question's own length limit (AnswerConfig.max_question_chars).
MAX_HISTORY_ITEMS = AnswerConfig().max_history_items


class SettingsError(ValueError):
    """A setting the user typed that cannot be used (shown as is)."""


def parse_date_field(value: str | None, label: str) -> str | None:
    """``value`` as an ISO date string, None when blank; raises SettingsError otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    try:  # the same strict check as the CLI's --date-from/--date-to
        return parse_iso_date(value, f"{label} date")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def search_filter(date_from: str | None, date_to: str | None) -> SearchFilter | None:
    """The date-range filter of the settings, None for no filter; raises SettingsError."""
    start = parse_date_field(date_from, "The “from”")
    end = parse_date_field(date_to, "The “to”")
    if start and end and start > end:
        raise SettingsError(f"The date range is empty: “from” ({start}) is after “to” ({end})")
    return SearchFilter(date_from=start, date_to=end) if (start or end) else None


class HistoryError(ValueError):
    """An /ask history that cannot be used (returned as the record's error)."""


def parse_history(history: Any, max_items: int = MAX_HISTORY_ITEMS, max_chars: int | None = None) -> list[str]:
    """Earlier questions from an API caller: a list of strings, a JSON list, or nothing.

    Raises HistoryError for anything else, for more than ``max_items`` questions, and for a
    question longer than ``max_chars`` (the limit on the question itself).
    """
    if history is None:
        return []
    if isinstance(history, str):
        text = history.strip()
        if not text:
            return []
        if max_chars is not None and len(text) > max_items * (max_chars + 8) + 2:
            raise HistoryError(
                f"the history is {len(text)} characters long; the limit is {max_items} earlier "
                f"questions of up to {max_chars} characters each"
            )
        try:
            history = json.loads(text)
        except json.JSONDecodeError:
            history = text
        if isinstance(history, str):
            history = [history]
    if not isinstance(history, (list, tuple)):
        raise HistoryError("history must be a list of earlier questions (or a JSON string of one)")
    items = [item if isinstance(item, str) else str(item) for item in history]
    try:  # the limits every caller of the answerer gets (rag.validation)
        return check_history(items, AnswerConfig(max_history_items=max_items, max_question_chars=max_chars or 10**9))
    except QuestionError as exc:
        raise HistoryError(str(exc)) from None


def error_record(question: Any, message: str) -> dict:
    """The `rag ask --json` record of a request that was not asked: ``error`` says why."""
    text = question if isinstance(question, str) else str(question or "")
    return Answer(text, None, None, True, 0.0, message=message, error=message).to_dict()
