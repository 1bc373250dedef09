"""One installation, any door: a personal QR signed by one kiosk or by the central server checks
in at every door after that door's next sync round, offline from then on (verified with the
public keys it was sent), even where the visitor was never seen; what such a door sends never
overwrites the record the central server holds. Revoking a device retires its keys everywhere;
a person erased centrally is erased at the doors and their codes stay dead there."""
from __future__ import annotations

import json

from sqlmodel import select

from core.auth import create_user, issue_api_token
from core.db import db
from declarations.models import TokenKey
from sync.devices import revoke_device
from tests.conftest import PASSWORD, T0
from tests.sync.conftest import PHONE, declaration, declare
from tracing.privacy import erase_visitor
from visits.models import Visit, Visitor, VisitorTombstone


def _desk(kiosk) -> str:
    with db.new_session(kiosk) as session:
        user = create_user(session=session, username="letan", role="receptionist",
                           password=PASSWORD, venue_codes=["HQ"], now=T0)
        return issue_api_token(session=session, user=user, now=T0)


def _scan(kiosk, bearer, payload):
    return kiosk.test_client().post("/api/v1/checkins",
                                    json={"venue_code": "HQ", "payload": payload},
                                    headers={"Authorization": f"Bearer {bearer}"},
                                    environ_base={"REMOTE_ADDR": "192.0.2.30"})


def _sync(kiosk) -> dict:
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _kid_of(kiosk) -> str:
    """The key the kiosk signs with (in its instance folder, never sent anywhere)."""
    from pathlib import Path

    from declarations.tokens import load_keyring

    return load_keyring(Path(kiosk.instance_path) / "keys").signing_key_id


def _doors(central, make_venue, enrol, make_kiosk):
    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    a = make_kiosk("a", central_url=central.url, token=enrol(name="Cổng A"))
    b = make_kiosk("b", central_url=central.url, token=enrol(name="Cổng B"))
    return a, b


def test_a_code_signed_at_one_door_checks_in_at_another_that_never_saw_the_visitor(
        app, central, make_venue, enrol, make_kiosk, session):
    a, b = _doors(central, make_venue, enrol, make_kiosk)
    bearer_b = _desk(b)
    declared = declare(a)  # at door A: A's key signs the code
    # Door B has not heard of door A's key yet: the code is refused, nothing is stored.
    refused = _scan(b, bearer_b, declared["token"])
    assert refused.status_code == 422 and refused.get_json()["code"] == "token_unknown_key"
    _sync(a)  # A announces its key and forwards the visitor
    _sync(b)  # B learns every signer's key
    # Now the link goes: B verifies offline, with the key it holds.
    b.config["CENTRAL_URL"] = "http://127.0.0.1:9"
    checked = _scan(b, bearer_b, declared["token"])
    assert checked.status_code == 200, checked.get_json()
    assert checked.get_json()["action"] == "check_in"
    with db.new_session(b) as kiosk_session:
        [newcomer] = kiosk_session.exec(select(Visitor)).all()
        # B keeps the uid only: no name, no number, no phone.
        assert (newcomer.full_name, newcomer.id_number, newcomer.phone_e164) == ("", None, None)
        assert len(kiosk_session.exec(select(Visit)).all()) == 1
    b.config["CENTRAL_URL"] = central.url
    _sync(b)
    # The central server has one person, with the name A sent, and two visits (one per door).
    session.expire_all()
    [person] = session.exec(select(Visitor)).all()
    assert person.full_name == declaration()["full_name"]
    assert len(session.exec(select(Visit).where(Visit.visitor_id == person.id)).all()) == 2


def test_a_code_from_the_central_servers_phone_form_checks_in_at_a_door(
        app, client, central, make_venue, enrol, make_kiosk, session):
    a, _b = _doors(central, make_venue, enrol, make_kiosk)
    bearer = _desk(a)
    response = client.post("/api/v1/declarations", json=declaration(), environ_base=PHONE)
    assert response.status_code == 201
    token = response.get_json()["token"]
    assert _scan(a, bearer, token).get_json()["code"] == "token_unknown_key"
    _sync(a)
    answer = _scan(a, bearer, token)
    assert answer.status_code == 200 and answer.get_json()["action"] == "check_in"


def test_an_own_code_for_someone_unknown_is_still_refused(central, make_venue, enrol,
                                                          make_kiosk):
    """A door's own key signed for everyone it knew: an unknown uid means purged or erased."""
    a, _b = _doors(central, make_venue, enrol, make_kiosk)
    bearer = _desk(a)
    declared = declare(a)
    with db.new_session(a) as kiosk_session:
        visitor = kiosk_session.exec(select(Visitor)).one()
        erase_visitor(session=kiosk_session, visitor=visitor, actor="test", now=T0)
    refused = _scan(a, bearer, declared["token"])
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "token_unknown_visitor"


def test_revoking_a_device_retires_its_keys_at_every_door(app, central, make_venue, enrol,
                                                          make_kiosk, session):
    a, b = _doors(central, make_venue, enrol, make_kiosk)
    bearer_b = _desk(b)
    declared = declare(a)
    _sync(a)
    _sync(b)
    key_a = session.get(TokenKey, _kid_of(a))
    revoke_device(session=session, device_id=key_a.device_id, now=T0)
    session.expire_all()
    assert session.get(TokenKey, key_a.kid).retired_at is not None
    _sync(b)
    refused = _scan(b, bearer_b, declared["token"])
    assert refused.status_code == 422 and refused.get_json()["code"] == "token_unknown_key"


def test_a_device_cannot_publish_a_key_under_another_name_or_retire_anothers(
        app, central, make_venue, enrol, make_kiosk, session):
    from sync.client import CentralClient, Refused

    a, b = _doors(central, make_venue, enrol, make_kiosk)
    _sync(a)
    session.expire_all()
    key_a = session.get(TokenKey, _kid_of(a))
    client_b = CentralClient(central.url, b.config["DEVICE_TOKEN"])
    # Door A's key, announced by door B as retired: A's key stays accepted.
    answer = client_b.call("POST", "/api/v1/sync/keys", {"keys": [{
        "kid": key_a.kid, "public_pem": key_a.public_pem, "retired_at": "2026-03-10T09:00:00+07:00"}]})
    assert answer == {"changed": 0}
    # A key under a made-up id is refused whole.
    try:
        client_b.call("POST", "/api/v1/sync/keys", {"keys": [{
            "kid": "00000000", "public_pem": key_a.public_pem, "retired_at": None}]})
    except Refused as exc:
        assert (exc.status, exc.code) == (422, "invalid_keys")
    else:
        raise AssertionError("a key under another id was accepted")
    # Without a credential: refused.
    anonymous = CentralClient(central.url, "kbd_not-a-device")
    try:
        anonymous.call("POST", "/api/v1/sync/keys", {"keys": []})
    except Refused as exc:
        assert exc.status == 401
    else:
        raise AssertionError("an anonymous announcement was accepted")
    session.expire_all()
    assert session.get(TokenKey, key_a.kid).retired_at is None
    assert session.get(TokenKey, "00000000") is None


def test_a_person_erased_centrally_is_erased_at_the_doors_and_their_code_stays_dead(
        app, central, make_venue, enrol, make_kiosk, session, make_user):
    a, b = _doors(central, make_venue, enrol, make_kiosk)
    bearer_a, bearer_b = _desk(a), _desk(b)
    declared = declare(a)
    _sync(a)
    _sync(b)
    assert _scan(b, bearer_b, declared["token"]).status_code == 200  # B met them by code
    _sync(b)
    session.expire_all()
    person = session.exec(select(Visitor)).one()
    erase_visitor(session=session, visitor=person, actor=make_user("admin"), now=T0)
    assert session.exec(select(VisitorTombstone)).all() != []
    for kiosk, bearer in ((a, bearer_a), (b, bearer_b)):
        _sync(kiosk)
        with db.new_session(kiosk) as kiosk_session:
            assert kiosk_session.exec(select(Visitor)).all() == []
            assert kiosk_session.exec(select(Visit)).all() == []
        refused = _scan(kiosk, bearer, declared["token"])
        assert refused.status_code == 422
        assert refused.get_json()["code"] == "token_unknown_visitor"


def test_an_erased_persons_uid_is_kept_only_as_long_as_a_code_can_live(app, session):
    """Codes never outlive the retention period, so neither does the tombstone."""
    from datetime import timedelta

    from tracing.purge import purge_personal_data

    session.add(VisitorTombstone(uid="a" * 24, deleted_at=T0 - timedelta(days=22)))
    session.add(VisitorTombstone(uid="b" * 24, deleted_at=T0 - timedelta(days=20)))
    session.commit()
    purge_personal_data(session=session, now=T0, days=21, actor="test")
    assert session.exec(select(VisitorTombstone.uid)).all() == ["b" * 24]


def test_a_device_cannot_flood_the_installation_with_keys(app, central, make_venue, enrol,
                                                          session):
    """Every key a device announces is accepted everywhere: at most MAX_KEYS_PER_DEVICE (10)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from declarations.tokens import key_id_of
    from sync.client import CentralClient
    from sync.keys import MAX_KEYS_PER_DEVICE

    make_venue(code="HQ", name="Trụ sở chính", closing_time=None)
    client = CentralClient(central.url, enrol())
    keys = []
    for _ in range(MAX_KEYS_PER_DEVICE + 5):
        public = Ed25519PrivateKey.generate().public_key()
        keys.append({"kid": key_id_of(public), "retired_at": None, "public_pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()})
    assert client.call("POST", "/api/v1/sync/keys", {"keys": keys}) == {"changed": 10}
    assert client.call("POST", "/api/v1/sync/keys", {"keys": keys}) == {"changed": 0}
    session.expire_all()
    assert len(session.exec(select(TokenKey).where(TokenKey.device_id.is_not(None))).all()) == 10
