"""Reading the tracer's time windows and buffers from text (CLI options, API query strings, forms).

Pure: no I/O. Errors carry the field and a lazy message, so the CLI, the API and the console all
say the same thing in the reader's language.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A day: buffers longer than this are a typo, not a tracing question.
MAX_BUFFER_MIN = 24 * 60
DEFAULT_BEFORE_MIN = 0
# Aerosols linger after a case leaves; 30 minutes is what CWA's warn-on-behalf used.
DEFAULT_AFTER_MIN = 30


class InputError(ValueError):
    """One bad field: `field` names it, `message` says why (a lazy string)."""

    def __init__(self, field: str, message):
        super().__init__(field)  # the message is lazy: rendered later, in the reader's language
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


def parse_instant(text: str | None, *, field: str, end_of_day: bool = False,
                  tz: ZoneInfo = LOCAL_TZ) -> datetime:
    """ISO 8601 text as an aware UTC datetime.

    With an offset (or Z) the instant is exact. Without one it is wall-clock time in Việt Nam,
    which is what people type. A bare date means the start of that local day, or with
    `end_of_day` the start of the next one, so `--until 2026-03-12` includes the 12th.
    """
    text = (text or "").strip()
    if not text:
        raise InputError(field, _l("Enter a date or time."))
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tz).astimezone(timezone.utc)
        value = datetime.fromisoformat(text.replace(" ", "T", 1))
    except (ValueError, OverflowError):
        raise InputError(
            field, _l("Not a date or time; use e.g. 2026-03-10 or 2026-03-10T09:00+07:00.")
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:
        return value.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise InputError(field, _l("This date is out of range.")) from None


def parse_window(since: str | None, until: str | None) -> Window:
    start = parse_instant(since, field="since")
    end = parse_instant(until, field="until", end_of_day=True)
    if end <= start:
        raise InputError("until", _l("The end must be after the start."))
    return Window(start, end)


def parse_minutes(text: str | int | None, *, field: str, default: int) -> int:
    if text is None or (isinstance(text, str) and not text.strip()):
        return default
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(field, _l("Enter a whole number of minutes.")) from None
    if not 0 <= value <= MAX_BUFFER_MIN:
        raise InputError(field, _l("Minutes must be between 0 and %(max)d.", max=MAX_BUFFER_MIN))
    return value
