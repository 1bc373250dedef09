"""Skip a test whose outside dependency is missing — unless CI demands everything run
(KIOSK_TEST_REQUIRE_ALL=1), where a missing dependency is a failure, not a silent skip."""
from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str) -> None:
    if os.environ.get("KIOSK_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this run: {reason}")
    pytest.skip(reason)
