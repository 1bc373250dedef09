"""Reading windows, buffers and search keys from text: local time by default, clear errors."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing.folding import fold_name, id_search_key, phone_search_key
from tracing.parsing import InputError, parse_instant, parse_minutes, parse_window


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-10T09:00+07:00", datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)),
    ("2026-03-10T02:00:00Z", datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)),
    ("2026-03-10T09:00", datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)),   # local wall clock
    ("2026-03-10 09:00", datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)),
    ("2026-03-10", datetime(2026, 3, 9, 17, 0, tzinfo=timezone.utc)),          # local midnight
])
def test_instants(text, expected):
    value = parse_instant(text, field="since")
    assert value == expected and value.tzinfo == timezone.utc


def test_a_bare_until_date_includes_that_whole_local_day():
    window = parse_window("2026-03-10", "2026-03-10")
    assert window.since == datetime(2026, 3, 9, 17, tzinfo=timezone.utc)
    assert window.until == datetime(2026, 3, 10, 17, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "   ", None, "yesterday", "2026-13-01", "2026-02-30",
                                  "10/03/2026", "2026-03-10T25:00", "9999-12-31T23:59-12:00"])
def test_bad_instants_name_the_field(text):
    with pytest.raises(InputError) as info:
        parse_instant(text, field="since")
    assert info.value.field == "since"


def test_reversed_window_is_refused():
    with pytest.raises(InputError) as info:
        parse_window("2026-03-12", "2026-03-10")
    assert info.value.field == "until"


@pytest.mark.parametrize(("text", "value"), [(None, 30), ("", 30), ("0", 0), (" 15 ", 15),
                                             (1440, 1440)])
def test_minutes(text, value):
    assert parse_minutes(text, field="after_min", default=30) == value


@pytest.mark.parametrize("text", ["-1", "1441", "ten", "1.5"])
def test_bad_minutes(text):
    with pytest.raises(InputError):
        parse_minutes(text, field="after_min", default=30)


@given(st.text(max_size=40))
def test_any_text_is_an_instant_or_a_clean_error(text):
    try:
        value = parse_instant(text, field="since")
    except InputError:
        return
    assert value.tzinfo == timezone.utc


@pytest.mark.parametrize(("name", "folded"), [
    ("Nguyễn Văn An", "nguyen van an"),
    ("  ĐẶNG   thị  Ðào ", "dang thi dao"),
    ("Phạm Thị Hương", "pham thi huong"),
    ("Trần Ngọc Ánh", "tran ngoc anh"),
    ("Lê Thuỷ", "le thuy"),
    (unicodedata.normalize("NFD", "Nguyễn Văn An"), "nguyen van an"),  # combining marks
])
def test_fold_name(name, folded):
    assert fold_name(name) == folded


@given(st.text(max_size=30))
def test_folding_is_idempotent(text):
    assert fold_name(fold_name(text)) == fold_name(text)


@pytest.mark.parametrize(("typed", "key"), [
    ("0912 345 678", "+84912345678"), ("+84912345678", "+84912345678"),
    ("84912345678", "+84912345678"), ("0084-912-345-678", "+84912345678"),
    ("+1 202 555 0143", "+12025550143"), ("(024) 3825 1234", None), ("hello", None),
    ("12", None), ("", None),
])
def test_phone_search_key(typed, key):
    assert phone_search_key(typed) == key


def test_id_search_key():
    assert id_search_key(" 001090-012345 ") == "001090012345"
    assert id_search_key("b1234567") == "B1234567"
