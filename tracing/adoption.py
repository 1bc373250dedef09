"""The adoption report's arithmetic: per venue and local day, visitors and visitors whose
contact-tracing phone was detected, and the bars of its chart. Pure; the service feeds it rows."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from tracing.retention import local_day

# The admin page shows two weeks unless asked otherwise: one incubation period.
DEFAULT_DAYS = 14
# A report longer than this is refused: the page and the CSV stay readable (about a year).
MAX_DAYS = 370


class ReportError(ValueError):
    """A report request is wrong; `code` is a key of REPORT_ERRORS."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


REPORT_ERRORS = {
    "invalid_day": _l("Give a date (YYYY-MM-DD) or a date and time with its UTC offset."),
    "until_before_since": _l("The end of the range is before its start."),
    "range_too_long": _l("The range is too long (at most 370 days)."),
    "unknown_venue": _l("No venue with this code."),
}


def report_error(code: str) -> str:
    return str(REPORT_ERRORS.get(code, _l("The report could not be made.")))


def parse_day(text: str | None) -> date:
    """A local calendar day from `YYYY-MM-DD`, or from a date-time with offset (its Việt Nam
    day). Raises ReportError("invalid_day")."""
    value = (text or "").strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError("invalid_day") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ReportError("invalid_day")
    return local_day(moment)


def check_range(since: date, until: date) -> None:
    if until < since:
        raise ReportError("until_before_since")
    if (until - since).days + 1 > MAX_DAYS:
        raise ReportError("range_too_long")


@dataclass(frozen=True)
class AdoptionRow:
    venue_code: str
    venue_name: str
    unit: str | None
    day: date
    visits: int
    visitors: int
    visitors_with_app: int

    @property
    def share(self) -> float | None:
        """Share of visitors whose phone was detected (None on a day without visitors)."""
        return self.visitors_with_app / self.visitors if self.visitors else None

    def to_json(self) -> dict:
        return {
            "venue": self.venue_code,
            "venue_name": self.venue_name,
            "unit": self.unit,
            "day": self.day.isoformat(),
            "visits": self.visits,
            "visitors": self.visitors,
            "visitors_with_app": self.visitors_with_app,
            "share": None if self.share is None else round(self.share, 4),
        }


CSV_HEADER = ("venue", "venue_name", "unit", "day", "visits", "visitors", "visitors_with_app",
              "share")


def csv_rows(rows: Iterable[AdoptionRow]) -> Iterable[tuple]:
    yield CSV_HEADER
    for row in rows:
        data = row.to_json()
        yield tuple("" if data[k] is None else data[k] for k in CSV_HEADER)


@dataclass(frozen=True)
class Bar:
    day: date
    visitors: int
    visitors_with_app: int
    share: float | None
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    bars: tuple[Bar, ...]
    gridlines: tuple[tuple[int, float], ...]  # (percent, y)


def daily_totals(rows: Iterable[AdoptionRow], first: date,
                 last: date) -> list[tuple[date, int, int]]:
    """(day, visitors, visitors with app) summed over venues, every day of the range."""
    totals: Mapping[date, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row.day][0] += row.visitors
        totals[row.day][1] += row.visitors_with_app
    days = []
    day = first
    while day <= last:
        visitors, with_app = totals.get(day, (0, 0))
        days.append((day, visitors, with_app))
        day += timedelta(days=1)
    return days


def chart(days: list[tuple[date, int, int]], *, width: int = 720, height: int = 260) -> Chart:
    """Bars of the daily share (0–100 %) for an SVG drawn by the template; no script needed."""
    left, right, top, bottom = 44, 8, 12, 36
    plot_w = width - left - right
    plot_h = height - top - bottom
    slot = plot_w / max(len(days), 1)
    bars = []
    for i, (day, visitors, with_app) in enumerate(days):
        share = with_app / visitors if visitors else None
        bar_h = plot_h * (share or 0.0)
        bars.append(Bar(day, visitors, with_app, share, x=round(left + i * slot + slot * 0.15, 2),
                        y=round(top + plot_h - bar_h, 2), width=round(slot * 0.7, 2),
                        height=round(bar_h, 2)))
    grid = tuple((p, round(top + plot_h * (1 - p / 100), 2)) for p in (0, 25, 50, 75, 100))
    return Chart(width, height, top, top + plot_h, left, tuple(bars), grid)
