"""What a synced row looks like on the wire: its own columns by name (row ids and foreign keys
left out, since each server numbers its rows itself) and its references by global identity
(a visitor's uid, a venue's code). Shared by the kiosk that sends and the central server that
checks and stores."""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Callable

import sqlalchemy as sa
from sqlmodel import SQLModel

# Columns that are each server's own (row ids, foreign keys): sent as references instead.
LOCAL_COLUMNS = {
    "visitor": {"id", "declarant_id"},
    "declaration": {"id", "visitor_id", "venue_id", "previous_declaration_id"},
    "visit": {"id", "visitor_id", "venue_id", "kiosk_id", "declaration_id", "reviewed_by_id"},
    "encounter": {"id", "venue_id", "kiosk_id", "visit_id"},
    "audit_event": {"id", "actor_user_id"},
}
# reference field on the wire → (local foreign-key column, table it names, that table's key)
REFERENCES = {
    "visitor": {"declarant_uid": ("declarant_id", "visitor", "uid")},
    "declaration": {"visitor_uid": ("visitor_id", "visitor", "uid"),
                    "venue_code": ("venue_id", "venue", "code"),
                    "previous_uid": ("previous_declaration_id", "declaration", "uid")},
    "visit": {"visitor_uid": ("visitor_id", "visitor", "uid"),
              "venue_code": ("venue_id", "venue", "code"),
              "declaration_uid": ("declaration_id", "declaration", "uid"),
              "reviewed_by": ("reviewed_by_id", "staff_user", "username")},
    "encounter": {"venue_code": ("venue_id", "venue", "code"),
                  "visit_uid": ("visit_id", "visit", "uid")},
    "audit_event": {},
}
KEY_COLUMN = {"visitor": "uid", "declaration": "uid", "visit": "uid", "encounter": "uid",
              "audit_event": "hash"}


def table(name: str) -> sa.Table:
    return SQLModel.metadata.tables[name]


def own_columns(name: str) -> list[sa.Column]:
    return [c for c in table(name).columns if c.name not in LOCAL_COLUMNS[name]]


def to_wire(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class Invalid(ValueError):
    """A row from a device that does not fit the table: refused, the rest of the batch goes on."""


def from_wire(name: str, item) -> dict:
    """Check a row sent by a device against the table's columns and return the values to store
    (datetimes parsed, lengths and types checked). Raises Invalid."""
    if not isinstance(item, dict):
        raise Invalid("not an object")
    values = {}
    for column_name, nullable, check in _checks(name):
        value = item.get(column_name)
        if value is None:
            if column_name == "details":
                values[column_name] = {}
                continue
            if not nullable:
                raise Invalid(f"{column_name} missing")
            values[column_name] = None
            continue
        values[column_name] = check(value)
    for field in REFERENCES[name]:
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 64):
            raise Invalid(f"{field} invalid")
        values[field] = value
    return values


@functools.cache
def _checks(name: str) -> tuple[tuple[str, bool, Callable], ...]:
    """Per column of the table: its name, whether it may be empty, and its check (worked out
    once per table: a central server checks every row of every batch)."""
    return tuple((c.name, c.nullable, _checker(c)) for c in own_columns(name))


def _checker(column: sa.Column) -> Callable:
    kind = column.type
    name = column.name
    base = kind.impl if isinstance(kind, sa.types.TypeDecorator) else kind
    python_type = None
    for sql_type, py in ((sa.JSON, dict), (sa.DateTime, datetime), (sa.Boolean, bool),
                         (sa.Integer, int), (sa.Float, float), (sa.String, str)):
        if isinstance(base, sql_type) or isinstance(kind, sql_type):
            python_type = py
            break
    if isinstance(kind, sa.JSON) or python_type in (dict, list):
        def check(value):
            if not isinstance(value, (list, dict)):
                raise Invalid(f"{name} must be a list or object")
            return value
    elif python_type is datetime:
        def check(value):
            if not isinstance(value, str) or len(value) > 40:
                raise Invalid(f"{name} must be a date-time")
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise Invalid(f"{name} must be a date-time") from None
            if parsed.tzinfo is None:
                raise Invalid(f"{name} needs a time zone")
            return parsed
    elif python_type is bool:
        def check(value):
            if not isinstance(value, bool):
                raise Invalid(f"{name} must be true or false")
            return value
    elif python_type is int:
        def check(value):
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**31 - 1:
                raise Invalid(f"{name} must be a whole number")
            return value
    elif python_type is float:
        def check(value):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Invalid(f"{name} must be a number")
            return float(value)
    elif python_type is str:
        length = getattr(kind, "length", None)

        def check(value):
            if not isinstance(value, str) or (length is not None and len(value) > length) \
                    or "\x00" in value:
                raise Invalid(f"{name} must be text of at most {length} characters")
            return value
    else:
        def check(value):
            raise Invalid(f"{name} has an unsupported type")
    return check
