"""Decoders on real photos and camera-like frames, one-upload decoding with clear refusals, and
the preview frame with the code outlined."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from flask_babel import force_locale
from PIL import Image

from kiosk.decoding import ImageError, decode_image_bytes, make_decoder, render_preview, to_gray
from tests.support.qrframes import Placement, camera_frame, render_code

TOKEN = "KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def zxing():
    return make_decoder("zxing")


@pytest.fixture(scope="module")
def zbar():
    return make_decoder("zbar")


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


# --- the ZXing photos ---------------------------------------------------------------------

def _exact(photos, decode) -> tuple[int, list]:
    exact, wrong = 0, []
    for path, expected in photos:
        texts = [d.text.encode("utf-8") for d in decode(path)]
        if expected in texts:
            exact += 1
        elif texts:
            wrong.append(path.name)
    return exact, wrong


def test_default_decoder_reads_the_zxing_photos(zxing_photos):
    """An uploaded photo goes through decode_image_bytes: at least 165 of 179 read exactly
    (zxing-cpp alone 165; the still-image retry adds a few), and never a wrong text."""
    exact, wrong = _exact(zxing_photos, lambda p: decode_image_bytes(p.read_bytes()))
    assert exact >= 165
    assert wrong == []


def test_live_frame_path_reads_the_zxing_photos(zxing_photos, zxing):
    """The camera's per-frame path (no costly retry unless a symbol was located)."""
    exact, wrong = _exact(
        zxing_photos, lambda p: zxing.decode(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)))
    assert exact >= 165
    assert wrong == []


def test_zbar_backend_reads_the_zxing_photos(zxing_photos, zbar):
    exact, _ = _exact(zxing_photos,
                      lambda p: zbar.decode(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)))
    assert exact >= 140  # measured 147 (qr-decoding.md)


# --- camera-like frames -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["zxing", "zbar"])
@pytest.mark.parametrize("placement, extra", [
    (Placement(TOKEN), {}),
    (Placement(TOKEN, rotate_deg=25, tilt_deg=20), {"blur_sigma": 0.8}),
    (Placement(TOKEN, invert=True), {}),
    (Placement(TOKEN, size_px=300), {"dim": 0.45, "noise_sigma": 4}),
], ids=["plain", "tilted-blurred", "inverted", "dim"])
def test_backends_read_camera_frames(backend, placement, extra):
    frame = camera_frame([placement], seed=7, **extra)
    found = make_decoder(backend).decode(to_gray(frame))
    assert [d.text for d in found] == [TOKEN]


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_no_code_no_detection(backend):
    assert make_decoder(backend).decode(to_gray(camera_frame(seed=3))) == []
    assert make_decoder(backend).decode(to_gray(camera_frame(seed=3)), thorough=True) == []


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_full_hd_frame_and_two_codes(backend):
    other = "KB1.b3RoZXI.c2ln"
    frame = camera_frame([Placement(TOKEN, center=(0.3, 0.5), size_px=300),
                          Placement(other, center=(0.72, 0.5), size_px=300)],
                         seed=11, size=(1920, 1080))
    found = make_decoder(backend).decode(to_gray(frame))
    assert sorted(d.text for d in found) == sorted([TOKEN, other])


@pytest.mark.parametrize("backend", ["zxing", "zbar"])
def test_corners_outline_the_code(backend):
    """Corners in frame pixels, top-left first and clockwise, around the symbol."""
    frame = camera_frame([Placement(TOKEN, center=(0.4, 0.6), size_px=320)], seed=5,
                         noise_sigma=0)
    (found,) = make_decoder(backend).decode(to_gray(frame))
    corners = np.array(found.corners, dtype=float)
    assert corners.shape == (4, 2)
    centre = corners.mean(axis=0)
    assert abs(centre[0] - 0.4 * 1280) < 8 and abs(centre[1] - 0.6 * 720) < 8
    modules = render_code(TOKEN, module_px=1).shape[0]
    symbol_side = 320 * (modules - 8) / modules  # without the quiet zone
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    assert np.all(np.abs(sides - symbol_side) < 0.1 * symbol_side)
    top_left, top_right, bottom_right, bottom_left = corners
    assert top_left[0] < top_right[0] and top_left[1] < bottom_left[1]
    assert bottom_right[0] > bottom_left[0] and bottom_right[1] > top_right[1]


def test_colour_and_alpha_frames_are_read(zxing):
    frame = camera_frame([Placement(TOKEN)], seed=2)
    assert [d.text for d in zxing.decode(to_gray(frame))] == [TOKEN]
    bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    assert [d.text for d in zxing.decode(to_gray(bgra))] == [TOKEN]


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="zxing, zbar"):
        make_decoder("opencv")


def test_garbage_payload_decodes_without_trouble(zxing):
    """A code holding arbitrary bytes (not UTF-8) comes back as text, never an exception."""
    import segno

    qr = segno.make_qr(bytes(range(256))[::3] + b"\xff\xfe\x00", error="l")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=6, border=4)
    found = decode_image_bytes(buffer.getvalue(), decoder=zxing)
    assert len(found) == 1 and isinstance(found[0].text, str)


# --- one upload (browser-camera mode) ------------------------------------------------------

def test_upload_with_a_code():
    frame = camera_frame([Placement(TOKEN, rotate_deg=8)], seed=4)
    found = decode_image_bytes(_jpeg(frame))
    assert [d.text for d in found] == [TOKEN]


def test_upload_without_a_code_is_empty_not_an_error():
    assert decode_image_bytes(_jpeg(camera_frame(seed=9))) == []


def test_upload_rotated_by_exif_is_read():
    frame = camera_frame([Placement(TOKEN)], seed=4)
    image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).transpose(
        Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert [d.text for d in decode_image_bytes(buffer.getvalue())] == [TOKEN]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds almost nothing (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("data, code", [
    (b"", "empty_image"),
    (b"hello, this is text", "not_an_image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not_an_image"),
    (b"GIF89a", "not_an_image"),
    (_png_header_only(6000, 6000), "image_too_large"),       # 36 MP
    (_png_header_only(40000, 40000), "image_too_large"),     # past Pillow's bomb limit
    (_png_header_only(640, 480), "image_truncated"),
], ids=["empty", "text", "pdf", "gif-header", "36mp", "bomb", "png-no-data"])
def test_upload_refusals(data, code):
    with pytest.raises(ImageError) as info:
        decode_image_bytes(data)
    assert info.value.code == code


@pytest.mark.parametrize("encode", [_jpeg, _png], ids=["jpeg", "png"])
def test_truncated_upload_is_refused(encode):
    data = encode(camera_frame([Placement(TOKEN)], seed=1))
    with pytest.raises(ImageError) as info:
        decode_image_bytes(data[: len(data) // 2])
    assert info.value.code == "image_truncated"


def test_oversized_upload_bytes_are_refused_before_decoding():
    with pytest.raises(ImageError) as info:
        decode_image_bytes(b"\xff\xd8" + b"\x00" * 100, max_bytes=50)
    assert info.value.code == "image_too_large"


def test_refusal_messages_are_bilingual(app):
    with app.app_context():
        with pytest.raises(ImageError) as info:
            decode_image_bytes(b"not an image")
        with force_locale("vi"):
            assert str(info.value.message) == "Tệp này không phải là ảnh (hãy dùng JPEG hoặc PNG)."
        with force_locale("en"):
            assert str(info.value.message) == "This file is not an image (use JPEG or PNG)."


# --- preview -------------------------------------------------------------------------------------

def _green_mask(image: np.ndarray) -> np.ndarray:
    b, g, r = cv2.split(image.astype(int))
    return (g > 150) & (g - r > 80) & (g - b > 80)


def test_preview_outlines_the_detected_code(zxing):
    frame = camera_frame([Placement(TOKEN, center=(0.5, 0.5))], seed=6)
    found = zxing.decode(to_gray(frame))
    jpeg = render_preview(frame, found, max_width=640)
    assert jpeg[:2] == b"\xff\xd8"
    preview = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert preview.shape[:2] == (360, 640)
    plain = cv2.imdecode(np.frombuffer(render_preview(frame, [], max_width=640), np.uint8),
                         cv2.IMREAD_COLOR)
    outline = _green_mask(preview) & ~_green_mask(plain)
    ys, xs = np.nonzero(outline)
    assert len(xs) > 200
    # the outline sits on the code's corners, scaled like the frame
    corners = np.array(found[0].corners) * 0.5
    assert abs(xs.min() - corners[:, 0].min()) < 6 and abs(xs.max() - corners[:, 0].max()) < 6
    assert abs(ys.min() - corners[:, 1].min()) < 6 and abs(ys.max() - corners[:, 1].max()) < 6


def test_preview_of_a_gray_frame(zxing):
    gray = to_gray(camera_frame([Placement(TOKEN)], seed=6))
    jpeg = render_preview(gray, zxing.decode(gray))
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (540, 960, 3)
