"""Staff and their venues: assigning receptionists to venues (CLI and admin page), the scope
every caller asks for, and disabling an account. Tried as a careless or hostile admin would: an
unknown code, venues for a role that has none, a forged form, disabling oneself."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from core.models import AuditEvent, StaffVenue, User
from core.staff import (
    EVERY_VENUE,
    NO_VENUE,
    StaffError,
    set_user_active,
    set_user_venues,
    user_venues,
    venue_scope,
)
from tests.conftest import PASSWORD, T0
from visits.models import Visit


@pytest.fixture
def venues(make_venue):
    return {code: make_venue(code=code, name=f"Địa điểm {code}") for code in ("HQ", "B2", "C3")}


def _codes(session, user) -> list[str]:
    session.expire_all()
    return [v.code for v in user_venues(session=session, user=user)]


def _user(session, username) -> User | None:
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).first()


# ---------------------------------------------------------------------------------------------
# The scope: which venues may this user act on

def test_each_role_gets_its_scope(session, venues, make_user):
    admin, tracer = make_user("admin"), make_user("tracer")
    lan = make_user("receptionist", venue_codes=["HQ", "b2 "])
    other = make_user("receptionist", venue_codes=["C3"])
    nobody = make_user("receptionist")
    assert venue_scope(session=session, user=admin) == EVERY_VENUE
    assert venue_scope(session=session, user=tracer) == EVERY_VENUE
    scope = venue_scope(session=session, user=lan)
    assert scope.ids == {venues["HQ"].id, venues["B2"].id}
    assert scope.allows(venues["HQ"].id) and not scope.allows(venues["C3"].id)
    assert not scope.allows(None)
    assert venue_scope(session=session, user=other).ids == {venues["C3"].id}
    assert venue_scope(session=session, user=nobody) == NO_VENUE
    assert not venue_scope(session=session, user=nobody).allows(venues["HQ"].id)
    assert venue_scope(session=session, user=None) == NO_VENUE


def test_a_disabled_account_acts_on_no_venue(session, venues, make_user):
    for user in (make_user("admin"), make_user("receptionist", venue_codes=["HQ"])):
        user.is_active = False
        assert venue_scope(session=session, user=user) == NO_VENUE


def test_the_scope_filters_a_query(session, venues, make_user, make_visitor, make_visit):
    visitor = make_visitor()
    for venue in venues.values():
        make_visit(visitor=visitor, venue=venue, checked_in_at=T0)
    lan = make_user("receptionist", venue_codes=["B2"])

    def seen(user):
        scope = venue_scope(session=session, user=user)
        return {v.venue_id for v in session.exec(select(Visit).where(scope.where(Visit.venue_id)))}

    assert seen(lan) == {venues["B2"].id}
    assert seen(make_user("admin")) == {v.id for v in venues.values()}
    assert seen(make_user("receptionist")) == set()


# ---------------------------------------------------------------------------------------------
# Services

def test_set_venues_replaces_them_and_is_audited(session, venues, make_user):
    admin = make_user("admin")
    lan = make_user("receptionist", venue_codes=["HQ"])
    set_user_venues(session=session, user=lan, codes=["C3", "b2", "C3"], actor=admin, now=T0)
    assert _codes(session, lan) == ["B2", "C3"]
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.venues")).one()
    assert (event.actor, event.target_id) == (admin.username, str(lan.id))
    assert event.details == {"venue_ids": sorted([venues["B2"].id, venues["C3"].id])}
    set_user_venues(session=session, user=lan, codes=[], actor=admin, now=T0)
    assert _codes(session, lan) == []


def test_an_unknown_code_changes_nothing_and_names_the_code(session, venues, make_user):
    lan = make_user("receptionist", venue_codes=["HQ"])
    with pytest.raises(StaffError) as raised:
        set_user_venues(session=session, user=lan, codes=["B2", "NOPE", "nope2"], actor="t",
                        now=T0)
    session.rollback()
    assert raised.value.codes == ("NOPE", "NOPE2")
    assert _codes(session, lan) == ["HQ"]
    assert session.exec(select(AuditEvent)).all() == []


@pytest.mark.parametrize("role", ["admin", "tracer"])
def test_only_receptionists_are_assigned_to_venues(session, venues, make_user, role):
    user = make_user(role)
    with pytest.raises(StaffError) as raised:
        set_user_venues(session=session, user=user, codes=["HQ"], actor="t", now=T0)
    assert raised.value.code == "not_assignable"
    session.rollback()
    with pytest.raises(StaffError):
        make_user(role, username=f"new-{role}", venue_codes=["HQ"])
    session.rollback()
    assert _user(session, f"new-{role}") is None
    assert session.exec(select(StaffVenue)).all() == []


def test_an_admin_cannot_disable_themselves_or_the_last_admin(session, make_user):
    admin = make_user("admin")
    with pytest.raises(StaffError) as raised:
        set_user_active(session=session, user=admin, active=False, actor=admin, now=T0)
    assert raised.value.code == "own_account"
    with pytest.raises(StaffError) as raised:
        set_user_active(session=session, user=admin, active=False, actor="cli", now=T0)
    assert raised.value.code == "last_admin"
    session.rollback()
    second = make_user("admin")
    set_user_active(session=session, user=admin, active=False, actor=second, now=T0)
    assert not _user(session, admin.username).is_active
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions == ["staff.disable"]


# ---------------------------------------------------------------------------------------------
# Command line

def test_user_create_with_venues(runner, session, venues):
    result = runner.invoke(args=["user", "create", "--username", "lan", "--role", "receptionist",
                                 "--password", PASSWORD, "--venue", "hq", "--venue", "C3"])
    assert result.exit_code == 0, result.output
    assert "venues: C3 HQ" in result.output
    assert _codes(session, _user(session, "lan")) == ["C3", "HQ"]
    shown = runner.invoke(args=["user", "venues", "LAN"])
    assert shown.exit_code == 0 and "lan: C3 HQ" in shown.output


def test_user_create_with_an_unknown_venue_creates_nothing(runner, session, venues):
    result = runner.invoke(args=["user", "create", "--username", "lan", "--role", "receptionist",
                                 "--password", PASSWORD, "--venue", "HQ", "--venue", "NOPE"])
    assert result.exit_code != 0
    assert "NOPE" in result.output
    assert "Không có địa điểm nào mang mã NOPE" in result.output      # both languages
    assert "No venue with the code NOPE" in result.output
    assert _user(session, "lan") is None
    assert session.exec(select(StaffVenue)).all() == []


def test_user_create_refuses_venues_for_a_tracer(runner, session, venues):
    result = runner.invoke(args=["user", "create", "--username", "tu", "--role", "tracer",
                                 "--password", PASSWORD, "--venue", "HQ"])
    assert result.exit_code != 0
    assert "Only receptionists are assigned to venues" in result.output
    assert _user(session, "tu") is None


def test_a_receptionist_without_venues_is_told_so(runner, venues):
    result = runner.invoke(args=["user", "create", "--username", "lan", "--role", "receptionist",
                                 "--password", PASSWORD])
    assert result.exit_code == 0
    assert "no venues yet" in result.output


def test_user_venues_sets_clears_and_refuses_unknown_codes(runner, session, venues, make_user):
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    result = runner.invoke(args=["user", "venues", "lan", "--venue", "B2", "--venue", "C3"])
    assert result.exit_code == 0, result.output
    assert "lan: B2 C3" in result.output
    bad = runner.invoke(args=["user", "venues", "lan", "--venue", "B2", "--venue", "ZZ"])
    assert bad.exit_code != 0 and "ZZ" in bad.output
    assert _codes(session, lan) == ["B2", "C3"]
    cleared = runner.invoke(args=["user", "venues", "lan", "--none"])
    assert cleared.exit_code == 0 and "(no venue)" in cleared.output
    assert _codes(session, lan) == []
    both = runner.invoke(args=["user", "venues", "lan", "--none", "--venue", "HQ"])
    assert both.exit_code != 0
    missing = runner.invoke(args=["user", "venues", "ghost", "--venue", "HQ"])
    assert missing.exit_code != 0 and "no user 'ghost'" in missing.output
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.venues")).all()
    assert len(audit) == 2 and all(e.actor.startswith("cli") for e in audit)


def test_user_list_disable_and_enable(runner, session, venues, make_user, client, api_token):
    make_user("admin", username="boss")
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    token = api_token(lan)
    listing = runner.invoke(args=["user", "list"])
    assert "boss\tadmin\tactive\t(every venue)" in listing.output
    assert "lan\treceptionist\tactive\tHQ" in listing.output
    assert runner.invoke(args=["user", "disable", "lan"]).exit_code == 0
    assert "lan\treceptionist\tdisabled" in runner.invoke(args=["user", "list"]).output
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    refused = runner.invoke(args=["user", "disable", "boss"])
    assert refused.exit_code != 0 and "last active administrator" in refused.output
    assert runner.invoke(args=["user", "enable", "lan"]).exit_code == 0
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


# ---------------------------------------------------------------------------------------------
# The admin page

def _signed_in(app, user):
    staff = app.test_client()
    assert staff.post("/login", data={"username": user.username,
                                      "password": PASSWORD}).status_code == 302
    return staff


def test_the_admin_assigns_venues_on_the_page(app, client, session, venues, make_user, login):
    login(make_user("admin"))
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    page = client.get(f"/admin/users/{lan.id}").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="HQ"', page)
    assert re.search(r'<input id[^>]*value="B2"', page)
    assert "Địa điểm B2" in page
    response = client.post(f"/admin/users/{lan.id}", data={"venues": ["B2", "C3"]})
    assert response.status_code == 302
    assert _codes(session, lan) == ["B2", "C3"]
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "B2, C3" in listing
    # A forged form naming a venue that does not exist: a clear error, nothing changed.
    forged = client.post(f"/admin/users/{lan.id}", data={"venues": ["HQ", "EVIL"]})
    assert forged.status_code == 200
    assert "Không có địa điểm nào mang mã EVIL." in forged.get_data(as_text=True)
    assert _codes(session, lan) == ["B2", "C3"]
    assert client.get("/admin/users/999999").status_code == 404


def test_the_admin_creates_a_receptionist_with_venues(client, session, venues, make_user, login):
    login(make_user("admin"))
    page = client.post("/admin/users", data={"username": "thu", "role": "receptionist",
                                              "venues": ["C3"]}).get_data(as_text=True)
    assert 'class="secret"' in page
    assert _codes(session, _user(session, "thu")) == ["C3"]
    refused = client.post("/admin/users", data={"username": "tu", "role": "tracer",
                                                 "venues": ["C3"]})
    assert "Chỉ lễ tân mới được gán địa điểm" in refused.get_data(as_text=True)
    assert _user(session, "tu") is None


def test_a_disabled_account_is_signed_out_at_once(app, client, session, venues, make_user,
                                                  login, api_token):
    admin = make_user("admin")
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    token = api_token(lan)
    desk = _signed_in(app, lan)   # a session cookie captured before the account is disabled
    assert desk.get("/").status_code == 200 and "lan" in desk.get("/").get_data(as_text=True)
    login(admin)
    response = client.post(f"/admin/users/{lan.id}/active", data={"active": "0"})
    assert response.status_code == 302
    assert "Đã khóa tài khoản lan." in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert desk.get("/kiosk/desk").status_code == 302        # back to the sign-in page
    assert desk.get("/api/v1/me").status_code == 401
    assert app.test_client().get("/api/v1/me", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    assert app.test_client().post("/login", data={
        "username": "lan", "password": PASSWORD}).status_code == 200   # cannot sign in again
    client.post(f"/admin/users/{lan.id}/active", data={"active": "1"})
    assert _user(session, "lan").is_active


def test_the_admin_cannot_lock_themselves_out(client, session, make_user, login):
    admin = make_user("admin", username="boss")
    login(admin)
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"},
                           follow_redirects=True)
    assert "Bạn không thể khóa tài khoản của chính mình." in response.get_data(as_text=True)
    assert _user(session, "boss").is_active
    assert client.post(f"/admin/users/{admin.id}/active",
                       data={"active": "maybe"}).status_code == 400


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_disabling_and_assigning_need_the_forms_csrf_token(client, session, venues, make_user,
                                                          app_config):
    """A page on another site cannot make a signed-in admin's browser disable or re-assign."""
    admin = make_user("admin")
    lan = make_user("receptionist", username="lan", venue_codes=["HQ"])
    client.post("/login", data={"username": admin.username, "password": PASSWORD,
                                "csrf_token": _csrf(client.get("/login").get_data(as_text=True))})
    assert client.post(f"/admin/users/{lan.id}/active", data={"active": "0"}).status_code == 400
    assert client.post(f"/admin/users/{lan.id}", data={"venues": ["C3"]}).status_code == 400
    assert _user(session, "lan").is_active and _codes(session, lan) == ["HQ"]
    token = _csrf(client.get(f"/admin/users/{lan.id}").get_data(as_text=True))
    assert client.post(f"/admin/users/{lan.id}/active",
                       data={"active": "0", "csrf_token": token}).status_code == 302
    assert not _user(session, "lan").is_active
