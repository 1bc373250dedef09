"""Staff and their venues: which venues a receptionist works at, disabling an account, and the
one question every caller asks before showing or changing a venue's data: which venues may this
user act on (`venue_scope`).

Admins act on every venue. Receptionists act only on the venues they are assigned to (none until
an admin assigns some). Tracers read every venue, because an index case's contacts cross venues;
they are not desk staff, so the door's pages and check-in calls refuse their role whatever their
scope says. A disabled account acts on nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.audit import record_audit
from core.models import Role, StaffVenue, User, Venue


class StaffError(ValueError):
    """A staff account's venues or state could not be changed. `code` for scripts, `message` (a
    lazy string) for people; `codes` names unknown venue codes when that is the reason."""

    def __init__(self, code: str, message, codes: tuple[str, ...] = ()):
        super().__init__(code)
        self.code = code
        self.message = message
        self.codes = codes


@dataclass(frozen=True)
class VenueScope:
    """The venues a staff member may act on: every venue, or exactly `ids` (maybe none)."""

    every: bool
    ids: frozenset[int] = frozenset()

    def allows(self, venue_id: int | None) -> bool:
        return venue_id is not None and (self.every or venue_id in self.ids)

    def where(self, column) -> sa.ColumnElement[bool]:
        """A condition on a venue id column for queries: true for every venue, else IN ids."""
        if self.every:
            return sa.true()
        if not self.ids:
            return sa.false()
        return column.in_(sorted(self.ids))


EVERY_VENUE = VenueScope(every=True)
NO_VENUE = VenueScope(every=False)

# Roles that see every venue without being assigned (see the module's note).
_UNSCOPED = (Role.admin, Role.tracer)


def venue_scope(*, session: Session, user: User | None) -> VenueScope:
    """Which venue ids `user` may act on (admins and tracers: all; receptionists: theirs)."""
    if user is None or not getattr(user, "is_active", False) or user.id is None:
        return NO_VENUE
    if Role(user.role) in _UNSCOPED:
        return EVERY_VENUE
    ids = session.exec(select(StaffVenue.venue_id).where(StaffVenue.user_id == user.id)).all()
    return VenueScope(every=False, ids=frozenset(ids))


def user_venues(*, session: Session, user: User) -> list[Venue]:
    """The venues `user` is assigned to, by code (admins and tracers have none: they need none)."""
    return list(session.exec(
        select(Venue).join(StaffVenue, StaffVenue.venue_id == Venue.id)
        .where(StaffVenue.user_id == user.id).order_by(Venue.code)))


def venues_by_code(*, session: Session, codes: Iterable[str]) -> list[Venue]:
    """The venues named by `codes` (case and spaces ignored, repeats once), or StaffError naming
    every code that is not a venue."""
    wanted = list(dict.fromkeys(c.strip().upper() for c in codes if c and c.strip()))
    if not wanted:
        return []
    found = {v.code: v for v in session.exec(select(Venue).where(Venue.code.in_(wanted)))}
    unknown = tuple(code for code in wanted if code not in found)
    if unknown:
        raise StaffError("unknown_venue", _l("No venue with the code %(codes)s.",
                                             codes=", ".join(unknown)), unknown)
    return [found[code] for code in wanted]


def check_assignable(role: str, venues: list[Venue]) -> None:
    """Only receptionists are assigned to venues: admins and tracers see every venue anyway, and
    an assignment that changes nothing would mislead whoever reads it."""
    if venues and Role(role) is not Role.receptionist:
        raise StaffError("not_assignable", _l("Only receptionists are assigned to venues; "
                                              "administrators and tracers see every venue."))


def add_assignments(*, session: Session, user: User, venues: list[Venue], now: datetime) -> None:
    """Inside the caller's transaction (a new account): assign `venues` to `user`."""
    check_assignable(user.role, venues)
    for venue in venues:
        session.add(StaffVenue(user_id=user.id, venue_id=venue.id, created_at=now))
    session.flush()


def set_user_venues(*, session: Session, user: User, codes: Iterable[str], actor: User | str,
                    now: datetime) -> list[Venue]:
    """Make `codes` exactly the venues `user` works at (an unknown code changes nothing); audited
    with venue ids. Returns the venues, by code."""
    venues = venues_by_code(session=session, codes=codes)
    check_assignable(user.role, venues)
    wanted = {v.id for v in venues}
    current = {row.venue_id: row for row in session.exec(
        select(StaffVenue).where(StaffVenue.user_id == user.id))}
    if wanted == set(current):
        return sorted(venues, key=lambda v: v.code)
    for venue_id, row in current.items():
        if venue_id not in wanted:
            session.delete(row)
    for venue_id in sorted(wanted - set(current)):
        session.add(StaffVenue(user_id=user.id, venue_id=venue_id, created_at=now))
    record_audit(session=session, now=now, actor=actor, action="staff.venues",
                 target_type="staff_user", target_id=user.id,
                 details={"venue_ids": sorted(wanted)})
    session.commit()
    return sorted(venues, key=lambda v: v.code)


def set_user_active(*, session: Session, user: User, active: bool, actor: User | str,
                    now: datetime) -> User:
    """Disable (or enable again) a staff account; audited. A disabled account's sessions and API
    tokens stop working at its next request. An admin cannot disable themselves, and the last
    active admin cannot be disabled (nobody could undo it from the pages)."""
    if user.is_active == active:
        return user
    if not active:
        if isinstance(actor, User) and actor.id == user.id:
            raise StaffError("own_account", _l("You cannot disable your own account."))
        if Role(user.role) is Role.admin:
            others = session.exec(select(sa.func.count()).select_from(User).where(
                User.role == Role.admin.value, User.is_active.is_(True),
                User.id != user.id)).one()
            if not others:
                raise StaffError("last_admin", _l("The last active administrator cannot be "
                                                  "disabled."))
    user.is_active = active
    session.add(user)
    if not active:
        from core.auth import end_user_sessions

        end_user_sessions(session=session, user_id=user.id)
    record_audit(session=session, now=now, actor=actor,
                 action="staff.enable" if active else "staff.disable",
                 target_type="staff_user", target_id=user.id)
    session.commit()
    return user


def get_user(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == (username or "").strip().lower())
                        ).first()


def list_users(*, session: Session) -> list[tuple[User, list[str]]]:
    """Every account with the codes of its venues, by username."""
    users = list(session.exec(select(User).order_by(User.username)))
    codes: dict[int, list[str]] = {}
    for user_id, code in session.exec(
            select(StaffVenue.user_id, Venue.code).join(Venue, Venue.id == StaffVenue.venue_id)
            .order_by(Venue.code)):
        codes.setdefault(user_id, []).append(code)
    return [(user, codes.get(user.id, [])) for user in users]
