"""The app factory: configuration order, validation, and no side effects beyond the secret."""
from __future__ import annotations

import pytest

from app import create_app
from core.db import normalise_database_url
from core.settings import ConfigError


def _app(tmp_path, **config):
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x", **config})


def test_factory_opens_no_database(tmp_path):
    db_file = tmp_path / "never.db"
    _app(tmp_path, DATABASE_URL=f"sqlite:///{db_file}")
    assert not db_file.exists()


def test_config_order_instance_file_then_environment_then_test_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        'KIOSK_VENUE = "FROMFILE"\nRETENTION_DAYS = 14\nKIOSK_DECODER = "zbar"\n'
    )
    monkeypatch.setenv("KIOSK_VENUE", "fromenv")
    monkeypatch.setenv("KIOSK_DECLARATION_FRESH_HOURS", "12")
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "x"})
    assert app.config["VENUE"] == "FROMENV"          # environment beats the file
    assert app.config["RETENTION_DAYS"] == 14        # file beats the defaults
    assert app.config["DECODER"] == "zbar"           # KIOSK_ names work in the file too
    assert app.config["DECLARATION_FRESH_HOURS"] == 12
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "x", "VENUE": "TEST"})
    assert app.config["VENUE"] == "TEST"             # test config beats everything


def test_defaults(tmp_path, monkeypatch):
    for key in ("DATABASE_URL", "KIOSK_VENUE", "KIOSK_DECODER", "KIOSK_RETENTION_DAYS"):
        monkeypatch.delenv(key, raising=False)
    app = _app(tmp_path)
    assert app.config["VENUE"] == "DEMO"
    assert app.config["DECODER"] == "zxing"
    assert app.config["RETENTION_DAYS"] == 21
    assert app.config["DECLARATION_FRESH_HOURS"] == 24
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["DATABASE_URL"].endswith("instance/kiosk.db")


def test_database_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://kiosk@db.example/kiosk")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert app.config["DATABASE_URL"] == "postgres://kiosk@db.example/kiosk"
    assert normalise_database_url(app.config["DATABASE_URL"]) == (
        "postgresql+psycopg://kiosk@db.example/kiosk"
    )


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("DECODER", "opencv", "KIOSK_DECODER"), ("RETENTION_DAYS", "three", "whole number"),
     ("RETENTION_DAYS", 0, "at least 1")],
)
def test_bad_values_are_refused_with_the_key_named(tmp_path, key, value, words):
    with pytest.raises(ConfigError, match=words):
        _app(tmp_path, **{key: value})


def test_secret_key_generated_once_into_instance(tmp_path):
    first = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    second = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    secret_file = tmp_path / "instance" / "secret_key"
    assert secret_file.exists()
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]


def test_no_workers_started_by_the_factory(tmp_path):
    app = _app(tmp_path)
    assert app.extensions["workers"].names() == []
