"""`beacon parse` and `beacon scan`, through click's CliRunner (the app registers the group)."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ble_beacon.cli import beacon
from tests.ble_beacon import phones

SEEN = datetime(2026, 3, 10, 9, 20, tzinfo=UTC)


def line(address="5E:11:22:33:44:55", rssi=-60, manufacturer_data=None, service_data=None,
         service_uuids=None, local_name=None, **extra) -> str:
    record = {"address": address, "rssi": rssi,
              "manufacturer_data": {str(k): v.hex() for k, v in (manufacturer_data or {}).items()},
              "service_data": {k: v.hex() for k, v in (service_data or {}).items()},
              "service_uuids": service_uuids or [], "local_name": local_name, **extra}
    return json.dumps(record)


def from_phone(props: dict, **extra) -> str:
    return line(manufacturer_data=props.get("manufacturer_data"),
                service_data=props.get("service_data"), service_uuids=props.get("uuids"),
                local_name=props.get("name"), **extra)


def run_parse(text: str):
    result = CliRunner().invoke(beacon, ["parse"], input=text)
    return result, [json.loads(out) for out in result.stdout.splitlines()]


def test_parse_handles_every_reference_format():
    rpi = bytes(range(16))
    lines = [
        from_phone(phones.bluezone_android(SEEN), seen_at=SEEN.isoformat()),
        from_phone(phones.bluezone_ios_foreground()),
        from_phone(phones.bluezone_ios_background()),
        from_phone(phones.bluezone_wakeup()),
        from_phone(phones.gaen(rpi)),
        from_phone(phones.bluetrace(), tx_power=7),
        line(local_name="Watch", manufacturer_data={0x0157: b"\x01"}),
        line(service_uuids=["e20a39f4-73f5-4bc4-a12f-17d1ad07a889"],
             manufacturer_data={8885: b"A1B2C3"}),
    ]
    result, out = run_parse("\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    assert [o["protocol"] for o in out] == ["bluezone", "bluezone_ios", "bluezone_ios",
                                            "bluezone_wakeup", "gaen", "bluetrace", None, None]
    assert out[0]["rolling_id"] == phones.bluezone_id(SEEN).hex() and out[0]["slot"] == 37
    assert out[4]["rolling_id"] == rpi.hex() and out[4]["key_type"] == "rolling_id"
    assert out[5]["rolling_id"] is None and out[5]["key"] == "5E:11:22:33:44:55"
    assert out[6]["status"] == "ignored" and out[7]["reason"] == "bluezone_v1_obsolete"
    assert [o["line"] for o in out] == list(range(1, 9))


def test_malformed_lines_get_an_error_and_the_rest_still_runs():
    text = "\n".join([
        "{not json",
        json.dumps({"address": "5E:00:00:00:00:01", "manufacturer_data": {"8885": "xyz"}}),
        "",
        from_phone(phones.gaen(bytes(16))),
        "[1, 2]",
        line(manufacturer_data={8885: bytes(11)}, service_uuids=["4e56"]),
    ])
    result, out = run_parse(text)
    assert result.exit_code == 1
    assert "3 malformed line(s)." in result.stderr
    assert [o.get("error") for o in out] == ["invalid_json", "invalid_hex", None,
                                             "record_not_object", None]
    assert out[1]["field"] == "manufacturer_data" and out[1]["message"]
    assert out[2]["protocol"] == "gaen" and out[2]["line"] == 4
    # A well-formed record with a malformed advertisement is a result, not an input error.
    assert (out[4]["status"], out[4]["reason"]) == ("rejected", "bluezone_id_length")


def test_empty_input_is_fine():
    result, out = run_parse("")
    assert result.exit_code == 0 and out == []


def test_overlong_lines_are_refused_without_being_held_in_memory():
    huge = json.dumps({"address": "x", "local_name": "a" * 200_000})
    result, out = run_parse(huge + "\n" + from_phone(phones.gaen(bytes(16))) + "\n")
    assert result.exit_code == 1
    assert [o.get("error") for o in out] == ["line_too_long", None]
    assert out[1]["protocol"] == "gaen" and out[1]["line"] == 2


def test_bounded_lines_reads_in_limited_pieces():
    import io

    from ble_beacon.cli import bounded_lines

    lines = list(bounded_lines(io.StringIO("ab\n" + "x" * 25 + "\nlast"), limit=10))
    assert lines == ["ab\n", None, "last"]


@pytest.mark.asyncio
async def test_scan_prints_the_encounters_heard(bluez):
    now = datetime.now(UTC)
    path = await bluez.add_phone("5E:11:22:33:44:66", rssi=-70, **phones.bluezone_android(now))
    runner = CliRunner()
    scan = asyncio.create_task(asyncio.to_thread(
        runner.invoke, beacon, ["scan", "--seconds", "1.5", "--adapter", "hci0"]))
    rssi = -70
    while not scan.done():  # the phone keeps advertising while the command listens
        rssi = -71 if rssi == -70 else -70
        await bluez.advertise(path, rssi=rssi)
        await asyncio.sleep(0.05)
    result = await scan
    assert result.exit_code == 0, result.stderr
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o["protocol"] for o in out] == ["bluezone"]
    assert out[0]["rolling_id"] == phones.bluezone_id(now).hex()
    assert out[0]["count"] >= 2 and out[0]["rssi_max"] == -70
    assert "1 encounter(s)." in result.stderr


@pytest.mark.asyncio
async def test_scan_without_an_adapter_says_so_and_fails(bluez):
    await bluez.remove_adapter()
    result = await asyncio.to_thread(CliRunner().invoke, beacon, ["scan", "--seconds", "0.5"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "absent" in result.stderr and "No Bluetooth adapter found" in result.stderr


def test_scan_refuses_a_bad_adapter_name():
    result = CliRunner().invoke(beacon, ["scan", "--seconds", "1", "--adapter", "../hci0"])
    assert result.exit_code == 2 and "adapter" in result.stderr
