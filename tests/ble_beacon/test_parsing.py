"""The advertisement parsers: every reference format, the malformed ones, and fuzzing."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ble_beacon import parsing
from ble_beacon.parsing import AdvertisementRecord, RecordError, parse_advertisement
from tests.ble_beacon import phones

NOW = datetime(2026, 3, 10, 9, 20, tzinfo=UTC)  # slot 37
ADDR = "5E:11:22:33:44:55"


def record(**kwargs) -> AdvertisementRecord:
    kwargs.setdefault("address", ADDR)
    kwargs.setdefault("rssi", -70)
    uuids = kwargs.pop("uuids", ())
    name = kwargs.pop("name", None)
    return AdvertisementRecord.create(service_uuids=uuids, local_name=name, **kwargs)


# --- Bluezone Android v2+ ----------------------------------------------------------------------
def test_bluezone_android_is_keyed_by_its_twelve_byte_id_with_its_slot():
    rolling = phones.bluezone_id(NOW)
    result = parse_advertisement(record(**phones.bluezone_android(NOW)), now=NOW)
    assert result.ok
    assert result.protocol == "bluezone"
    assert result.rolling_id == rolling.hex()
    assert (result.key_type, result.key) == ("rolling_id", rolling.hex())
    assert result.details["slot"] == 37
    assert result.details["slot_day"] == "2026-03-10"


def test_bluezone_id_is_accepted_on_its_length_even_without_the_service_uuid():
    rolling = phones.bluezone_id(NOW)
    result = parse_advertisement(record(manufacturer_data={8885: rolling}))
    assert result.protocol == "bluezone" and result.rolling_id == rolling.hex()
    assert result.details["service_uuid_present"] is False
    assert "slot" not in result.details  # no time given, no slot invented


@pytest.mark.parametrize("length", [0, 1, 6, 11, 13, 31])
def test_bluezone_ids_of_the_wrong_length_are_rejected(length):
    result = parse_advertisement(record(uuids=[parsing.BLUEZONE_SERVICE_UUID],
                                        manufacturer_data={8885: bytes(length)}))
    assert result.status == parsing.REJECTED
    assert result.protocol is None and result.rolling_id is None
    assert result.reason == "bluezone_id_length"


def test_bluezone_service_without_the_id_is_rejected():
    result = parse_advertisement(record(uuids=[parsing.BLUEZONE_SERVICE_UUID]))
    assert (result.status, result.reason) == (parsing.REJECTED, "bluezone_id_missing")


def test_obsolete_v1_adverts_are_never_bluezone_v2():
    v1 = record(uuids=["e20a39f4-73f5-4bc4-a12f-17d1ad07a889"],
                manufacturer_data={8885: b"A1B2C3"})
    result = parse_advertisement(v1)
    assert (result.status, result.protocol, result.reason) == (
        parsing.IGNORED, None, "bluezone_v1_obsolete")


# --- Exposure Notification ---------------------------------------------------------------------
def test_gaen_is_keyed_by_the_rpi_and_keeps_the_encrypted_metadata():
    rpi = bytes(range(16))
    result = parse_advertisement(record(**phones.gaen(rpi, b"\x40\x0c\x00\x00")))
    assert (result.protocol, result.rolling_id) == ("gaen", rpi.hex())
    assert result.key_type == "rolling_id"
    assert result.details["aem"] == "400c0000"


def test_gaen_short_uuid_spelling_in_json_is_understood():
    line = json.dumps({"address": ADDR, "service_uuids": ["FD6F"],
                       "service_data": {"fd6f": "00" * 20}})
    result = parse_advertisement(AdvertisementRecord.from_json_line(line))
    assert result.protocol == "gaen"


@pytest.mark.parametrize("length", [0, 16, 19, 21, 24])
def test_gaen_payloads_of_the_wrong_length_are_rejected(length):
    result = parse_advertisement(record(service_data={parsing.GAEN_SERVICE_UUID: bytes(length)},
                                        uuids=[parsing.GAEN_SERVICE_UUID]))
    assert (result.status, result.reason) == (parsing.REJECTED, "gaen_payload_length")


def test_gaen_service_without_payload_is_rejected():
    result = parse_advertisement(record(uuids=[parsing.GAEN_SERVICE_UUID]))
    assert result.reason == "gaen_payload_missing"


# --- Presence-only protocols -------------------------------------------------------------------
def test_bluezone_ios_foreground_is_presence_only_keyed_by_address():
    result = parse_advertisement(record(**phones.bluezone_ios_foreground()))
    assert (result.protocol, result.rolling_id) == ("bluezone_ios", None)
    assert (result.key_type, result.key) == ("address", ADDR)
    assert result.details["variant"] == "foreground"


def test_bluezone_ios_recognised_by_local_name_alone():
    result = parse_advertisement(record(name="Bluezone"))
    assert result.protocol == "bluezone_ios" and result.details["matched"] == "local_name"


@pytest.mark.parametrize("bitmask", [b"\x08" + bytes(15), bytes(4) + b"\x01" + bytes(11),
                                     b"\xff" * 16])
def test_bluezone_ios_background_overflow_bit(bitmask):
    result = parse_advertisement(record(manufacturer_data={0x004C: b"\x01" + bitmask}))
    assert result.protocol == "bluezone_ios" and result.details["variant"] == "background"


def test_other_apps_in_the_overflow_area_are_ignored():
    result = parse_advertisement(record(manufacturer_data={0x004C: b"\x01\x01" + bytes(15)}))
    assert result.status == parsing.IGNORED


def test_malformed_overflow_area_is_rejected():
    result = parse_advertisement(record(manufacturer_data={0x004C: b"\x01\x08\x00"}))
    assert result.reason == "apple_overflow_length"


def test_bluezone_wakeup_ibeacon():
    result = parse_advertisement(record(**phones.bluezone_wakeup()))
    assert (result.protocol, result.key_type, result.key) == ("bluezone_wakeup", "address", ADDR)
    assert (result.details["major"], result.details["minor"]) == (20, 20)
    assert result.details["measured_power"] == -59


def test_other_ibeacons_are_ignored_and_short_ones_rejected():
    other = b"\x02\x15" + bytes(16) + b"\x00\x01\x00\x02\xc5"
    assert parse_advertisement(record(manufacturer_data={0x004C: other})).status == parsing.IGNORED
    short = parse_advertisement(record(manufacturer_data={0x004C: other[:-1]}))
    assert short.reason == "ibeacon_length"


def test_bluetrace_is_presence_only():
    result = parse_advertisement(record(**phones.bluetrace()))
    assert (result.protocol, result.rolling_id, result.key) == ("bluetrace", None, ADDR)
    assert result.details == {"variant": "production", "tx_power": 7}


def test_bluetrace_with_malformed_manufacturer_bytes_is_rejected():
    result = parse_advertisement(record(uuids=["b82ab3fc-1595-4f6a-80f0-fe094cc218f9"],
                                        manufacturer_data={1023: b"toolong"}))
    assert result.reason == "bluetrace_manufacturer_length"


# --- Everything else ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "Watch", "manufacturer_data": {0x0157: b"\x01\x02\x03"}},
        {"uuids": [parsing.uuid16(0xFD64)], "service_data": {parsing.uuid16(0xFD64): b"\x00" * 20}},
        {"manufacturer_data": {0x004C: b"\x10\x05\x01\x18\x44\x00\x00"}},  # Apple nearby info
        {},
    ],
)
def test_unrelated_devices_are_ignored(kwargs):
    result = parse_advertisement(record(**kwargs))
    assert (result.status, result.protocol, result.key) == (parsing.IGNORED, None, None)


def test_a_rolling_id_beats_presence_only_when_one_device_carries_both():
    wakeup = phones.bluezone_wakeup()["manufacturer_data"][0x004C]
    merged = record(manufacturer_data={8885: phones.bluezone_id(NOW), 0x004C: wakeup})
    assert parse_advertisement(merged).protocol == "bluezone"


def test_a_valid_format_wins_over_a_malformed_one_in_the_same_record():
    merged = record(manufacturer_data={0x004C: b"\x01\x08"},
                    service_data={parsing.GAEN_SERVICE_UUID: bytes(20)})
    assert parse_advertisement(merged).protocol == "gaen"


def test_registry_lists_every_protocol_once():
    assert sorted(name for name, _ in parsing.PARSERS) == sorted(parsing.PROTOCOLS)


# --- The JSON record constructor ---------------------------------------------------------------
def test_json_record_round_trip():
    line = json.dumps({
        "address": "5e:11:22:33:44:55", "rssi": -61, "tx_power": None,
        "manufacturer_data": {"8885": phones.bluezone_id(NOW).hex().upper()},
        "service_data": {}, "service_uuids": ["00004E56-0000-1000-8000-00805F9B34FB"],
        "local_name": None, "seen_at": "2026-03-10T16:20:00+07:00",
    })
    rec = AdvertisementRecord.from_json_line(line)
    assert rec.address == ADDR and rec.rssi == -61
    assert rec.service_uuids == (parsing.BLUEZONE_SERVICE_UUID,)
    result = parse_advertisement(rec, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert result.details["slot"] == 37  # the record's own time, not the parse time


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ([], "record_not_object", None),
        ({}, "address_missing", "address"),
        ({"address": "  "}, "address_missing", "address"),
        ({"address": ADDR, "rssi": "-60"}, "not_an_integer", "rssi"),
        ({"address": ADDR, "rssi": True}, "not_an_integer", "rssi"),
        ({"address": ADDR, "rssi": -200}, "out_of_range", "rssi"),
        ({"address": ADDR, "manufacturer_data": {"0x22b5": "00"}}, "invalid_company_id",
         "manufacturer_data"),
        ({"address": ADDR, "manufacturer_data": {"70000": "00"}}, "invalid_company_id",
         "manufacturer_data"),
        ({"address": ADDR, "manufacturer_data": {"8885": "abc"}}, "invalid_hex",
         "manufacturer_data"),
        ({"address": ADDR, "manufacturer_data": {"8885": "zz"}}, "invalid_hex",
         "manufacturer_data"),
        ({"address": ADDR, "manufacturer_data": {"8885": 12}}, "invalid_hex", "manufacturer_data"),
        ({"address": ADDR, "manufacturer_data": ["00"]}, "not_an_object", "manufacturer_data"),
        ({"address": ADDR, "service_data": {"not-a-uuid": "00"}}, "invalid_uuid", "service_data"),
        ({"address": ADDR, "service_uuids": "fd6f"}, "not_a_list", "service_uuids"),
        ({"address": ADDR, "service_uuids": [123]}, "invalid_uuid", "service_uuids"),
        ({"address": ADDR, "local_name": 5}, "not_a_string", "local_name"),
        ({"address": ADDR, "seen_at": "2026-03-10T09:20:00"}, "datetime_without_offset", "seen_at"),
        ({"address": ADDR, "seen_at": "yesterday"}, "invalid_datetime", "seen_at"),
        ({"address": ADDR, "manufacturer_data": {"8885": "00" * 600}}, "too_long",
         "manufacturer_data"),
    ],
)
def test_malformed_json_records_are_refused_with_a_reason(data, code, field):
    with pytest.raises(RecordError) as caught:
        AdvertisementRecord.from_json(data)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_hex_may_be_spaced_or_colon_separated():
    rec = AdvertisementRecord.from_json({"address": ADDR,
                                         "manufacturer_data": {"8885": "b5 22:00"}})
    assert rec.manufacturer_data[8885] == b"\xb5\x22\x00"


def test_invalid_json_line():
    with pytest.raises(RecordError) as caught:
        AdvertisementRecord.from_json_line("{not json")
    assert caught.value.code == "invalid_json"


# --- Fuzzing: outside bytes never crash a parser -----------------------------------------------
interesting_companies = st.sampled_from([8885, 0x004C, 1023, 0x0157, 0, 0xFFFF])
interesting_uuids = st.sampled_from([
    parsing.BLUEZONE_SERVICE_UUID, parsing.GAEN_SERVICE_UUID, parsing.BLUEZONE_IOS_SERVICE_UUID,
    "b82ab3fc-1595-4f6a-80f0-fe094cc218f9", "17e033d3-490e-4bc9-9fe8-2f567643f4d3",
    "e20a39f4-73f5-4bc4-a12f-17d1ad07a889", parsing.uuid16(0xFEAA),
])
payloads = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda b: b"\x01" + b, st.binary(max_size=20)),
    st.builds(lambda b: b"\x02\x15" + b, st.binary(max_size=25)),
)
records = st.builds(
    AdvertisementRecord.create,
    address=st.text(min_size=1, max_size=20),
    rssi=st.one_of(st.none(), st.integers(-127, 20)),
    manufacturer_data=st.dictionaries(st.one_of(interesting_companies, st.integers(0, 0xFFFF)),
                                      payloads, max_size=3),
    service_data=st.dictionaries(interesting_uuids, payloads, max_size=3),
    service_uuids=st.lists(interesting_uuids, max_size=4),
    local_name=st.one_of(st.none(), st.just("Bluezone"), st.text(max_size=10)),
    tx_power=st.one_of(st.none(), st.integers(-127, 127)),
)
moments = st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1),
                                            max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))


def _check(result):
    assert result.status in (parsing.OK, parsing.IGNORED, parsing.REJECTED)
    if result.ok:
        assert result.protocol in parsing.PROTOCOLS
        assert result.key_type == parsing.KEY_TYPES[result.protocol]
        assert result.key
        if result.key_type == "rolling_id":
            assert result.key == result.rolling_id
            assert len(bytes.fromhex(result.rolling_id)) in (12, 16)
        else:
            assert result.rolling_id is None
    else:
        assert result.protocol is None and result.key is None and result.reason
    json.dumps(result.to_json())


@pytest.mark.parametrize(("name", "parser"), parsing.PARSERS)
@settings(max_examples=300, deadline=None)
@given(rec=records, moment=moments)
def test_every_parser_survives_arbitrary_records(name, parser, rec, moment):
    result = parser(rec, moment)
    if result is not None:
        _check(result)
        if result.ok:
            assert result.protocol == name


@settings(max_examples=500, deadline=None)
@given(rec=records, moment=moments)
def test_the_registry_classifies_arbitrary_records(rec, moment):
    _check(parse_advertisement(rec, now=moment))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=4),
    max_leaves=12,
)
hex_text = st.binary(max_size=30).map(bytes.hex)
json_records = st.fixed_dictionaries(
    {},
    optional={
        "address": st.one_of(st.text(max_size=20), json_values),
        "rssi": json_values,
        "manufacturer_data": st.one_of(
            st.dictionaries(st.one_of(st.integers(0, 70000).map(str), st.text(max_size=6)),
                            st.one_of(hex_text, json_values), max_size=3),
            json_values),
        "service_data": st.one_of(st.dictionaries(st.one_of(interesting_uuids, st.text(max_size=8)),
                                                  st.one_of(hex_text, json_values), max_size=3),
                                  json_values),
        "service_uuids": st.one_of(st.lists(st.one_of(interesting_uuids, st.text(max_size=8))),
                                   json_values),
        "local_name": json_values,
        "tx_power": json_values,
        "seen_at": st.one_of(st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
                             json_values),
    },
)


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(json_records, json_values))
def test_json_constructor_either_builds_a_record_or_says_why(data):
    try:
        rec = AdvertisementRecord.from_json(data)
    except RecordError as exc:
        assert exc.code
        return
    _check(parse_advertisement(rec))


@settings(max_examples=300, deadline=None)
@given(line=st.text(max_size=200))
def test_arbitrary_text_lines_never_crash(line):
    try:
        AdvertisementRecord.from_json_line(line)
    except RecordError as exc:
        assert exc.code
