"""Every user-facing BLE message has a Vietnamese translation in the package catalogue."""
from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po

PACKAGE = Path(__file__).resolve().parents[2] / "ble_beacon"
CATALOGUE = PACKAGE / "translations" / "vi" / "LC_MESSAGES" / "messages.po"


def _msgids() -> set[str]:
    found = set()
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "_l", "gettext", "lazy_gettext")
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def test_every_message_is_translated():
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="vi")
    translated = {m.id: m.string for m in catalogue if m.id}
    missing = sorted(m for m in _msgids() if not translated.get(m))
    assert missing == []
    assert len(_msgids()) >= 25
