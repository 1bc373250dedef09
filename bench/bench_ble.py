"""BLE ingest benchmark (not a test): advertisements per second through the whole scanner path
(mock bluetoothd → D-Bus → bleak → parsing → aggregation), and encounter rows per second through
the batched writer on SQLite.

    python bench/bench_ble.py [--phones N] [--reports N] [--rows N]

Prints a summary to stderr and the result as JSON to stdout. Needs dbus-daemon and the dev
requirements (python-dbusmock), like the BLE tests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dbus_fast import BusType  # noqa: E402
from dbus_fast.aio import MessageBus  # noqa: E402

from ble_beacon.aggregation import Encounter as Sighting  # noqa: E402
from ble_beacon.scanner import BleScanner, ScannerConfig  # noqa: E402
from tests.ble_beacon import phones  # noqa: E402
from tests.ble_beacon.mockbluez import BluezController, MockBluez, PrivateBus  # noqa: E402


async def _scanner_rate(address: str, n_phones: int, reports: int) -> dict:
    batches: list = []
    scanner = BleScanner(ScannerConfig(health_interval_s=0.5, flush_interval_s=1.0),
                         sink=batches.append)
    scanner.start()
    bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
    try:
        control = BluezController(bus)
        while scanner.status() != "ok":
            await asyncio.sleep(0.01)
        now = datetime.now(UTC)
        paths = [await control.add_phone(f"5E:00:00:00:{i // 256:02X}:{i % 256:02X}",
                                         **phones.bluezone_android(now))
                 for i in range(n_phones)]
        start = time.perf_counter()
        expected = n_phones + n_phones * reports
        for path in paths:
            await control.burst(path, reports, -50)
        while scanner.recorded < expected:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        bus.disconnect()
        scanner.stop()
    return {"phones": n_phones, "reports": n_phones * reports, "seconds": round(elapsed, 3),
            "adv_per_s": round(n_phones * reports / elapsed)}


def _writer_rate(rows: int) -> dict:
    from sqlmodel import Session, SQLModel

    import core.model_registry  # noqa: F401
    from ble_beacon.services import record_encounters
    from core.db import create_engine_for_url
    from core.models import Venue

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine_for_url(f"sqlite:///{tmp}/bench.db")
        SQLModel.metadata.create_all(engine)
        t0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
        with Session(engine, expire_on_commit=False) as session:
            venue = Venue(code="BENCH", name="Bench", created_at=t0)
            session.add(venue)
            session.commit()
            batch = [Sighting("gaen", f"{i:032x}", "rolling_id", t0, t0, 1, -70, -70, -70.0,
                              "near", False, MappingProxyType({})) for i in range(rows)]
            start = time.perf_counter()
            record_encounters(session=session, encounters=batch, venue_id=venue.id)
            insert_s = time.perf_counter() - start
            later = [Sighting(s.protocol, s.rolling_id, s.key_type, s.first_seen_at,
                              s.last_seen_at + timedelta(seconds=5), 2, -75, -65, -70.0, "near",
                              False, s.details) for s in batch]
            start = time.perf_counter()
            record_encounters(session=session, encounters=later, venue_id=venue.id)
            update_s = time.perf_counter() - start
        engine.dispose()
    return {"rows": rows, "insert_rows_per_s": round(rows / insert_s),
            "update_rows_per_s": round(rows / update_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--reports", type=int, default=200, help="RSSI reports per phone")
    parser.add_argument("--rows", type=int, default=2000, help="encounters per writer batch")
    args = parser.parse_args()

    bus = PrivateBus()
    address = bus.start()
    mock = MockBluez(address)
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    try:
        mock.start()
        mock.reset()
        scan = asyncio.run(_scanner_rate(address, args.phones, args.reports))
    finally:
        mock.stop()
        bus.stop()
    write = _writer_rate(args.rows)
    result = {"machine": platform.platform(), "python": platform.python_version(),
              "cpus": os.cpu_count(), "scanner": scan, "writer": write}
    print(f"scanner path: {scan['adv_per_s']} adv/s ({scan['phones']} phones, "
          f"{scan['reports']} reports); writer: {write['insert_rows_per_s']} rows/s insert, "
          f"{write['update_rows_per_s']} rows/s update (SQLite, one transaction per batch)",
          file=sys.stderr)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
