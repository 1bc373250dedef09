"""`flask keys list|rotate|retire` on the instance key directory."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import new_uid
from declarations.tokens import TokenError
from declarations.views import keyring


def test_rotate_then_retire(app, runner, clock):
    with app.app_context():
        old_token = keyring().issue(visitor_uid=new_uid(), declared_at=clock.now(), flagged=False,
                                    now=clock.now())
        old_kid = keyring().signing_key_id
    listed = runner.invoke(args=["keys", "list"])
    assert listed.exit_code == 0 and f"* {old_kid}" in listed.output
    rotated = runner.invoke(args=["keys", "rotate"])
    new_kid = rotated.output.strip()
    assert rotated.exit_code == 0 and len(new_kid) == 8 and new_kid != old_kid
    with app.app_context():
        assert keyring().signing_key_id == new_kid
        assert keyring().verify(old_token, now=clock.now(), max_age=timedelta(days=1))
    assert runner.invoke(args=["keys", "retire", new_kid]).exit_code != 0  # current key
    assert runner.invoke(args=["keys", "retire", old_kid]).exit_code == 0
    with app.app_context():
        with pytest.raises(TokenError) as caught:
            keyring().verify(old_token, now=clock.now(), max_age=None)
    assert caught.value.reason == "unknown_key"
