"""Decode benchmark (not a test): zxing-cpp, pyzbar and OpenCV's QR detectors side by side on
generated camera-like 1280x720 frames and on the ZXing black-box photos.

    python bench/bench_decode.py [--frames N] [--testdata DIR]

Prints a summary table to stderr and the full result as JSON to stdout. Times are per frame on
the grayscale image (the camera worker converts once), median and 90th percentile in ms.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kiosk.decoding import ZbarDecoder, ZxingDecoder, to_gray  # noqa: E402
from tests.support.qrframes import Placement, camera_frame  # noqa: E402

PAYLOADS = (
    "KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJlLWE",  # a personal token (~40 characters)
    "001090012345|123456789|Nguyễn Văn An|01021990|Nam|Số 1 Tràng Tiền, Hoàn Kiếm, Hà Nội|01012021",
)

# Each condition varies one thing from a plain, well-lit code in the middle, pushed towards the
# limits in qr-decoding.md so the decoders can be told apart.
CONDITIONS = {
    "plain": lambda i: ({}, {}),
    "tilt": lambda i: ({"rotate_deg": 10 + 15 * (i % 4), "tilt_deg": 45 + 5 * (i % 4)}, {}),
    "blur": lambda i: ({}, {"blur_sigma": 1.8 + 0.3 * (i % 4)}),
    "noise": lambda i: ({}, {"noise_sigma": 22.0}),
    "dim": lambda i: ({}, {"dim": 0.15, "noise_sigma": 3.0}),
    "small": lambda i: ({"size_px": 85 + 10 * (i % 4)}, {}),
    "inverted": lambda i: ({"invert": True, "rotate_deg": 5 * (i % 4)}, {}),
    "none": None,
}


def _opencv(detector_cls):
    detector = detector_cls()

    def decode(gray):
        try:
            ok, texts, _points, _ = detector.detectAndDecodeMulti(gray)
        except (UnicodeDecodeError, cv2.error):  # non-UTF-8 payloads raise (qr-decoding.md)
            return []
        return [t for t in texts if t] if ok else []

    return decode


def decoders() -> dict:
    import zxingcpp

    zxing = ZxingDecoder()
    found = {
        "zxing-cpp (library defaults, QR only)": lambda g: [
            b.text for b in zxingcpp.read_barcodes(g, formats=zxingcpp.BarcodeFormat.QRCode)],
        "zxing-cpp (kiosk, live frame)": lambda g: [d.text for d in zxing.decode(g)],
        "zxing-cpp (kiosk, still image)": lambda g: [
            d.text for d in zxing.decode(g, thorough=True)],
    }
    try:
        zbar = ZbarDecoder()
        found["pyzbar (kiosk: downscale, full, inverted)"] = lambda g: [
            d.text for d in zbar.decode(g)]
    except Exception as exc:  # libzbar0 missing: say so in the result
        print(f"pyzbar unavailable: {exc}", file=sys.stderr)
    found["opencv QRCodeDetector"] = _opencv(cv2.QRCodeDetector)
    if hasattr(cv2, "QRCodeDetectorAruco"):
        found["opencv QRCodeDetectorAruco"] = _opencv(cv2.QRCodeDetectorAruco)
    return found


def generated_frames(count: int) -> dict[str, list[tuple[np.ndarray, str | None]]]:
    frames = {}
    for name, style in CONDITIONS.items():
        frames[name] = []
        for i in range(count):
            text = PAYLOADS[i % len(PAYLOADS)]
            if style is None:
                frame, text = camera_frame(seed=5000 + i), None
            else:
                placement, effects = style(i)
                size = placement.pop("size_px", 260 if text.startswith("KB1") else 360)
                centre = (0.35 + 0.3 * ((i * 7) % 10) / 10, 0.4 + 0.2 * ((i * 3) % 10) / 10)
                frame = camera_frame([Placement(text, center=centre, size_px=size, **placement)],
                                     seed=1000 * len(frames) + i, jpeg_quality=85, **effects)
            frames[name].append((to_gray(frame), text))
    return frames


def zxing_photos(testdata: Path) -> list[tuple[np.ndarray, str]]:
    folder = testdata / "zxing-qrcode"
    photos = []
    for image in sorted(folder.glob("qrcode-*/*")):
        expected = image.with_suffix(".txt")
        if image.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif") and expected.is_file():
            gray = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
            if gray is not None:
                photos.append((gray, expected.read_bytes().decode("utf-8")))
    return photos


def measure(decode, samples) -> dict:
    times, exact, wrong = [], 0, 0
    decode(samples[0][0])  # warm-up (lazy initialisation, caches)
    for gray, expected in samples:
        start = time.perf_counter()
        texts = decode(gray)
        times.append((time.perf_counter() - start) * 1000)
        if expected is None:
            wrong += bool(texts)
        elif expected in texts:
            exact += 1
        elif texts:
            wrong += 1
    times.sort()
    result = {
        "frames": len(samples),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
        "wrong": wrong,
    }
    if any(expected is not None for _, expected in samples):
        result["decoded"] = exact
        result["decoded_pct"] = round(100 * exact / len(samples), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per condition")
    parser.add_argument("--testdata", type=Path,
                        default=Path(os.environ.get("KHAIBAO_TESTDATA")
                                     or ROOT.parent / "shared" / "testdata"))
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one decode thread, as in the camera worker

    backends = decoders()
    frames = generated_frames(args.frames)
    photos = zxing_photos(args.testdata)
    result = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine(), "cores": os.cpu_count(), "opencv": cv2.__version__},
        "frame_size": [1280, 720],
        "frames_per_condition": args.frames,
        "generated": {},
        "zxing_photos": {} if photos else f"not found in {args.testdata}",
    }
    for name, decode in backends.items():
        result["generated"][name] = {cond: measure(decode, samples)
                                     for cond, samples in frames.items()}
        if photos:
            result["zxing_photos"][name] = measure(decode, photos)

    conditions = list(frames)
    header = (f"{'decoder':45s}" + "".join(f"{c:>14s}" for c in conditions)
              + f"{'ZXing photos':>16s}")
    print(header, file=sys.stderr)
    print("(decoded % / median ms per 1280x720 frame; 'none' shows ms only)", file=sys.stderr)
    for name, by_condition in result["generated"].items():
        cells = []
        for cond in conditions:
            m = by_condition[cond]
            cells.append(f"{m['median_ms']:>8.1f} ms" if cond == "none"
                         else f"{m['decoded_pct']:>5.0f}%/{m['median_ms']:<5.1f}")
        photo = result["zxing_photos"].get(name) if photos else None
        photo_cell = f"{photo['decoded']:>4d}/{photo['frames']} {photo['median_ms']:.1f}ms" \
            if photo else "-"
        print(f"{name:45s}" + "".join(f"{c:>14s}" for c in cells) + f"{photo_cell:>16s}",
              file=sys.stderr)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
