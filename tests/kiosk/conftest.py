"""Kiosk test helpers: where the shared QR test photos are, a QR frame maker; declarations,
personal tokens signed with the app's own keys, scan settings, the venue's event stream."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from declarations.models import Declaration
from declarations.services import issue_token
from kiosk import runtime
from tests.conftest import T0
from visits import events

ROOT = Path(__file__).resolve().parents[2]


def testdata_dir() -> Path:
    """KHAIBAO_TESTDATA, else `../shared/testdata` next to the checkout."""
    return Path(os.environ.get("KHAIBAO_TESTDATA") or ROOT.parent / "shared" / "testdata")


@pytest.fixture(scope="session")
def zxing_photos():
    """[(image path, expected payload bytes)] from the ZXing black-box QR set."""
    folder = testdata_dir() / "zxing-qrcode"
    if not folder.is_dir():
        pytest.skip(f"ZXing QR photos not found at {folder} (set KHAIBAO_TESTDATA)")
    photos = []
    for image in sorted(folder.glob("qrcode-*/*")):
        if image.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif") and image.with_suffix(
                ".txt").is_file():
            photos.append((image, image.with_suffix(".txt").read_bytes()))
    if len(photos) != 179:
        pytest.fail(f"expected the 179 ZXing QR photos in {folder}, found {len(photos)}")
    return photos


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.02):
    """Poll a condition until it holds (never a fixed sleep); fails the test on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


# Payloads shown in the test clip.
TOKEN_A = "KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJlLWE"
TOKEN_B = "KB1.eyJ2IjoxLCJ2aSI6NDN9.c2lnbmF0dXJlLWI"
TOKEN_C = "KB1.Yw.c2ln"
CCCD_TEXT = ("001090012345|123456789|Nguyễn Văn An|01021990|Nam|"
             "Số 1 Tràng Tiền, Hoàn Kiếm, Hà Nội|01012021")
NATIONAL_TEXT = "******012345|NGUYEN VAN A|1990-**-**|0|3a7f09c2d1|<1<"
VENUE_TEXT = "https://kiosk.example.vn/v/DEMO?k=c2lnbmF0dXJl"
OTHER_TEXT = "WIFI:S:CafeGuest;T:WPA;P:12345678;;"


class Clip:
    """A short MJPEG video and what a viewer would say is in it: (kind, text, frame range)."""

    def __init__(self, path: Path, fps: int, expected: list[tuple[str, str, range]]):
        self.path = path
        self.fps = fps
        self.expected = expected


@pytest.fixture(scope="session")
def scan_clip(tmp_path_factory) -> Clip:
    from tests.support.qrframes import Placement, camera_frame, write_video

    fps = 15  # with the 3 s window, a code must be away for 45 frames to count again
    frames, expected = [], []
    noise = [camera_frame(seed=900 + i) for i in range(5)]

    def empty(count):
        for i in range(count):
            frames.append(noise[(len(frames) + i) % len(noise)])

    def show(kind, text, count, *, expect=True, **style):
        start = len(frames)
        frame_style = {k: style.pop(k) for k in list(style)
                       if k in ("blur_sigma", "motion_px", "noise_sigma", "dim")}
        for i in range(count):
            frames.append(camera_frame([Placement(text, **style)], seed=start + i,
                                       **frame_style))
        if expect:
            expected.append((kind, text, range(start, len(frames))))

    empty(4)
    show("token", TOKEN_A, 10, rotate_deg=15, tilt_deg=35, blur_sigma=1.0)
    empty(4)
    show("cccd", CCCD_TEXT, 10, rotate_deg=-20, size_px=420, noise_sigma=6)
    b_start = len(frames)
    show("token", TOKEN_B, 3, expect=False, blur_sigma=9)       # too blurred to read
    show("token", TOKEN_B, 6, expect=False, center=(0.3, 0.4))
    show("token", TOKEN_B, 2, expect=False, motion_px=40)      # a shaky hand
    show("token", TOKEN_B, 6, expect=False, center=(0.35, 0.45), tilt_deg=-25)
    expected.append(("token", TOKEN_B, range(b_start, len(frames))))
    show("national_qr", NATIONAL_TEXT, 8, size_px=360, dim=0.5)
    show("venue", VENUE_TEXT, 6, size_px=320, rotate_deg=90)
    show("unknown", OTHER_TEXT, 6, invert=True)
    empty(50)
    show("token", TOKEN_A, 8, size_px=200, center=(0.7, 0.6))  # shown again, much later
    show("token", TOKEN_C, 1)                                   # a single frame: files lose none
    empty(3)
    path = tmp_path_factory.mktemp("clip") / "door.avi"
    write_video(path, frames, fps=fps)
    return Clip(path, fps, expected)


@pytest.fixture
def client(screen):
    """In the door's tests the client is the kiosk's own (paired) screen; tests of a stranger's
    view use `app.test_client()`."""
    return screen


# --- check-in side ------------------------------------------------------------------------------


@pytest.fixture
def make_declaration(session):
    def make(*, visitor, submitted_at=T0, status="clear", **overrides) -> Declaration:
        fields = {
            "visitor_id": visitor.id,
            "submitted_at": submitted_at,
            "source": "phone_form",
            "travel_14d": False,
            "symptoms": [],
            "exposures": [],
            "status": status,
            "rules_version": "default-1",
            "consent_processing": True,
            "consent_sensitive_health": True,
            "consent_text_version": "test",
            "consent_at": submitted_at,
            **overrides,
        }
        declaration = Declaration(**fields)
        session.add(declaration)
        session.commit()
        return declaration

    return make


@pytest.fixture
def keyring(app):
    return runtime.token_keyring(app)


@pytest.fixture
def make_token(keyring):
    def make(visitor, declaration, issued_at=T0) -> str:
        return issue_token(keyring, visitor=visitor, declaration=declaration, now=issued_at)

    return make


@pytest.fixture
def scan_settings(app):
    return runtime.scan_settings(app)


@pytest.fixture
def venue(make_venue):
    return make_venue(code="HQ", name="Trụ sở chính")


@pytest.fixture
def stream(venue):
    """What the venue's screens hear."""
    with events.broker.subscribe(venue.code) as subscription:
        yield subscription


def drain(subscription) -> list[dict]:
    found = []
    while (event := subscription.get(timeout=0)) is not None:
        found.append(event)
    return found


def later(**delta):
    return T0 + timedelta(**delta)
