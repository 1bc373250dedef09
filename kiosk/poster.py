"""The printable venue poster: an A4 PDF with the venue QR (at least 15 × 15 cm, the Hà Nội rule
for venue codes) and bilingual instructions.

The poster shows Vietnamese and English side by side, whatever the admin's own language, so its
wording lives here rather than in the message catalogue (like the consent texts)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno

# Hà Nội's rule for posted venue codes: at least 15 × 15 cm. This is the symbol itself; the
# quiet zone (4 modules of blank paper, the QR standard's minimum) comes on top of it.
QR_SIZE_MM = 152
QUIET_ZONE_MODULES = 4
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGIN_MM = 12
# Pixels per QR module in the embedded image: crisp at print resolution, still a small file.
QR_PIXELS_PER_MODULE = 16
# Fonts with Vietnamese glyphs; `make` installs DejaVu through fonts-dejavu-core.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/local/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}

TITLE = {"vi": "KHAI BÁO Y TẾ", "en": "Health declaration"}
STEPS = {
    "vi": (
        "1. Quét mã QR này bằng camera điện thoại, điền tờ khai y tế và bấm Gửi.",
        "2. Lần sau: đưa mã QR cá nhân hoặc thẻ CCCD vào camera của kiosk.",
        "3. Khi ra về: quét lại mã tại kiosk.",
    ),
    "en": (
        "1. Scan this QR code with your phone's camera, fill in the health declaration and "
        "press Submit.",
        "2. Next time: show your personal QR code or CCCD card to the kiosk camera.",
        "3. When you leave: scan again at the kiosk.",
    ),
}
APP_NOTE = {
    "vi": "Hãy cài ứng dụng truy vết tiếp xúc (Bluezone / PC-Covid) và bật Bluetooth.",
    "en": "Please install the contact-tracing app (Bluezone / PC-Covid) and turn Bluetooth on.",
}
LINK_NOTE = {"vi": "Không quét được? Mở địa chỉ:", "en": "Cannot scan? Open:"}


class PosterError(RuntimeError):
    """The poster cannot be made on this machine (a missing font); the message says what to do."""


@dataclass(frozen=True)
class PosterVenue:
    code: str
    name: str
    address: str | None
    url: str  # the venue's signed link, what the QR holds


def find_font_dir(dirs: tuple[Path, ...] = FONT_DIRS) -> Path:
    for directory in dirs:
        if all((directory / name).is_file() for name in FONT_FILES.values()):
            return directory
    raise PosterError(
        "DejaVu Sans was not found (it has the Vietnamese letters the poster needs); "
        "install the fonts-dejavu-core package"
    )


def qr_png(url: str) -> tuple[bytes, int]:
    """The QR symbol as a PNG without its quiet zone (the poster leaves blank paper around it),
    and its width in modules."""
    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=QR_PIXELS_PER_MODULE, border=0)
    return buffer.getvalue(), code.symbol_size(border=0)[0]


def render_poster(venue: PosterVenue, *, font_dir: Path | None = None) -> bytes:
    # fpdf2 (with fontTools) is ~50 MB once imported: only an admin printing a poster pays it,
    # never the kiosk loop.
    from fpdf import FPDF

    font_dir = font_dir or find_font_dir()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(f"{TITLE['vi']} — {venue.name}")
    pdf.set_creator("KhaiBao Kiosk")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    for style, name in FONT_FILES.items():
        pdf.add_font("DejaVu", style, str(font_dir / name))
    pdf.add_page()
    width = PAGE_WIDTH_MM - 2 * MARGIN_MM

    pdf.set_font("DejaVu", "B", 26)
    pdf.cell(width, 11, TITLE["vi"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 13)
    pdf.cell(width, 6, TITLE["en"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(width, 6.5, venue.name, align="C", new_x="LMARGIN", new_y="NEXT")
    if venue.address:
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width, 5, venue.address, align="C", new_x="LMARGIN", new_y="NEXT")

    png, modules = qr_png(venue.url)
    quiet = QUIET_ZONE_MODULES * QR_SIZE_MM / modules
    top = pdf.get_y() + quiet
    pdf.image(io.BytesIO(png), x=(PAGE_WIDTH_MM - QR_SIZE_MM) / 2, y=top, w=QR_SIZE_MM,
              h=QR_SIZE_MM)
    below = top + QR_SIZE_MM + quiet

    # Two columns under the code: Vietnamese on the left, English on the right.
    gap = 6
    column = (width - gap) / 2
    bottom = below
    for index, (lang, style) in enumerate((("vi", "B"), ("en", ""))):
        pdf.set_xy(MARGIN_MM + index * (column + gap), below)
        pdf.set_font("DejaVu", style, 10)
        for step in STEPS[lang]:
            pdf.multi_cell(column, 4.5, step, align="L", new_x="LEFT", new_y="NEXT")
            pdf.set_xy(pdf.get_x(), pdf.get_y() + 0.6)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(column, 4.5, APP_NOTE[lang], align="L", new_x="LEFT", new_y="NEXT")
        bottom = max(bottom, pdf.get_y())
    pdf.set_xy(MARGIN_MM, bottom + 2)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(width, 3.8, f"{LINK_NOTE['vi']} / {LINK_NOTE['en']} {venue.url}",
                   align="C", new_x="LMARGIN", new_y="NEXT")
    if pdf.get_y() > PAGE_HEIGHT_MM - 5:
        raise PosterError("the venue name and address are too long to fit on one A4 page")
    return bytes(pdf.output())
