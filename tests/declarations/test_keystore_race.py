"""Sync gunicorn workers start together and each publishes the server's public key on first use:
the one that loses the race reads the ring again instead of failing its request."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from core.db import db
from declarations import keystore


def test_a_worker_that_loses_the_race_to_publish_the_key_reads_again(app, monkeypatch):
    engine = db.engine(app)
    directory = Path(app.instance_path) / "keys"
    sibling = keystore.KeyStore(directory, lambda: engine)
    real_publish = keystore._publish
    calls = []

    def publish_after_a_sibling(connection, ring):
        calls.append(1)
        if len(calls) == 1:
            # Between our look at the published keys and our insert, a sibling worker publishes
            # the same key and commits.
            known = set(connection.execute(sa.select(keystore._keys.c.kid)).scalars())
            sibling.ring()
            for kid in ring.public_keys:
                if kid not in known:
                    connection.execute(keystore._keys.insert().values(
                        kid=kid, public_pem=keystore._pem(ring.public_keys[kid]),
                        created_at=keystore._now(), retired_at=None))
            return True
        return real_publish(connection, ring)

    monkeypatch.setattr(keystore, "_publish", publish_after_a_sibling)
    ring = keystore.KeyStore(directory, lambda: engine).ring()
    # Ours, the sibling's, and ours again once the unique key id refused the first.
    assert len(calls) == 3
    assert ring.signing_key_id in ring.public_keys
    assert ring.signing_key_id == sibling.ring().signing_key_id
