"""Checks on user input shared by the CLI, the Python API and the chat page."""
from __future__ import annotations

import pytest

from rag.config import AnswerConfig
from rag.validation import QuestionError, check_history, check_k, check_question, parse_iso_date

CONFIG = AnswerConfig()


def test_a_question_is_trimmed_and_held_to_its_limits():
    assert check_question("  Who met Putin?\n", CONFIG) == "Who met Putin?"
    with pytest.raises(QuestionError, match="empty"):
        check_question(" \n", CONFIG)
    with pytest.raises(QuestionError, match="limit is 1000"):
        check_question("why " * 300, CONFIG)
    with pytest.raises(QuestionError, match="not in English"):
        check_question("Кто встретился с Путиным?", CONFIG)


def test_every_history_item_has_the_question_limit():
    assert check_history(["Who met Putin?", "  "], CONFIG) == ["Who met Putin?"]
    with pytest.raises(QuestionError, match="history item 2 is 200000 characters"):
        check_history(["Who met Putin?", "y" * 200_000], CONFIG)
    with pytest.raises(QuestionError, match="history has 21 questions"):
        check_history(["Who?"] * 21, CONFIG)
    with pytest.raises(QuestionError, match="not text"):
        check_history([{"question": "Who?"}], CONFIG)


def test_k_below_one_is_refused():
    check_k(None)
    check_k(1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        check_k(0)


@pytest.mark.parametrize("value", ["in 2019-02-30 or 3 March 2019", "3 March 2019", "2019-2-3", "2019-02-30", "20190203"])
def test_dates_are_strict_yyyy_mm_dd(value):
    with pytest.raises(ValueError, match="--date-from"):
        parse_iso_date(value, "--date-from")


def test_a_real_date_passes():
    assert parse_iso_date(" 2024-02-29 ") == "2024-02-29"
