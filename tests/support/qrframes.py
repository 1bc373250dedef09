"""Camera-like frames with QR codes in them (tilt, perspective, blur, noise, dim light, inverted,
small codes) for the camera tests and the decode benchmark. Codes come from segno."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import segno

FRAME_SIZE = (1280, 720)


def render_code(text: str, module_px: int = 8, *, error: str = "m", border: int = 4) -> np.ndarray:
    """A printed QR code: black modules on white paper, `module_px` pixels per module."""
    qr = segno.make_qr(text, error=error)
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    matrix = np.pad(matrix, border, constant_values=False)
    image = np.where(matrix, 25, 235).astype(np.uint8)
    return cv2.resize(image, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


@dataclass(frozen=True)
class Placement:
    text: str
    center: tuple[float, float] = (0.5, 0.5)  # fraction of the frame
    size_px: int = 260                          # printed code side (with quiet zone) in the frame
    rotate_deg: float = 0.0                     # in-plane rotation
    tilt_deg: float = 0.0                       # out-of-plane tilt around the vertical axis
    invert: bool = False                        # light modules on dark (phone dark mode)


def background(seed: int, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A plausible scene: smooth shading, a few objects, sensor-like grain."""
    rng = np.random.default_rng(seed)
    width, height = size
    low = rng.normal(0, 1, (height // 40 + 2, width // 40 + 2)).astype(np.float32)
    shading = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    frame = 120 + 35 * shading
    frame = np.repeat(frame[:, :, None], 3, axis=2)
    for _ in range(rng.integers(3, 8)):
        colour = rng.integers(30, 220, 3).tolist()
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(40, 400)), int(rng.integers(40, 300))
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, -1)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _corners(p: Placement, size: tuple[int, int]) -> np.ndarray:
    half = p.size_px / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float32)
    # Tilt: the far side shrinks (perspective), the width foreshortens by cos(tilt).
    tilt = np.radians(p.tilt_deg)
    squeeze = np.cos(tilt)
    keystone = 0.35 * np.sin(tilt)
    tilted = square.copy()
    tilted[:, 0] *= squeeze
    tilted[:, 1] *= 1 + keystone * np.sign(square[:, 0]) * -1
    angle = np.radians(p.rotate_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]],
                        np.float32)
    turned = tilted @ rotation.T
    return turned + np.array([p.center[0] * size[0], p.center[1] * size[1]], np.float32)


def camera_frame(placements: list[Placement] | tuple[Placement, ...] = (), *, seed: int = 0,
                 size: tuple[int, int] = FRAME_SIZE, blur_sigma: float = 0.0,
                 motion_px: int = 0, noise_sigma: float = 2.0, dim: float = 1.0,
                 jpeg_quality: int | None = None) -> np.ndarray:
    """A BGR frame with each placement's code pasted in with the given distortions."""
    frame = background(seed, size).astype(np.float32)
    for placement in placements:
        code = render_code(placement.text, module_px=8)
        if placement.invert:
            code = 255 - code
        h, w = code.shape
        source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        target = _corners(placement, size)
        matrix = cv2.getPerspectiveTransform(source, target)
        warped = cv2.warpPerspective(code, matrix, size, flags=cv2.INTER_AREA,
                                     borderValue=0).astype(np.float32)
        mask = cv2.warpPerspective(np.full((h, w), 1.0, np.float32), matrix, size,
                                   flags=cv2.INTER_LINEAR, borderValue=0)
        frame = frame * (1 - mask[:, :, None]) + warped[:, :, None] * mask[:, :, None]
    if blur_sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
    if motion_px > 1:
        kernel = np.zeros((motion_px, motion_px), np.float32)
        kernel[motion_px // 2, :] = 1.0 / motion_px
        frame = cv2.filter2D(frame, -1, kernel)
    frame = frame * dim
    if noise_sigma > 0:
        rng = np.random.default_rng(seed + 1)
        frame = frame + rng.normal(0, noise_sigma, frame.shape)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    if jpeg_quality:
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return frame


def write_video(path, frames, fps: int = 15) -> None:
    """An MJPEG AVI, the way a webcam's stream would be saved."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MJPEG AVI here")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
