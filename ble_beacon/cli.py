"""`flask --app app beacon …`: parse advertisement records from JSON lines, or scan for a while and
print the encounters heard (neither needs the database); `report adoption` reads it."""
from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

import click
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from ble_beacon.aggregation import Encounter
from ble_beacon.parsing import AdvertisementRecord, RecordError, parse_advertisement

# Longest input line accepted; a real record is a few hundred bytes.
MAX_LINE_CHARS = 64 * 1024

RECORD_ERRORS = {
    "invalid_json": _l("The line is not valid JSON."),
    "record_not_object": _l("The record must be a JSON object."),
    "address_missing": _l("The record has no device address."),
    "too_long": _l("The value is too long."),
    "invalid_company_id": _l("Company IDs must be decimal numbers from 0 to 65535."),
    "invalid_hex": _l("Data must be hexadecimal bytes (an even number of 0-9, a-f)."),
    "invalid_uuid": _l("Not a Bluetooth UUID (16-, 32- or 128-bit)."),
    "not_a_list": _l("This member must be a list."),
    "not_an_object": _l("This member must be a JSON object."),
    "too_many_entries": _l("Too many entries."),
    "not_a_string": _l("This member must be text."),
    "not_an_integer": _l("This member must be a whole number."),
    "out_of_range": _l("The number is out of range."),
    "invalid_datetime": _l("Not an ISO 8601 date and time."),
    "datetime_without_offset": _l("The time must carry a UTC offset (for example +07:00)."),
    "line_too_long": _l("The line is too long."),
    "not_utf8": _l("The line is not UTF-8 text."),
}


def bilingual(message: Any) -> dict[str, str]:
    """A lazy message in Vietnamese and English (outside an app both are the English text)."""
    with force_locale("vi"):
        vi = str(message)
    with force_locale("en"):
        en = str(message)
    return {"message_vi": vi, "message_en": en}


def both_languages(message: Any) -> str:
    texts = bilingual(message)
    vi, en = texts["message_vi"], texts["message_en"]
    return vi if vi == en else f"{vi} / {en}"


def bounded_lines(stream: IO[str], limit: int = MAX_LINE_CHARS) -> Iterable[str | None]:
    """Lines of a text stream, never holding more than `limit` characters of one in memory;
    None stands for a line that was longer (skipped to its end)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith("\n"):
            while line and not line.endswith("\n"):
                line = stream.readline(limit)
            yield None
            continue
        yield line


def _is_utf8(line: str) -> bool:
    """Input is read with surrogateescape, so bytes that are not UTF-8 reach us as lone
    surrogates: one bad line is reported, the rest still runs."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_lines(lines: Iterable[str | None], out: IO[str], *,
                now: datetime | None = None) -> int:
    """One JSON line out per non-blank line in. Returns the number of malformed input lines."""
    errors = 0
    for number, line in enumerate(lines, start=1):
        if line is not None and not line.strip():
            continue
        try:
            if line is None or len(line) > MAX_LINE_CHARS:
                raise RecordError("line_too_long")
            if not _is_utf8(line):
                raise RecordError("not_utf8")
            record = AdvertisementRecord.from_json_line(line)
        except RecordError as exc:
            errors += 1
            message = RECORD_ERRORS.get(exc.code, _l("The record is malformed."))
            output: dict[str, Any] = {"line": number, "error": exc.code,
                                      "message": str(message), **bilingual(message)}
            if exc.field:
                output["field"] = exc.field
        else:
            output = {"line": number, "address": record.address, "rssi": record.rssi}
            output.update(parse_advertisement(record, now=now).to_json())
        out.write(json.dumps(output, ensure_ascii=False) + "\n")
        out.flush()
    return errors


@click.group("beacon", help="Contact-tracing phones over BLE: parse records, scan.")
def beacon() -> None:
    pass


@beacon.command("parse")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default="-",
              show_default=True, help="JSON lines file ('-' reads standard input).")
def parse_command(input_file: IO[str]) -> None:
    """Read advertisement records as JSON lines and print one JSON line each.

    A record: {"address", "rssi", "manufacturer_data": {company id as decimal string: hex},
    "service_data": {uuid: hex}, "service_uuids", "local_name"} and optionally "tx_power" and
    "seen_at" (ISO 8601 with offset; gives the Bluezone slot, otherwise the current time does).
    Output: {"line", "address", "rssi", "protocol", "rolling_id", "key_type", "key", "status", …};
    status is ok, ignored (not a contact-tracing advert) or rejected (malformed, with "reason").
    A line that is not a valid record gives {"line", "error", "message"} and the rest still runs.

    Exit status: 0 when every line was a valid record, 1 when at least one was not.
    """
    errors = parse_lines(bounded_lines(input_file), sys.stdout, now=datetime.now(UTC))
    if errors:
        click.echo(gettext("%(count)d malformed line(s).", count=errors), err=True)
        sys.exit(1)


def _default_adapter() -> str:
    try:
        return str(current_app.config.get("BLE", "auto"))
    except RuntimeError:  # run outside a Flask app (tests, plain click)
        return "auto"


@beacon.command("scan")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), required=True,
              help="How long to scan.")
@click.option("--adapter", default=None, help="auto or an adapter name such as hci0 "
              "(default: KIOSK_BLE).")
@click.option("--mode", type=click.Choice(["active", "passive"]), default="active",
              show_default=True, help="Passive falls back to active when BlueZ refuses it.")
def scan_command(seconds: float, adapter: str | None, mode: str) -> None:
    """Scan for N seconds and print each encounter as a JSON line (when it ends, or at the end).

    Exit status: 0 after a scan, 1 when no adapter could be used (the reason goes to stderr).
    """
    from ble_beacon.scanner import BleScanner, ConfigError, ScannerConfig

    chosen = adapter or _default_adapter()
    if chosen == "off":
        chosen = "auto"  # asking for a scan overrides a kiosk that keeps scanning off
    try:
        config = ScannerConfig(adapter=chosen, scanning_mode=mode)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--adapter") from None
    printer = _EncounterPrinter(sys.stdout)
    was_ok = threading.Event()

    def on_status(status) -> None:
        if status.state == "ok":
            was_ok.set()

    scanner = BleScanner(config, sink=printer.take, on_status=on_status)
    scanner.start()
    try:
        threading.Event().wait(seconds)  # the scan itself: the command's whole job
    finally:
        final_status = scanner.status_info()
        scanner.stop()
    printer.finish()
    if not was_ok.is_set():
        click.echo(f"BLE: {final_status} — {both_languages(final_status.message)}", err=True)
        sys.exit(1)
    click.echo(gettext("%(count)d encounter(s).", count=printer.count), err=True)


class _EncounterPrinter:
    """Prints an encounter once it is closed; whatever is still open is printed at the end."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.count = 0
        self._open: dict[tuple[str, str, datetime], Encounter] = {}
        self._lock = threading.Lock()

    def take(self, batch: list[Encounter]) -> None:
        with self._lock:
            for encounter in batch:
                key = (encounter.protocol, encounter.rolling_id, encounter.first_seen_at)
                if encounter.closed:
                    self._open.pop(key, None)
                    self._write(encounter)
                else:
                    self._open[key] = encounter

    def finish(self) -> None:
        with self._lock:
            for encounter in sorted(self._open.values(), key=lambda e: e.first_seen_at):
                self._write(encounter)
            self._open.clear()

    def _write(self, encounter: Encounter) -> None:
        self.count += 1
        self.out.write(json.dumps(encounter.to_json(), ensure_ascii=False) + "\n")
        self.out.flush()
