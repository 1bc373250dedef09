"""core.ratelimit.spend, the public writes' budgets, on the app's own limiter and store: every
budget is spent even when another refuses; a budget spent only on some answers is tested before
the view and spent after it, and a view that fails spends it too."""
from __future__ import annotations

import secrets

import pytest
from flask import Response

from core.ratelimit import Budget, RateLimited, spend
from core.security import limiter


def _key() -> str:
    return "test:" + secrets.token_hex(6)  # counts of this test only


def _ok() -> Response:
    return Response("ok")


def test_a_refused_request_still_spends_the_other_budgets(app):
    first, second = _key(), _key()
    with app.test_request_context(method="POST"):
        spend(limiter, [Budget("1 per hour", first, "a")], _ok)
        with pytest.raises(RateLimited) as refused:
            spend(limiter, [Budget("1 per hour", first, "a"), Budget("2 per hour", second, "b")],
                  _ok)
        assert 0 < refused.value.retry_after <= 3600
        # The second budget was spent by the refused request: one left of two.
        spend(limiter, [Budget("2 per hour", second, "b")], _ok)
        with pytest.raises(RateLimited):
            spend(limiter, [Budget("2 per hour", second, "b")], _ok)


def test_a_conditional_budget_is_spent_only_by_the_answers_it_names(app):
    key = _key()
    counts_when_teapot = Budget("2 per hour", key, "c",
                                lambda response: response.status_code == 418)
    with app.test_request_context(method="POST"):
        for _ in range(5):  # answers that do not count
            assert spend(limiter, [counts_when_teapot], _ok).status_code == 200
        for _ in range(2):
            spend(limiter, [counts_when_teapot], lambda: Response("tea", status=418))
        with pytest.raises(RateLimited):
            spend(limiter, [counts_when_teapot], _ok)


def test_a_view_that_fails_spends_a_conditional_budget(app):
    key = _key()
    never = Budget("1 per hour", key, "d", lambda response: False)

    def fails():
        raise RuntimeError("the view broke")

    with app.test_request_context(method="POST"):
        with pytest.raises(RuntimeError):
            spend(limiter, [never], fails)
        with pytest.raises(RateLimited):
            spend(limiter, [never], _ok)
