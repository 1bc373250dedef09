"""python-dbusmock template for the BLE tests: the stock `bluez5` template plus what bleak's scanner
and the venue beacon need from bluetoothd (reference ble-testing.md §4).

Loaded by path (`python -m dbusmock --template <this file>`); dbusmock exports every module-level
D-Bus method on the root object, so adapter-only methods are built inside AddAdapter.
"""
import time

import dbus
from dbusmock import OBJECT_MANAGER_IFACE, mockobject
from dbusmock.templates import bluez5 as _stock
from dbusmock.templates.bluez5 import *  # noqa: F401,F403  (re-export the stock template)
from dbusmock.templates.bluez5 import (
    ADAPTER_IFACE,
    BLUEZ_MOCK_IFACE,
    DEVICE_IFACE,
    LE_ADVERTISEMENT_IFACE,
    LE_ADVERTISING_MANAGER_IFACE,
    MAX_ADVERTISEMENT_INSTANCES,
    Connect,
    Disconnect,
    Pair,
)

BUS_NAME = _stock.BUS_NAME
MAIN_OBJ = _stock.MAIN_OBJ
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

# Legacy advertising payload limit (31 bytes); a template parameter so extended-advertising
# controllers can be modelled.
DEFAULT_MAX_ADV_LEN = 31
BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

_BOOLEAN_PROPS = {"Paired", "Connected", "Trusted", "Blocked", "LegacyPairing", "ServicesResolved",
                  "WakeAllowed", "Bonded"}
_STRING_PROPS = {"Name", "Alias", "Address", "AddressType", "Icon", "Modalias"}


def load(mock, parameters):
    _stock.load(mock, parameters)
    bluez = mockobject.objects["/org/bluez"]
    bluez.max_adv_len = int(parameters.get("max_adv_len", DEFAULT_MAX_ADV_LEN))


# --- Coercion to BlueZ's D-Bus types -------------------------------------------------------------
def _byte_array(value):
    return dbus.Array([dbus.Byte(int(b)) for b in value], signature="y")


def _coerce(name, value):
    """A Device1 property in exactly the type bluetoothd uses, whatever the caller sent."""
    if name == "ManufacturerData":
        return dbus.Dictionary(
            {dbus.UInt16(int(k)): _byte_array(v) for k, v in value.items()}, signature="qv"
        )
    if name == "ServiceData":
        return dbus.Dictionary(
            {dbus.String(str(k).lower()): _byte_array(v) for k, v in value.items()}, signature="sv"
        )
    if name == "AdvertisingData":
        return dbus.Dictionary(
            {dbus.Byte(int(k)): _byte_array(v) for k, v in value.items()}, signature="yv"
        )
    if name == "AdvertisingFlags":
        return _byte_array(value)
    if name == "UUIDs":
        return dbus.Array([dbus.String(str(u).lower()) for u in value], signature="s")
    if name in ("RSSI", "TxPower"):
        return dbus.Int16(int(value))
    if name == "Appearance":
        return dbus.UInt16(int(value))
    if name == "Class":
        return dbus.UInt32(int(value))
    if name == "Adapter":
        return dbus.ObjectPath(str(value))
    if name in _STRING_PROPS:
        return dbus.String(str(value))
    if name in _BOOLEAN_PROPS:
        return dbus.Boolean(bool(value))
    return value


def _device_path(adapter_device_name, address):
    return "/org/bluez/" + adapter_device_name + "/dev_" + address.upper().replace(":", "_")


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ssa{sv}", out_signature="o")
def AddBLEDevice(self, adapter_device_name, address, props):
    """Add a BLE phone with BlueZ's property types; the InterfacesAdded signal is its first
    advertisement as far as bleak is concerned. Returns the device path."""
    adapter_path = "/org/bluez/" + adapter_device_name
    if adapter_path not in mockobject.objects:
        raise dbus.exceptions.DBusException(
            f"Adapter {adapter_device_name} does not exist.",
            name=BLUEZ_MOCK_IFACE + ".NoSuchAdapter",
        )
    path = _device_path(adapter_device_name, address)
    if path in mockobject.objects:
        raise dbus.exceptions.DBusException(
            f"Device {address} already exists.", name="org.bluez.Error.AlreadyExists"
        )
    properties = {
        "Address": dbus.String(address.upper()),
        "AddressType": dbus.String("random"),
        # bluetoothd's alias for a nameless device; bleak maps it back to name=None.
        "Alias": dbus.String(address.upper().replace(":", "-")),
        "Adapter": dbus.ObjectPath(adapter_path),
        "Paired": dbus.Boolean(False),
        "Bonded": dbus.Boolean(False),
        "Connected": dbus.Boolean(False),
        "Trusted": dbus.Boolean(False),
        "Blocked": dbus.Boolean(False),
        "LegacyPairing": dbus.Boolean(False),
        "ServicesResolved": dbus.Boolean(False),
        "RSSI": dbus.Int16(-60),
        "UUIDs": dbus.Array([], signature="s"),
        "ManufacturerData": dbus.Dictionary({}, signature="qv"),
        "ServiceData": dbus.Dictionary({}, signature="sv"),
        "AdvertisingFlags": _byte_array([0x06]),
    }
    for name, value in props.items():
        properties[str(name)] = _coerce(str(name), value)
    if "Name" in props and "Alias" not in props:
        properties["Alias"] = dbus.String(str(props["Name"]))

    self.AddObject(
        path,
        DEVICE_IFACE,
        properties,
        [
            ("CancelPairing", "", "", ""),
            ("Connect", "", "", Connect),
            ("ConnectProfile", "s", "", ""),
            ("Disconnect", "", "", Disconnect),
            ("DisconnectProfile", "s", "", ""),
            ("Pair", "", "", Pair),
        ],
    )
    device = mockobject.objects[path]
    device.paired = False
    device.connected = False

    mockobject.objects["/"].EmitSignal(
        OBJECT_MANAGER_IFACE,
        "InterfacesAdded",
        "oa{sa{sv}}",
        [dbus.ObjectPath(path), {DEVICE_IFACE: properties}],
    )
    return dbus.ObjectPath(path)


def _device(path):
    try:
        return mockobject.objects[str(path)]
    except KeyError:
        raise dbus.exceptions.DBusException(
            f"Device {path} does not exist.", name=BLUEZ_MOCK_IFACE + ".NoSuchDevice"
        ) from None


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="oa{sv}", out_signature="")
def Advertise(self, device_path, props):
    """One advertising report: update (or add) Device1 properties, emit one PropertiesChanged."""
    device = _device(device_path)
    changed = {}
    for name, value in props.items():
        changed[str(name)] = _coerce(str(name), value)
    if "Name" in props and "Alias" not in props:
        changed["Alias"] = dbus.String(str(props["Name"]))
    device.props[DEVICE_IFACE].update(changed)
    device.EmitSignal(
        dbus.PROPERTIES_IFACE,
        "PropertiesChanged",
        "sa{sv}as",
        [DEVICE_IFACE, dbus.Dictionary(changed, signature="sv"), dbus.Array([], signature="s")],
    )


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="oun", out_signature="")
def Burst(self, device_path, count, rssi_base):
    """`count` RSSI reports emitted from inside the mock (load tests); each differs from the last,
    as bluetoothd only signals changes."""
    device = _device(device_path)
    rssi = int(rssi_base)
    for i in range(int(count)):
        rssi = int(rssi_base) - (i % 20)
        device.EmitSignal(
            dbus.PROPERTIES_IFACE,
            "PropertiesChanged",
            "sa{sv}as",
            [DEVICE_IFACE, dbus.Dictionary({"RSSI": dbus.Int16(rssi)}, signature="sv"),
             dbus.Array([], signature="s")],
        )
    device.props[DEVICE_IFACE]["RSSI"] = dbus.Int16(rssi)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="s", out_signature="a{oa{sv}}")
def GetAdvertisements(self, adapter_device_name):
    """The LEAdvertisement1 properties of every advertisement registered on the adapter."""
    adapter = mockobject.objects.get("/org/bluez/" + adapter_device_name)
    registered = getattr(adapter, "adv_props", {}) if adapter is not None else {}
    return dbus.Dictionary(
        {dbus.ObjectPath(p): dbus.Dictionary(props, signature="sv")
         for p, props in registered.items()},
        signature="oa{sv}",
    )


# --- Adapter methods, installed on each new adapter ---------------------------------------------
@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ss", out_signature="s")
def AddAdapter(self, device_name, system_name):
    """The stock adapter, with bluetoothd's stricter StartDiscovery and RegisterAdvertisement."""
    path = _stock.AddAdapter(self, device_name, system_name)
    adapter = mockobject.objects[path]
    adapter.AddMethod(ADAPTER_IFACE, "StartDiscovery", "", "", _start_discovery)
    if LE_ADVERTISING_MANAGER_IFACE in adapter.methods:
        adapter.adv_props = {}
        adapter.adv_pending = set()
        register = _make_register_advertisement()
        adapter.methods[LE_ADVERTISING_MANAGER_IFACE]["RegisterAdvertisement"] = (
            "oa{sv}", "", register, register,
        )
        adapter.AddMethod(
            LE_ADVERTISING_MANAGER_IFACE, "UnregisterAdvertisement", "o", "",
            _unregister_advertisement,
        )
    return path


def _start_discovery(adapter):
    props = adapter.props[ADAPTER_IFACE]
    if not props["Powered"]:
        # What bluetoothd answers; bleak skips its own Powered check when given an adapter name.
        raise dbus.exceptions.DBusException("Resource Not Ready", name="org.bluez.Error.NotReady")
    if "DiscoveryFilter" in props:
        _stock.StartDiscovery(adapter)
        return
    # The stock method reads the filter bleak always sets first; a bare StartDiscovery (gdbus)
    # has none, so do the same thing without it.
    props["Discovering"] = dbus.Boolean(True)
    adapter.EmitSignal(
        dbus.PROPERTIES_IFACE,
        "PropertiesChanged",
        "sa{sv}as",
        [ADAPTER_IFACE, {"Discovering": dbus.Boolean(True)}, []],
    )


def _update_instances(adapter):
    active = len(adapter.advertisements)
    adapter.UpdateProperties(
        LE_ADVERTISING_MANAGER_IFACE,
        {
            "ActiveInstances": dbus.Byte(active),
            "SupportedInstances": dbus.Byte(MAX_ADVERTISEMENT_INSTANCES - active),
        },
    )


def _unregister_advertisement(adapter, adv_path):
    _stock.UnregisterAdvertisement(adapter, adv_path)
    adapter.adv_props.pop(str(adv_path), None)


def _invalid(message):
    return dbus.exceptions.DBusException(
        "Failed to parse advertisement: " + message, name="org.bluez.Error.InvalidArguments"
    )


def _make_register_advertisement():
    @dbus.service.method(
        LE_ADVERTISING_MANAGER_IFACE,
        in_signature="oa{sv}",
        out_signature="",
        sender_keyword="sender",
        async_callbacks=("reply", "error"),
    )
    def RegisterAdvertisement(adapter, adv_path, options, sender=None, reply=None, error=None):
        adv_path = str(adv_path)
        adapter.call_log.append((int(time.time()), "RegisterAdvertisement", [adv_path, options]))
        if adv_path in adapter.advertisements or adv_path in adapter.adv_pending:
            error(dbus.exceptions.DBusException(
                "Already registered: " + adv_path, name="org.bluez.Error.AlreadyExists"))
            return
        if len(adapter.advertisements) + len(adapter.adv_pending) >= MAX_ADVERTISEMENT_INSTANCES:
            error(dbus.exceptions.DBusException(
                f"Maximum number of advertisements reached: {MAX_ADVERTISEMENT_INSTANCES}",
                name="org.bluez.Error.NotPermitted"))
            return
        adapter.adv_pending.add(adv_path)

        def on_properties(props):
            adapter.adv_pending.discard(adv_path)
            try:
                _check_advertisement(props)
            except dbus.exceptions.DBusException as exc:
                error(exc)
                return
            adapter.advertisements.append(adv_path)
            adapter.adv_props[adv_path] = props
            _update_instances(adapter)
            reply()

        def on_error(exc):
            adapter.adv_pending.discard(adv_path)
            error(_invalid(f"cannot read {LE_ADVERTISEMENT_IFACE} at {adv_path}: "
                           f"{exc.get_dbus_name()}"))

        # Like bluetoothd: read the caller's object back before answering.
        adapter.connection.call_async(
            sender, adv_path, dbus.PROPERTIES_IFACE, "GetAll", "s", (LE_ADVERTISEMENT_IFACE,),
            on_properties, on_error,
        )

    return RegisterAdvertisement


# --- bluetoothd's checks of an advertisement (src/advertising.c) --------------------------------
_SIMPLE_TYPES = {
    "Type": (dbus.String, "s"),
    "LocalName": (dbus.String, "s"),
    "Appearance": (dbus.UInt16, "q"),
    "Duration": (dbus.UInt16, "q"),
    "Timeout": (dbus.UInt16, "q"),
    "MinInterval": (dbus.UInt32, "u"),
    "MaxInterval": (dbus.UInt32, "u"),
    "TxPower": (dbus.Int16, "n"),
    "Discoverable": (dbus.Boolean, "b"),
}


def _is_byte_variant(value):
    return (
        getattr(value, "variant_level", 0) >= 1
        and isinstance(value, (dbus.Array, dbus.ByteArray, bytes))
        and (isinstance(value, (dbus.ByteArray, bytes)) or value.signature == "y")
    )


def _check_dict(props, name, key_type, signature):
    if name not in props:
        return
    value = props[name]
    # Only the container must be an array: an empty dictionary of the wrong type passes (BlueZ).
    if not isinstance(value, (dbus.Dictionary, dbus.Array)):
        raise _invalid(f"{name} must be {signature}")
    if isinstance(value, dbus.Array):
        if len(value):
            raise _invalid(f"{name} must be {signature}")
        return
    for key, item in value.items():
        if not isinstance(key, key_type) or not _is_byte_variant(item):
            raise _invalid(f"{name} must be {signature}")


def _check_string_list(props, name):
    if name not in props:
        return
    value = props[name]
    if not isinstance(value, dbus.Array) or value.signature != "s" and len(value):
        raise _invalid(f"{name} must be as")
    if any(not isinstance(item, dbus.String) for item in value):
        raise _invalid(f"{name} must be as")


def _check_advertisement(props):
    for name, (python_type, signature) in _SIMPLE_TYPES.items():
        if name in props and not isinstance(props[name], python_type):
            raise _invalid(f"{name} must be {signature}")
    if "Type" in props and str(props["Type"]) not in ("broadcast", "peripheral"):
        raise _invalid("Type must be broadcast or peripheral")
    _check_string_list(props, "ServiceUUIDs")
    _check_string_list(props, "Includes")
    _check_string_list(props, "SolicitUUIDs")
    _check_dict(props, "ManufacturerData", dbus.UInt16, "a{qv}")
    _check_dict(props, "ServiceData", dbus.String, "a{sv}")
    _check_dict(props, "Data", dbus.Byte, "a{yv}")
    length = _legacy_length(props)
    limit = mockobject.objects["/org/bluez"].max_adv_len
    if length > limit:
        raise dbus.exceptions.DBusException(
            f"Advertising data too long ({length} > {limit} bytes)",
            name="org.bluez.Error.InvalidLength",
        )


def _uuid_size(text):
    text = str(text).lower()
    if len(text) == 4:
        return 2
    if len(text) == 8:
        return 4
    if text.endswith(BASE_UUID_SUFFIX):
        return 2 if text.startswith("0000") else 4
    return 16


def _legacy_length(props):
    """Bytes of the legacy advertising PDU, as the kernel builds it. LocalName and Appearance are
    assumed to go in the scan response (an approximation of bluetoothd's choice)."""
    length = 0
    if str(props.get("Type", "peripheral")) == "peripheral" or props.get("Discoverable"):
        length += 3  # flags, added for connectable/discoverable adverts
    sizes = {}
    for uuid in props.get("ServiceUUIDs", []):
        size = _uuid_size(uuid)
        sizes[size] = sizes.get(size, 0) + 1
    for size, count in sizes.items():
        length += 2 + size * count
    for _company, data in props.get("ManufacturerData", {}).items():
        length += 2 + 2 + len(data)
    for uuid, data in props.get("ServiceData", {}).items():
        length += 2 + _uuid_size(uuid) + len(data)
    for _ad_type, data in props.get("Data", {}).items():
        length += 2 + len(data)
    if "tx-power" in [str(i) for i in props.get("Includes", [])]:
        length += 3
    return length
