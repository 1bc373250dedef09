"""The contact matching of tracing.contacts done by PostgreSQL: for every index visit's buffered
window (LATERAL over the windows), the same index range scans as the Python path, the exact
half-open meeting rule, the overlaps, the ranking and the grouping of phones heard, so that only
the final rows come back. One statement for contacts, one for phones heard.

tracing.contacts stays the reference: tests compare both paths on generated data, and SQLite
(a kiosk's own small database, no time-zone rules) keeps the Python path."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

import sqlalchemy as sa

from core.db import UtcDateTime
from tracing.contacts import LOCAL_TZ


def _meets(o_start: str, o_end: str, a_start: str, a_end: str) -> str:
    """tracing.contacts.spans_meet in SQL: half-open spans meet when they share time; an instant
    meets a span that contains it, and an equal instant."""
    return (f"(CASE WHEN {o_start} = {o_end} AND {a_start} = {a_end} THEN {o_start} = {a_start}"
            f" WHEN {o_start} = {o_end} THEN {a_start} <= {o_start} AND {o_start} < {a_end}"
            f" WHEN {a_start} = {a_end} THEN {o_start} <= {a_start} AND {a_start} < {o_end}"
            f" ELSE greatest({o_start}, {a_start}) < least({o_end}, {a_end}) END)")


def _overlap_s(o_start: str, o_end: str, a_start: str, a_end: str) -> str:
    """tracing.contacts.overlap_seconds in SQL (exact: numeric seconds)."""
    return (f"extract(epoch FROM greatest(least({o_end}, {a_end}) - greatest({o_start}, {a_start}),"
            f" interval '0'))")


def _seconds(numeric: str) -> str:
    """Exact seconds handed to Python as a float: PostgreSQL rounds numeric to float8 correctly,
    as float(Decimal) and timedelta.total_seconds() do, and float8 loads without a Decimal."""
    return f"CAST({numeric} AS float8)"


# The index visits (their effective ends computed by the caller) with their buffered windows
# [ws, we] and their venue's rules for visits left open.
_WINDOWS = """
WITH w AS (
  SELECT i.id, i.venue_id, i.s_in, i.s_end,
         i.s_in - CAST(:before AS interval) AS ws, i.s_end + CAST(:after AS interval) AS we,
         vn.closing_time, vn.max_stay_min
  FROM unnest(CAST(:ids AS integer[]), CAST(:venue_ids AS integer[]),
              CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
       AS i(id, venue_id, s_in, s_end)
  JOIN venue vn ON vn.id = i.venue_id)
"""

# tracing.contacts.effective_end of another visit at the window's venue: its check-out, or for
# a visit left open, now or the venue's automatic check-out (the first local closing time after
# the check-in, or the maximum stay), whichever is earlier, never before the check-in.
_LOCAL_IN = "(o.checked_in_at AT TIME ZONE :tz)"
_CLOSING = (f"(CASE WHEN w.closing_time IS NULL THEN NULL"
            f" WHEN CAST({_LOCAL_IN} AS date) + w.closing_time <= {_LOCAL_IN}"
            f" THEN (CAST({_LOCAL_IN} AS date) + 1 + w.closing_time) AT TIME ZONE :tz"
            f" ELSE (CAST({_LOCAL_IN} AS date) + w.closing_time) AT TIME ZONE :tz END)")
_OTHER_END = (f"coalesce(o.checked_out_at, greatest(o.checked_in_at, least("
              f"CAST(:now AS timestamptz), o.checked_in_at + make_interval(mins => w.max_stay_min),"
              f" {_CLOSING})))")

# The visitor's columns are read with each candidate (as tracing.visit_lists does): joined after
# the scans, PostgreSQL would pick a merge join over the whole visitor table for a few hundred
# rows.
_VISIT_COLUMNS = """o.id, o.visitor_id, o.checked_in_at, o.checked_out_at, o.opened_by,
         o.closed_by, o.status, p.full_name, p.phone_e164, p.id_number, p.id_type"""
_VISIT_SCANS = f"""
  SELECT {_VISIT_COLUMNS}
  FROM visit o JOIN visitor p ON p.id = o.visitor_id
  WHERE o.venue_id = w.venue_id AND o.checked_in_at < w.ws AND o.checked_out_at >= w.ws
  UNION ALL
  SELECT {_VISIT_COLUMNS}
  FROM visit o JOIN visitor p ON p.id = o.visitor_id
  WHERE o.venue_id = w.venue_id AND o.checked_in_at < w.ws AND o.checked_out_at IS NULL
  UNION ALL
  SELECT {_VISIT_COLUMNS}
  FROM visit o JOIN visitor p ON p.id = o.visitor_id
  WHERE o.venue_id = w.venue_id AND o.checked_in_at >= w.ws AND o.checked_in_at <= w.we
"""

CONTACTS = _WINDOWS + f"""
, c AS (
  SELECT w.id AS index_id, w.venue_id, w.s_in, w.s_end, w.ws, w.we, o.*, {_OTHER_END} AS o_end
  FROM w CROSS JOIN LATERAL ({_VISIT_SCANS}) o
  WHERE o.visitor_id <> ALL(CAST(:visitor_ids AS integer[]))
    AND o.id <> ALL(CAST(:ids AS integer[])))
SELECT c.id, c.venue_id, c.visitor_id, c.checked_in_at, c.checked_out_at, c.opened_by,
       c.closed_by, c.status, c.full_name, c.phone_e164, c.id_number, c.id_type,
       c.o_end, c.index_id, {_seconds('c.overlap_s')}, {_seconds('c.simultaneous_s')}
FROM (SELECT c.*, {_overlap_s('c.checked_in_at', 'c.o_end', 'c.ws', 'c.we')} AS overlap_s,
             {_overlap_s('c.checked_in_at', 'c.o_end', 'c.s_in', 'c.s_end')} AS simultaneous_s
      FROM c
      WHERE {_meets('c.checked_in_at', 'c.o_end', 'c.ws', 'c.we')}
         OR {_meets('c.checked_in_at', 'c.o_end', 'c.s_in', 'c.s_end')}) c
ORDER BY c.overlap_s DESC, c.simultaneous_s DESC, c.checked_in_at, c.id, c.index_id
"""

_HEARD_SCANS = """
  SELECT h.id, h.protocol, h.rolling_id, h.first_seen_at,
         greatest(h.last_seen_at, h.first_seen_at) AS last_seen_at, h.rssi_max, h.count,
         h.visit_id
  FROM encounter h WHERE h.venue_id = w.venue_id AND h.first_seen_at < w.ws
                     AND h.last_seen_at >= w.ws
  UNION ALL
  SELECT h.id, h.protocol, h.rolling_id, h.first_seen_at,
         greatest(h.last_seen_at, h.first_seen_at) AS last_seen_at, h.rssi_max, h.count,
         h.visit_id
  FROM encounter h WHERE h.venue_id = w.venue_id AND h.first_seen_at >= w.ws
                     AND h.first_seen_at <= w.we
"""

# One row per (index visit, protocol + rolling ID); the phones linked to the index case's own
# visits are its own phone. The linked visit of a phone heard several times is that of its
# earliest linked sighting. Rolling IDs sort by code point, as Python compares strings.
DEVICES = _WINDOWS + f"""
, h AS (
  SELECT w.id AS index_id, w.s_in, w.s_end, w.ws, w.we, h.*
  FROM w CROSS JOIN LATERAL ({_HEARD_SCANS}) h
  WHERE h.visit_id IS NULL OR h.visit_id <> ALL(CAST(:ids AS integer[])))
SELECT h.index_id, h.protocol, h.rolling_id, min(h.first_seen_at) AS first_seen_at,
       max(h.last_seen_at) AS last_seen_at,
       {_seconds("sum(extract(epoch FROM h.last_seen_at - h.first_seen_at))")} AS duration_s,
       {_seconds(f"sum({_overlap_s('h.first_seen_at', 'h.last_seen_at', 'h.ws', 'h.we')})")}
         AS overlap_s,
       max(h.rssi_max) AS best_rssi, sum(h.count) AS sightings,
       (array_agg(h.visit_id ORDER BY h.first_seen_at, h.id)
          FILTER (WHERE h.visit_id IS NOT NULL))[1] AS linked_visit_id
FROM h
WHERE {_meets('h.first_seen_at', 'h.last_seen_at', 'h.ws', 'h.we')}
   OR {_meets('h.first_seen_at', 'h.last_seen_at', 'h.s_in', 'h.s_end')}
GROUP BY h.index_id, h.protocol, h.rolling_id
ORDER BY overlap_s DESC, best_rssi DESC, first_seen_at, h.protocol COLLATE "C",
         h.rolling_id COLLATE "C", h.index_id
"""

_T = UtcDateTime()
CONTACT_COLUMNS = (
    sa.column("id", sa.Integer), sa.column("venue_id", sa.Integer),
    sa.column("visitor_id", sa.Integer), sa.column("checked_in_at", _T),
    sa.column("checked_out_at", _T), sa.column("opened_by", sa.String),
    sa.column("closed_by", sa.String), sa.column("status", sa.String),
    sa.column("full_name", sa.String), sa.column("phone_e164", sa.String),
    sa.column("id_number", sa.String), sa.column("id_type", sa.String),
    sa.column("o_end", _T), sa.column("index_id", sa.Integer),
    sa.column("overlap_s"), sa.column("simultaneous_s"))
DEVICE_COLUMNS = (
    sa.column("index_id", sa.Integer), sa.column("protocol", sa.String),
    sa.column("rolling_id", sa.String), sa.column("first_seen_at", _T),
    sa.column("last_seen_at", _T), sa.column("duration_s"),
    sa.column("overlap_s"), sa.column("best_rssi", sa.Integer),
    sa.column("sightings", sa.Integer), sa.column("linked_visit_id", sa.Integer))

CONTACTS_STATEMENT = sa.text(CONTACTS).columns(*CONTACT_COLUMNS)
DEVICES_STATEMENT = sa.text(DEVICES).columns(*DEVICE_COLUMNS)


def parameters(index: Sequence[tuple[int, int, int, datetime, datetime]], *, before_min: int,
               after_min: int, now: datetime) -> dict:
    """The statements' parameters for index stays given as (visit id, venue id, visitor id,
    check-in, effective end)."""
    return {
        "ids": [i[0] for i in index], "venue_ids": [i[1] for i in index],
        "visitor_ids": sorted({i[2] for i in index}),
        "starts": [i[3] for i in index], "ends": [i[4] for i in index],
        "before": timedelta(minutes=before_min), "after": timedelta(minutes=after_min),
        "now": now, "tz": LOCAL_TZ.key,
    }
