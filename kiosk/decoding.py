"""QR decoding behind one interface: zxing-cpp (default) and pyzbar backends, decoding of one
uploaded image (browser-camera mode), and the JPEG preview frame with found codes outlined."""
from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from flask_babel import lazy_gettext as _l

logger = logging.getLogger(__name__)

DECODER_NAMES = ("zxing", "zbar")
# A browser-camera frame is well under 1 MB; 8 MB matches the app's upload limit.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# 25 megapixels admits any phone photo and refuses decompression bombs before they are unpacked.
MAX_IMAGE_PIXELS = 25_000_000
# A second look at a still image upscales it 2x when that stays cheap (<= 4 MP after upscaling).
UPSCALE_MAX_PIXELS = 1_000_000
# pyzbar: a frame this wide or wider is first tried downscaled (most codes at the door are large,
# and a 720p frame without a code costs 3x less at 640 wide; qr-decoding.md).
ZBAR_DOWNSCALE_WIDTH = 640
# Images the upload path accepts (what browsers and phones produce).
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")

Point = tuple[int, int]


@dataclass(frozen=True)
class Detection:
    """One decoded QR symbol: its text and its outline in the frame's pixel coordinates
    (four corners, top-left first, clockwise, for both backends)."""

    text: str = field(repr=False)  # a raw payload: personal data, never logged
    corners: tuple[Point, ...]


class Decoder(Protocol):
    name: str

    def decode(self, gray: np.ndarray, *, thorough: bool = False) -> list[Detection]:
        """Decode a grayscale uint8 image. `thorough` is for still images (an upload, a file in a
        folder): it spends more time on a frame where nothing was read at first. Live frames
        leave it False so a frame without a code stays cheap."""
        ...


class DecoderUnavailable(RuntimeError):
    """The backend's library is not installed (e.g. libzbar0 missing for pyzbar)."""


class ZxingDecoder:
    name = "zxing"

    def __init__(self) -> None:
        import zxingcpp

        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode

    def _read(self, image: np.ndarray, binarizer, *, scale: float = 1.0, offset: Point = (0, 0),
              with_errors: bool = False) -> tuple[list[Detection], list[tuple[Point, ...]]]:
        found, seen = [], []
        for barcode in self._zx.read_barcodes(
            image,
            formats=self._formats,
            # Plain: the payload as encoded; the default (HRI) rewrites control characters.
            text_mode=self._zx.TextMode.Plain,
            binarizer=binarizer,
            return_errors=with_errors,
        ):
            position = barcode.position
            corners = tuple(
                (round(p.x / scale) + offset[0], round(p.y / scale) + offset[1])
                for p in (position.top_left, position.top_right, position.bottom_right,
                          position.bottom_left)
            )
            if barcode.valid:
                found.append(Detection(barcode.text, corners))
            else:
                seen.append(corners)
        return found, seen

    def decode(self, gray: np.ndarray, *, thorough: bool = False) -> list[Detection]:
        local_average = self._zx.Binarizer.LocalAverage
        global_histogram = self._zx.Binarizer.GlobalHistogram
        # First pass also reports symbols it located but could not read: a free hint that a
        # second, costlier look is worth it. A frame with nothing in it stops here.
        found, seen = self._read(gray, local_average, with_errors=True)
        if found:
            return _unique(found)
        if thorough:
            # Measured on the ZXing photos: a 2x upscale read with a global threshold recovers
            # blurred and unevenly lit codes that the local-average binarizer misses.
            if gray.size <= UPSCALE_MAX_PIXELS:
                big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                found, _ = self._read(big, global_histogram, scale=2.0)
            else:
                found, _ = self._read(gray, global_histogram)
            return _unique(found)
        for corners in seen[:2]:  # a live frame: retry only where a symbol was located
            crop, offset = _crop_around(gray, corners)
            scale = 2.0 if crop.size <= UPSCALE_MAX_PIXELS // 4 else 1.0
            if scale != 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            retry, _ = self._read(crop, global_histogram, scale=scale, offset=offset)
            found.extend(retry)
        return _unique(found)


class ZbarDecoder:
    """pyzbar, QR symbols only, on grayscale (given colour it silently reads one channel):
    downscaled first, then full size, then inverted (zbar never reads light-on-dark codes)."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except ImportError as exc:  # pyzbar raises ImportError when libzbar is missing
            raise DecoderUnavailable(
                "pyzbar needs the zbar library (Debian/Ubuntu package libzbar0)"
            ) from exc
        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def _read(self, image: np.ndarray, scale: float = 1.0) -> list[Detection]:
        found = []
        for symbol in self._pyzbar.decode(image, symbols=self._symbols):
            found.append(Detection(_text_of(symbol.data), _quad(symbol.polygon, scale)))
        return found

    def decode(self, gray: np.ndarray, *, thorough: bool = False) -> list[Detection]:
        gray = np.ascontiguousarray(gray)
        height, width = gray.shape[:2]
        if width > ZBAR_DOWNSCALE_WIDTH:
            factor = ZBAR_DOWNSCALE_WIDTH / width
            small = cv2.resize(gray, (ZBAR_DOWNSCALE_WIDTH, max(1, round(height * factor))),
                               interpolation=cv2.INTER_AREA)
            found = self._read(small, scale=factor)
            if found:
                return _unique(found)
        found = self._read(gray)
        if found:
            return _unique(found)
        return _unique(self._read(cv2.bitwise_not(gray)))


DECODERS = {"zxing": ZxingDecoder, "zbar": ZbarDecoder}


def make_decoder(name: str = "zxing") -> Decoder:
    """The one construction point for a backend (`KIOSK_DECODER`)."""
    try:
        backend = DECODERS[str(name).strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown decoder {name!r}: use one of {', '.join(DECODER_NAMES)}"
        ) from None
    return backend()


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A contiguous uint8 grayscale view of a BGR, BGRA or gray frame."""
    if frame.dtype != np.uint8:
        frame = cv2.convertScaleAbs(frame)
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return np.ascontiguousarray(frame[:, :, 0])
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"not an image array: shape {frame.shape}")


# --- one uploaded image (browser-camera mode) ------------------------------------------------


class ImageError(ValueError):
    """An upload that is not a usable image. `code` is for the API, `message` a lazy,
    translatable sentence for people."""

    def __init__(self, code: str, message) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def load_image_bytes(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES,
                     max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Check and decode an uploaded image into a grayscale array, or raise ImageError."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError("empty_image", _l("The image is empty."))
    if len(data) > max_bytes:
        raise ImageError("image_too_large", _l("The image is too large."))
    with warnings.catch_warnings():
        # Pillow's warnings about odd files are not ours to show; the one it gives before it
        # refuses a decompression bomb means "too large" here.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError("image_too_large", _l("The image is too large.")) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise ImageError("not_an_image",
                             _l("This file is not an image (use JPEG or PNG).")) from None
        return _gray_pixels(image, max_pixels)


def _gray_pixels(image, max_pixels: int) -> np.ndarray:
    from PIL import ImageOps

    with image:
        if image.format not in IMAGE_FORMATS:
            raise ImageError("not_an_image", _l("This file is not an image (use JPEG or PNG)."))
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise ImageError("image_too_large", _l("The image is too large."))
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
            gray = np.asarray(image.convert("L"))
        except (OSError, ValueError, SyntaxError, EOFError):
            raise ImageError("image_truncated",
                             _l("The image is incomplete or damaged. Please try again.")) from None
    return np.ascontiguousarray(gray)


def decode_image_bytes(data: bytes, *, decoder: Decoder | None = None,
                       max_bytes: int = MAX_IMAGE_BYTES,
                       max_pixels: int = MAX_IMAGE_PIXELS) -> list[Detection]:
    """Decode the QR codes in one uploaded image. Raises ImageError for an empty, non-image,
    truncated or oversized upload; an image without a code gives []."""
    gray = load_image_bytes(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return (decoder or make_decoder()).decode(gray, thorough=True)


# --- preview ---------------------------------------------------------------------------------

OUTLINE_BGR = (60, 200, 60)


def render_preview(frame: np.ndarray, detections: list[Detection] | tuple[Detection, ...] = (),
                   *, max_width: int = 960, quality: int = 75) -> bytes:
    """One JPEG preview frame with each detected code outlined (for the MJPEG preview stream).
    Downscaled to max_width: the preview is a guide for the visitor, not evidence."""
    image = frame if frame.ndim == 3 and frame.shape[2] == 3 else cv2.cvtColor(
        to_gray(frame), cv2.COLOR_GRAY2BGR)
    scale = 1.0
    if image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, (max_width, max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    else:
        image = image.copy()
    thickness = max(2, image.shape[1] // 240)
    for detection in detections:
        if len(detection.corners) < 2:
            continue
        points = np.array([(x * scale, y * scale) for x, y in detection.corners], dtype=np.int32)
        cv2.polylines(image, [points], isClosed=True, color=OUTLINE_BGR, thickness=thickness,
                      lineType=cv2.LINE_AA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("could not encode the preview frame")
    return encoded.tobytes()


# --- helpers ---------------------------------------------------------------------------------


def _unique(found: list[Detection]) -> list[Detection]:
    """One detection per text (several passes may read the same symbol)."""
    seen, unique = set(), []
    for detection in found:
        if detection.text not in seen:
            seen.add(detection.text)
            unique.append(detection)
    return unique


def _crop_around(gray: np.ndarray, corners: tuple[Point, ...]) -> tuple[np.ndarray, Point]:
    xs = [x for x, _ in corners]
    ys = [y for _, y in corners]
    margin = max(8, (max(xs) - min(xs) + max(ys) - min(ys)) // 8)  # keep the quiet zone
    height, width = gray.shape[:2]
    x0, y0 = max(0, min(xs) - margin), max(0, min(ys) - margin)
    x1, y1 = min(width, max(xs) + margin + 1), min(height, max(ys) + margin + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return gray, (0, 0)
    return np.ascontiguousarray(gray[y0:y1, x0:x1]), (x0, y0)


def _text_of(data: bytes) -> str:
    # zbar hands back the payload already converted to UTF-8; anything else is shown, not lost.
    return data.decode("utf-8", errors="replace")


def _quad(polygon, scale: float) -> tuple[Point, ...]:
    """zbar's outline as four corners, top-left first and clockwise like zxing-cpp's."""
    points = np.array([(p.x, p.y) for p in polygon], dtype=np.float32) / scale
    if len(points) != 4:
        if len(points) < 3:
            return tuple((round(x), round(y)) for x, y in points)
        points = cv2.boxPoints(cv2.minAreaRect(points))
    center = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - center[1], points[:, 0] - center[0])
    ordered = points[np.argsort(angles)]  # clockwise in image coordinates (y down)
    start = int(np.argmin(ordered[:, 0] + ordered[:, 1]))
    ordered = np.roll(ordered, -start, axis=0)
    return tuple((round(float(x)), round(float(y))) for x, y in ordered)
