"""Helpers for the declaration tests: a Vietnamese-rendering context that needs no database."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def render():
    """render(problem_or_lazy, lang) -> text, through the real catalogue (compiled by the root
    conftest at session start)."""
    flask_app = Flask("render-test")
    flask_app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "declarations" / "translations")
    flask_app.config["BABEL_DEFAULT_LOCALE"] = "vi"
    Babel(flask_app)

    def do(message, lang: str) -> str:
        with flask_app.test_request_context(), force_locale(lang):
            return str(message)

    return do
