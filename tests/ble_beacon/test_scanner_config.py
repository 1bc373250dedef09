"""Scanner configuration from the app config (KIOSK_BLE, KIOSK_BLE_SCAN_MODE)."""
from __future__ import annotations

import pytest

from ble_beacon.scanner import OR_PATTERNS, ConfigError, ScannerConfig


def test_configuration_is_validated():
    assert ScannerConfig.from_mapping({"BLE": "hci0", "BLE_SCAN_MODE": "Passive"}) == ScannerConfig(
        adapter="hci0", scanning_mode="passive")
    assert ScannerConfig.from_mapping({"BLE": "OFF"}).adapter == "off"
    with pytest.raises(ConfigError):
        ScannerConfig(adapter="/org/bluez/hci0")
    with pytest.raises(ConfigError):
        ScannerConfig(scanning_mode="loud")


def test_passive_patterns_cover_bluezone_and_gaen():
    assert (0, 0xFF, b"\xb5\x22") in [tuple(p) for p in OR_PATTERNS]
    assert (0, 0x16, b"\x6f\xfd") in [tuple(p) for p in OR_PATTERNS]


def test_batches_go_to_the_writer_about_once_a_second():
    assert ScannerConfig().flush_interval_s == 1.0


@pytest.mark.parametrize(("key", "value"), [("BLE", "/dev/hci0"), ("BLE_SCAN_MODE", "loud"),
                                            ("BLE_BEACON", "altbeacon")])
def test_wrong_ble_settings_stop_the_start_up_naming_the_variable(tmp_path, key, value):
    from app import create_app
    from core.settings import ConfigError

    with pytest.raises(ConfigError, match=f"KIOSK_{key}"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", key: value})


def test_ble_settings_are_normalised(tmp_path):
    from app import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "BLE": "OFF",
                      "BLE_SCAN_MODE": "Passive", "BLE_BEACON": " iBeacon "})
    assert (app.config["BLE"], app.config["BLE_SCAN_MODE"], app.config["BLE_BEACON"]) == (
        "off", "passive", "ibeacon")
