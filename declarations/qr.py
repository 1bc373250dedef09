"""Personal QR images (SVG for the page and download, PNG for saving to the phone's photos)."""
from __future__ import annotations

import io

import segno

# M recovers from ~15% damage (a scratched phone screen, glare) and keeps a 120-character token
# at version 6-7: large modules, read at arm's length by a webcam.
ERROR_LEVEL = "m"
BORDER = 4  # the quiet zone the QR standard asks for


def qr_svg(text: str, *, title: str | None = None) -> str:
    """Scalable SVG (viewBox, no fixed size) to size with CSS; black on white."""
    buffer = io.BytesIO()
    segno.make(text, error=ERROR_LEVEL, micro=False).save(
        buffer, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True, border=BORDER,
        dark="#000", light="#fff", svgclass="qr", lineclass=None, title=title,
    )
    return buffer.getvalue().decode("utf-8")


def qr_png(text: str, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error=ERROR_LEVEL, micro=False).save(
        buffer, kind="png", scale=scale, border=BORDER, dark="#000", light="#fff",
    )
    return buffer.getvalue()
