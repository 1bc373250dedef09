"""`flask --app app scan`: one JSON line per code, from a video, a folder or an image, with no
database anywhere."""
from __future__ import annotations

import json

import cv2
import pytest
from click.testing import CliRunner

from app import create_app
from kiosk.cli import scan
from tests.kiosk.conftest import CCCD_TEXT, TOKEN_A, TOKEN_B
from tests.support.qrframes import Placement, camera_frame


def _lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _check_clip(lines, clip):
    assert [(line["kind"], line["text"]) for line in lines] == [
        (kind, text) for kind, text, _ in clip.expected]
    for line, (_kind, _text, frames) in zip(lines, clip.expected):
        assert list(line) == ["frame", "kind", "text"]
        assert line["frame"] in frames


def test_scan_a_video(scan_clip):
    _check_clip(_lines(CliRunner().invoke(scan, ["--source", str(scan_clip.path)])), scan_clip)


def test_scan_through_the_app_without_a_database(scan_clip, tmp_path):
    """Registered at the top of the app's CLI; the database URL points nowhere at all."""
    app = create_app({"SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/kiosk.db"})
    result = app.test_cli_runner().invoke(args=["scan", "--source", str(scan_clip.path)])
    _check_clip(_lines(result), scan_clip)
    assert not (tmp_path / "no").exists()


def test_scan_a_folder_reports_every_file(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, text, seed in [("1.jpg", TOKEN_A, 1), ("2.png", TOKEN_A, 2),
                             ("10.jpg", CCCD_TEXT, 3), ("3.jpg", TOKEN_B, 4)]:
        size = 420 if text == CCCD_TEXT else 260
        assert cv2.imwrite(str(folder / name), camera_frame([Placement(text, size_px=size)],
                                                            seed=seed))
    assert cv2.imwrite(str(folder / "empty.jpg"), camera_frame(seed=5))
    (folder / "readme.txt").write_text("not scanned")
    (folder / "broken.jpg").write_bytes(b"not an image")
    result = CliRunner().invoke(scan, ["--source", str(folder)])
    assert _lines(result) == [
        {"file": "1.jpg", "kind": "token", "text": TOKEN_A},
        {"file": "2.png", "kind": "token", "text": TOKEN_A},   # same code, its own file
        {"file": "3.jpg", "kind": "token", "text": TOKEN_B},
        {"file": "10.jpg", "kind": "cccd", "text": CCCD_TEXT},
    ]
    assert "broken.jpg" in result.stderr and "not_an_image" in result.stderr


@pytest.mark.parametrize("decoder", ["zxing", "zbar"])
def test_scan_one_image(tmp_path, decoder):
    image = tmp_path / "card.png"
    assert cv2.imwrite(str(image), camera_frame([Placement(CCCD_TEXT, size_px=420)], seed=8))
    result = CliRunner().invoke(scan, ["--source", str(image), "--decoder", decoder])
    assert _lines(result) == [{"file": "card.png", "kind": "cccd", "text": CCCD_TEXT}]


@pytest.mark.parametrize("source, message", [
    ("missing.avi", "not available"),
    ("notes.avi", "unusable"),
])
def test_scan_bad_sources_fail_clearly(tmp_path, monkeypatch, source, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.avi").write_text("plain text")
    result = CliRunner().invoke(scan, ["--source", source])
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_scan_refuses_none_and_unknown_decoders():
    assert CliRunner().invoke(scan, ["--source", "none"]).exit_code == 2
    assert CliRunner().invoke(scan, ["--source", "0", "--decoder", "opencv"]).exit_code == 2
