"""Vietnamese first, English on the toggle: locale selection and the message catalogues."""
from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel
from jinja2 import pass_context

babel = Babel()

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def select_locale() -> str:
    if not has_request_context():  # CLI commands and workers speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    asked = request.args.get("lang")
    if asked in languages:
        return asked
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.filters["decimal"] = _decimal_filter

    @app.context_processor
    def _languages():
        from flask_babel import get_locale

        return {"current_lang": str(get_locale() or "vi"), "languages": app.config["LANGUAGES"]}


def format_local(value, fmt: str = "%H:%M %d/%m/%Y") -> str:
    """A UTC datetime as Vietnamese wall-clock time (what people read on the screen)."""
    if value is None:
        return ""
    return value.astimezone(LOCAL_TZ).strftime(fmt)


@pass_context
def _decimal_filter(_context, value, digits: int = 1) -> str:
    # pass_context: Jinja must not fold `36.8|decimal` into the template at compile time (it
    # would keep the language of the first page it rendered).
    return format_number(value, digits)


def format_number(value, digits: int = 1, lang: str | None = None) -> str:
    """A number as people write it in the page's language: 38,2 and 1.234,5 in Vietnamese,
    38.2 and 1,234.5 in English."""
    if value is None:
        return ""
    from babel.numbers import format_decimal
    from flask_babel import get_locale

    locale = lang or (str(get_locale() or "vi") if has_request_context() else "vi")
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=locale)


def compile_catalogs(root: Path) -> list[Path]:
    """Compile every package's .po into .mo when the .mo is missing or older; returns what was
    built. `make` calls this through `flask --app app translations compile`."""
    built = []
    for po_path in sorted(root.glob("*/translations/*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parts[-3])
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog)
        built.append(mo_path)
    return built
