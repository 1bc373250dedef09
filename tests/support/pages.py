"""What a person sees on a page, for the browser tests: horizontal scrolling, touch targets that
are too small, English left on a Vietnamese page, raw codes shown instead of words."""
from __future__ import annotations

import functools
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
MIN_TARGET_PX = 44

# The sizes the issue names: the visitor's phone, the kiosk in landscape and in portrait.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
LANDSCAPE = {"viewport": {"width": 1280, "height": 800}}
PORTRAIT = {"viewport": {"width": 1080, "height": 1920}}
SIZES = {"phone": PHONE, "landscape": LANDSCAPE, "portrait": PORTRAIT}


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its window (0: no sideways scrolling)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth")


def small_touch_targets(page, selector: str = "a, button, input, select, textarea, label.option,"
                        " label.kiosk-tile") -> list[str]:
    """Visible controls a finger cannot hit: smaller than 44 × 44 CSS pixels. A tick box or
    radio counts by its label (the whole label is the target)."""
    return page.evaluate(
        """([selector, min]) => {
          const small = [];
          for (const el of document.querySelectorAll(selector)) {
            if (el.type === 'hidden' || !el.getClientRects().length) continue;
            if (getComputedStyle(el).visibility === 'hidden') continue;
            let box = el.getBoundingClientRect();
            if ((el.type === 'checkbox' || el.type === 'radio') && el.closest('label')) {
              box = el.closest('label').getBoundingClientRect();
            }
            if (el.tagName === 'A' && getComputedStyle(el).display === 'inline'
                && el.closest('p, li, td')) continue;  // a link inside a sentence
            if (box.width < min || box.height < min) {
              small.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name
                || '').trim().slice(0, 40)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
            }
          }
          return small;
        }""", [selector, MIN_TARGET_PX])


@functools.cache
def _english_messages() -> frozenset[str]:
    """Every English message the catalogues translate to other words (two words or more)."""
    found = set()
    for po_path in ROOT.glob("*/translations/vi/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if not message.id or not isinstance(message.id, str) or not message.string:
                continue
            text = message.id
            if "%(" in text or "{" in text or len(text.split()) < 2:
                continue
            if message.string.strip() != text.strip():
                found.add(text)
    return frozenset(found)


def untranslated(page) -> list[str]:
    """English messages left on a page that speaks Vietnamese."""
    text = page.locator("body").inner_text()
    return sorted(m for m in _english_messages() if m in text)


def sign_in(page, base_url: str, username: str, password: str = "correct horse battery",
            then: str = "/") -> None:
    """Through the real sign-in form, as staff do; waits for the page it leads to."""
    page.goto(base_url + "/login?next=" + then)
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base_url + then)


def screenshot(page, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
