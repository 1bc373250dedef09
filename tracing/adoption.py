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


# --- adoption by administrative unit and period -------------------------------------------------
# The provincial tables: per unit (venue, ward, province, or the visitors' own ward or province)
# and period, how many people came and how many of them run a contact-tracing app, by their own
# word (the declaration) or because the kiosk's scanner heard their phone.

GROUPINGS = ("venue", "ward", "province", "home-ward", "home-province")
PERIODS = ("day", "week", "month")
TOTAL = "*"
UNKNOWN_UNIT = ""
# A population above this is a typing error (Việt Nam has about 100 million people).
MAX_POPULATION = 200_000_000

UNIT_ERRORS = {
    "unknown_grouping": _l("Group by venue, ward, province, home-ward or home-province."),
    "unknown_period": _l("The period is day, week or month."),
}
REPORT_ERRORS.update(UNIT_ERRORS)


@dataclass(frozen=True)
class AdoptionVisit:
    """One visit as the unit report needs it (no names, no numbers)."""

    visitor_id: int
    day: date                    # local calendar day of the check-in
    venue_code: str
    venue_name: str
    venue_ward: str | None       # the venue's ward code
    home_ward: str | None        # the visitor's declared ward code
    home_province: str | None    # the visitor's declared province code
    declared_app: bool           # the declaration names an app (not "none", not unasked)
    detected_app: bool           # the scanner linked a phone to this visit


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == "month":
        return day.replace(day=1)
    raise ReportError("unknown_period")


def period_label(start: date, period: str) -> str:
    """'2026-03-10', '2026-W11' (ISO week), '2026-03'."""
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


def unit_of(visit: AdoptionVisit, by: str, *, lang: str = "vi") -> tuple[str, str]:
    """(unit code, unit name) of a visit for a grouping; ("", "") when the unit is not known
    (a venue not yet placed in a ward, a visitor who declared no address)."""
    from core import admin_units

    if by == "venue":
        return visit.venue_code, visit.venue_name
    if by in ("ward", "province"):
        ward = admin_units.ward(visit.venue_ward or "")
        if ward is None:
            return UNKNOWN_UNIT, ""
        if by == "ward":
            return ward.code, ward.label(lang)
        province = admin_units.province(ward.province_code)
        return province.code, province.label(lang)
    if by == "home-ward":
        ward = admin_units.ward(visit.home_ward or "")
        return (ward.code, ward.label(lang)) if ward else (UNKNOWN_UNIT, "")
    if by == "home-province":
        province = admin_units.province(visit.home_province or "")
        return (province.code, province.label(lang)) if province else (UNKNOWN_UNIT, "")
    raise ReportError("unknown_grouping")


@dataclass(frozen=True)
class UnitRow:
    period: date               # first day of the period; None on the grand total
    period_label: str
    unit_code: str             # TOTAL on a total row, UNKNOWN_UNIT for "not known"
    unit_name: str
    people: int
    declared: int              # people who said they run an app
    detected: int              # people whose phone the scanner heard
    app_users: int             # either (each person once)
    population: int | None     # imported unit population, when known

    @property
    def share(self) -> float | None:
        return self.app_users / self.people if self.people else None

    @property
    def per_population(self) -> float | None:
        return self.app_users / self.population if self.population else None

    @property
    def is_total(self) -> bool:
        return self.unit_code == TOTAL

    def to_json(self) -> dict:
        return {
            "period": self.period_label,
            "period_start": self.period.isoformat() if self.period else None,
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "people": self.people,
            "declared": self.declared,
            "detected": self.detected,
            "app_users": self.app_users,
            "share": None if self.share is None else round(self.share, 4),
            "population": self.population,
            "per_population": (None if self.per_population is None
                               else round(self.per_population, 6)),
        }


def _counts(people: dict[int, list[bool]]) -> tuple[int, int, int, int]:
    declared = sum(1 for d, _ in people.values() if d)
    detected = sum(1 for _, s in people.values() if s)
    users = sum(1 for d, s in people.values() if d or s)
    return len(people), declared, detected, users


def _fold(groups: dict, visit: AdoptionVisit, key) -> None:
    person = groups.setdefault(key, {}).setdefault(visit.visitor_id, [False, False])
    person[0] = person[0] or visit.declared_app
    person[1] = person[1] or visit.detected_app


def unit_table(visits: Iterable[AdoptionVisit], *, by: str, period: str,
               populations: Mapping[str, int] | None = None,
               lang: str = "vi") -> list[UnitRow]:
    """Rows per period (in order) and unit (by code), each period closed by its total row, and a
    grand total last. A person counts once per unit and period, and once in a total (someone who
    visited two venues in a week is one person of that week's total), as an app user when any of
    their declarations in it names an app or any of their visits had a phone heard."""
    if by not in GROUPINGS:
        raise ReportError("unknown_grouping")
    if period not in PERIODS:
        raise ReportError("unknown_period")
    populations = populations or {}
    cells: dict[tuple[date, str], dict] = {}
    names: dict[str, str] = {}
    totals: dict[date, dict] = {}
    overall: dict = {}
    for visit in visits:
        start = period_start(visit.day, period)
        code, name = unit_of(visit, by, lang=lang)
        names[code] = name
        _fold(cells, visit, (start, code))
        _fold(totals, visit, start)
        _fold(overall, visit, "all")
    rows: list[UnitRow] = []
    for start in sorted(totals):
        units = sorted(code for (s, code) in cells if s == start)
        pops = []
        for code in units:
            population = populations.get(code) if code else None
            pops.append(population)
            rows.append(UnitRow(start, period_label(start, period), code, names[code],
                                *_counts(cells[(start, code)]), population))
        total_pop = sum(pops) if pops and all(p is not None for p in pops) else None
        rows.append(UnitRow(start, period_label(start, period), TOTAL, "",
                            *_counts(totals[start]), total_pop))
    all_units = sorted(names)
    pops = [populations.get(code) if code else None for code in all_units]
    grand_pop = sum(pops) if pops and all(p is not None for p in pops) else None
    rows.append(UnitRow(None, "", TOTAL, "", *_counts(overall.get("all", {})), grand_pop))
    return rows


def period_chart(rows: Iterable[UnitRow], since: date, until: date, period: str, *,
                 width: int = 720, height: int = 260) -> Chart:
    """Bars of each period's share of app users (its total row), every period of the range
    (an empty one without a bar), for the SVG on the page."""
    totals = {row.period: (row.people, row.app_users) for row in rows
              if row.is_total and row.period is not None}
    points = []
    start = period_start(since, period)
    while start <= until:
        points.append((start, *totals.get(start, (0, 0))))
        if period == "month":
            start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            start += timedelta(days=7 if period == "week" else 1)
    return chart(points, width=width, height=height)


def parse_populations(text: str) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """CSV `unit code, population` (a header line is allowed) → ({code: population}, problems
    as (line number, message code)). Codes are wards or provinces of the built-in list, or venue
    codes; the caller refuses the file when there is any problem."""
    import csv as _csv
    import io as _io

    from core import admin_units

    found: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    reader = _csv.reader(_io.StringIO(text.lstrip("\ufeff")))
    for number, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) < 2:
            problems.append((number, "population_columns"))
            continue
        code, value = cells[0], cells[1].replace(".", "").replace(",", "").replace(" ", "")
        if number == 1 and not value.isdigit():
            continue  # a header line
        known = (admin_units.ward(code) or admin_units.province(code)
                 or (code.isascii() and code.upper() == code and 0 < len(code) <= 32
                     and not code.isdigit()))
        if not known:
            problems.append((number, "population_unit"))
        elif not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_POPULATION:
            problems.append((number, "population_number"))
        elif code in found:
            problems.append((number, "population_twice"))
        else:
            found[code] = int(value)
    if not found and not problems:
        problems.append((0, "population_empty"))
    return found, problems


POPULATION_ERRORS = {
    "population_columns": _l("Each line needs two columns: unit code, population."),
    "population_unit": _l("The unit code is not a ward, province or venue code."),
    "population_number": _l("The population must be a whole number above zero."),
    "population_twice": _l("This unit is listed twice."),
    "population_empty": _l("The file has no populations."),
}
