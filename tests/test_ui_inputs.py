"""What the page's settings and the /ask API's callers send (ui.inputs), checked before anything
is asked."""
from __future__ import annotations

import pytest

from ui.inputs import SettingsError, parse_history, search_filter


def test_date_range_validation():
    assert search_filter("", " ") is None
    where = search_filter("2018-01-01", "2019-12-31")
    assert (where.date_from, where.date_to) == ("2018-01-01", "2019-12-31")
    for bad in ("2019/01/01", "yesterday", "2019-02-30", "19-01-01"):
        with pytest.raises(SettingsError, match="YYYY-MM-DD"):
            search_filter(bad, None)
    with pytest.raises(SettingsError, match="after"):
        search_filter("2020-01-01", "2019-01-01")


def test_history_from_api_callers():
    assert parse_history(None) == [] and parse_history("") == [] and parse_history([]) == []
    assert parse_history(["a", " ", "b"]) == ["a", "b"]
    assert parse_history('["a", "b"]') == ["a", "b"]
    assert parse_history("just one question") == ["just one question"]
    with pytest.raises(ValueError):
        parse_history({"a": 1})
