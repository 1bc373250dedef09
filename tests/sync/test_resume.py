"""A kiosk stopped at the worst instant (the central server has stored a batch, the kiosk has not
yet forgotten it) sends the batch again at the next round and the central server keeps one copy;
a round cut off by the network deletes nothing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from sync import outbox, service
from sync.models import SyncOutbox
from tests.conftest import T0
from tests.sync.conftest import declare
from visits.models import Visit


def _count(app, model) -> int:
    with db.new_session(app) as session:
        return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_a_crash_after_the_central_commit_sends_the_batch_again_and_it_is_stored_once(
        app, central, make_venue, enrol, make_kiosk, monkeypatch):
    make_venue(code="HQ")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declare(kiosk)
    declare(kiosk, full_name="Trần Thị Bình", phone="0987654321", id_number="001190054321")
    pending = _count(kiosk, SyncOutbox)

    class PowerCut(BaseException):
        pass

    def cut(**kwargs):
        raise PowerCut

    monkeypatch.setattr(outbox, "forget", cut)
    runner = kiosk.test_cli_runner()
    with pytest.raises(PowerCut):  # the process dies between the two commits
        runner.invoke(args=["sync", "once"])
    assert _count(app, Visit) == 2  # stored centrally ...
    assert _count(kiosk, SyncOutbox) == pending  # ... and still pending here
    monkeypatch.undo()
    result = runner.invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    assert _count(app, Visit) == 2 and _count(kiosk, SyncOutbox) == 0


def test_a_link_that_drops_mid_round_keeps_what_was_not_acknowledged(
        app, central, make_venue, enrol, make_kiosk, monkeypatch):
    from sync.client import CentralClient, Unreachable

    make_venue(code="HQ")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    for name, phone, number in (("Nguyễn Văn An", "0912345678", "001090012345"),
                                ("Trần Thị Bình", "0987654321", "001190054321"),
                                ("Lê Văn Cường", "0901234567", "001085012345")):
        declare(kiosk, full_name=name, phone=phone, id_number=number)

    class OneBatchThenGone(CentralClient):
        calls = 0

        def call(self, method, path, body=None):
            OneBatchThenGone.calls += 1
            if OneBatchThenGone.calls > 1:
                raise Unreachable("timeout")
            return super().call(method, path, body)

    monkeypatch.setattr(service, "BATCH_SIZE", 3)
    client = OneBatchThenGone(central.url, kiosk.config["DEVICE_TOKEN"])
    with db.new_session(kiosk) as session:
        before = outbox.backlog(session).pending
        result = service.sync_once(session=session, client=client, now=T0, stop=None)
        sent_first = min(before, 3)
    assert result.error == "unreachable"
    assert result.pushed == sent_first and result.pending == before - sent_first
    with db.new_session(kiosk) as session:
        assert session.get(outbox.SyncState, 1).last_error == "unreachable"


def test_batches_are_bounded(app, central, make_venue, enrol, make_kiosk, monkeypatch):
    make_venue(code="HQ")
    kiosk = make_kiosk("a", central_url=central.url, token=enrol())
    with db.new_session(kiosk) as session:
        outbox.enable_capture(session=session, now=T0)
    declare(kiosk)
    declare(kiosk, full_name="Trần Thị Bình", phone="0987654321", id_number="001190054321")
    monkeypatch.setattr(service, "BATCH_SIZE", 2)
    sizes = []
    real = outbox.next_entries

    def spy(session, limit):
        entries = real(session, limit)
        sizes.append(len(entries))
        return entries

    monkeypatch.setattr(outbox, "next_entries", spy)
    result = kiosk.test_cli_runner().invoke(args=["sync", "once"])
    assert result.exit_code == 0, result.output
    assert max(sizes) == 2 and sizes[-1] == 0
    assert _count(app, Visit) == 2
