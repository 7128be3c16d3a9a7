"""The configuration layer: what a valid file becomes, and what every kind of mistake says."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from textwrap import dedent

import pytest

from gateway.config.load import check_config, default_config, load_config, parse_config
from gateway.config.model import (
    AlarmConfig,
    BedConfig,
    DashboardConfig,
    GatewayConfig,
    IntellivueConfig,
    Limit,
    ListenerConfig,
    MqttConfig,
    SerialConfig,
)
from gateway.domain import BedId
from gateway.errors import ConfigError
from gateway.mqtt.credentials import brokers_of
from gateway.ward.routing import BedBinding

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ward.toml"


def problems(text: str) -> list[str]:
    """The problems a config text is rejected with (it must be rejected)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), "ward.toml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


FULL = """\
[gateway]
name = "ICU 3 North"
stale_timeout_s = 8
lost_after_s = 45.5
journal = "/var/lib/icu/journal.sqlite"
auto_beds = false

[[listeners]]
bind = "10.0.0.1:2575"
allow = ["10.20.30.0/24", "fd00::1/8"]
max_connections = 8
max_frame_bytes = 65536
idle_timeout_s = 30

[[listeners]]
bind = "[::1]:0"

[[serial]]
kind = "masimo"
port = "/dev/ttyUSB0"
parity = "even"
bed = "b1"

[[serial]]
kind = "hl7"
port = "COM3"
baud = 115200

[[intellivue]]
listen = "0.0.0.0:24005"

[[intellivue]]
monitor = "10.20.30.50"

[[intellivue]]
port = "/dev/ttyUSB7"
waves = false

[[beds]]
id = "b1"
label = "Bed 1"
locations = ["ICU^1^1", "ICU^1^2"]
devices = ["EUI-64:00A037EB2175780F"]
peers = ["10.20.30.41", "fd00::41"]
limits.hr = { low = 40, high = 140, delay_s = 3 }

[[beds]]
id = "b2"
[beds.limits]
spo2 = { low = 88 }

[alarms]
hysteresis_pct = 2.5
condition_delay_s = 0
audio = "command"
audio_command = "aplay /opt/alarm.wav"
audio_pause_s = 60
limits = { hr = { low = 50, high = 120 }, spo2 = { low = 90, high = 100 } }

[mqtt]
url = "mqtts://broker.local"
credentials_file = "/etc/icu/mqtt.cred"
topic_prefix = "hospital/icu3"

[dashboard]
refresh_hz = 10
columns = 3
mute = true
"""


def test_a_full_config_becomes_the_expected_objects() -> None:
    config = parse_config(FULL, "ward.toml")

    assert config == GatewayConfig(
        name="ICU 3 North",
        stale_timeout_s=8.0,
        lost_after_s=45.5,
        journal=Path("/var/lib/icu/journal.sqlite"),
        auto_beds=False,
        listeners=(
            ListenerConfig(
                host="10.0.0.1",
                port=2575,
                allow=(
                    ipaddress.ip_network("10.20.30.0/24"),
                    ipaddress.ip_network("fd00::/8"),
                ),
                max_connections=8,
                max_frame_bytes=65536,
                idle_timeout_s=30.0,
                max_connections_per_peer=8,  # the default, capped by max_connections
            ),
            ListenerConfig(host="::1", port=0),
        ),
        serial=(
            SerialConfig(kind="masimo", port="/dev/ttyUSB0", baud=9600, parity="even", bed="b1"),
            SerialConfig(kind="hl7", port="COM3", baud=115200),
        ),
        beds=(
            BedConfig(
                id="b1",
                label="Bed 1",
                locations=("ICU^1^1", "ICU^1^2"),
                devices=("EUI-64:00A037EB2175780F",),
                peers=(ipaddress.ip_address("10.20.30.41"), ipaddress.ip_address("fd00::41")),
                limits={"hr": Limit(40.0, 140.0, 3.0)},
            ),
            BedConfig(id="b2", label="b2", limits={"spo2": Limit(low=88.0)}),
        ),
        alarms=AlarmConfig(
            limits={"hr": Limit(50.0, 120.0), "spo2": Limit(90.0, 100.0)},
            hysteresis_pct=2.5,
            condition_delay_s=0.0,
            audio="command",
            audio_command="aplay /opt/alarm.wav",
            audio_pause_s=60.0,
        ),
        mqtt=MqttConfig(
            url="mqtts://broker.local",
            host="broker.local",
            port=8883,
            tls=True,
            credentials_file=Path("/etc/icu/mqtt.cred"),
            topic_prefix="hospital/icu3",
        ),
        dashboard=DashboardConfig(refresh_hz=10.0, columns=3, mute=True),
        source="ward.toml",
        intellivue=(
            IntellivueConfig(listen=("0.0.0.0", 24005)),
            IntellivueConfig(monitor=("10.20.30.50", 24105)),
            IntellivueConfig(port="/dev/ttyUSB7", waves=False),
        ),
    )
    assert config.listeners[1].bind == "[::1]:0"


def test_a_bed_limit_overrides_the_ward_limit_field_by_field() -> None:
    config = parse_config(FULL)

    assert config.limits_for("b1") == {
        "hr": Limit(40.0, 140.0, 3.0),
        "spo2": Limit(90.0, 100.0),
    }
    assert config.limits_for("b2")["spo2"] == Limit(88.0, 100.0)
    assert config.limits_for("no-such-bed") == config.alarms.limits


def test_bindings_give_the_router_each_bed_and_its_serial_ports() -> None:
    config = parse_config(FULL)

    assert config.bindings() == (
        BedBinding(
            BedId("b1"),
            "Bed 1",
            ("ICU^1^1", "ICU^1^2"),
            ("EUI-64:00A037EB2175780F", "serial:/dev/ttyUSB0"),
            ("10.20.30.41", "fd00::41"),
        ),
        BedBinding(BedId("b2"), "b2"),
    )


def test_the_annotated_example_is_valid() -> None:
    config = load_config(EXAMPLE)

    assert check_config(EXAMPLE) == []
    assert config.name == "ICU 3 North"
    assert [bed.id for bed in config.beds] == ["icu3n-01", "icu3n-02", "icu3n-03", "icu3n-04"]
    assert config.journal == EXAMPLE.parent / "journal" / "icu3n.sqlite"
    assert config.mqtt is None  # written out, but enabled = false


def test_the_default_config_listens_on_2575_and_for_intellivue_and_makes_beds_as_heard() -> None:
    config = default_config()

    assert config == GatewayConfig(
        name="ICU",
        stale_timeout_s=10.0,
        lost_after_s=60.0,
        journal=Path("journal/icu-gateway.sqlite"),
        auto_beds=True,
        listeners=(ListenerConfig(host="0.0.0.0", port=2575),),
        serial=(),
        beds=(),
        alarms=AlarmConfig(),
        mqtt=None,
        dashboard=DashboardConfig(),
        source="<default>",
        intellivue=(IntellivueConfig(listen=("0.0.0.0", 24005)),),
    )
    assert config.listeners[0].allows("192.0.2.7")


def test_an_empty_file_is_the_default_config() -> None:
    config = parse_config("", "empty.toml")

    assert config.source == "empty.toml"
    assert parse_config("", "<default>") == default_config()


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(
        'gateway.journal = "data/j.sqlite"\nmqtt.url = "mqtt://[::1]"\n'
        'mqtt.credentials_file = "mqtt.cred"\n'
    )

    config = load_config(path)

    assert config.journal == tmp_path / "data" / "j.sqlite"
    assert config.mqtt is not None
    assert config.mqtt.credentials_file == tmp_path / "mqtt.cred"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("::1", 1883, False)


def test_a_stale_timeout_past_60_s_moves_the_lost_default_with_it() -> None:
    config = parse_config("[gateway]\nstale_timeout_s = 90\n")

    assert config.lost_after_s == 90.0


def test_an_allow_list_admits_only_its_networks() -> None:
    listener = parse_config(
        '[[listeners]]\nbind = "[::]:2575"\nallow = ["10.1.0.0/16", "fd00::/8"]\n'
    ).listeners[0]

    assert listener.allows("10.1.200.3")
    assert listener.allows("::ffff:10.1.0.9")  # an IPv4 peer on a dual-stack socket
    assert listener.allows("fd00::5")
    assert not listener.allows("10.2.0.1")
    assert not listener.allows("2001:db8::1")
    assert not listener.allows("not-an-address")


# --------------------------------------------------------------------------- one test per mistake


def test_a_syntax_error_names_line_and_column() -> None:
    assert problems("""\
        [gateway]
        name =
        """) == ["ward.toml:2:7: TOML syntax error: Invalid value"]


def test_an_unknown_key_names_the_allowed_keys_and_the_likely_one() -> None:
    assert problems("""\
        [gateway]
        name = "ICU"
        stale_timout_s = 5
        """) == [
        "ward.toml:3: gateway.stale_timout_s: unknown key (did you mean stale_timeout_s?);"
        " allowed keys: name, stale_timeout_s, lost_after_s, journal, retention_h, auto_beds"
    ]


def test_an_unknown_section_names_the_allowed_sections() -> None:
    assert problems("""\
        [dashbaord]
        mute = true
        """) == [
        "ward.toml:1: dashbaord: unknown key (did you mean dashboard?); allowed keys:"
        " gateway, listeners, serial, intellivue, beds, alarms, mqtt, mqtt_ingest, dashboard,"
        " admission"
    ]


def test_an_unknown_limit_parameter_is_an_error() -> None:
    assert problems("""\
        [alarms.limits]
        hr = { low = 40 }
        sp02 = { low = 90 }
        """) == [
        "ward.toml:3: alarms.limits.sp02: unknown key (did you mean spo2?); allowed keys:"
        " hr, spo2, nibp_sys, nibp_mean, abp_sys, abp_mean, rr, etco2, temp"
    ]


def test_a_value_of_the_wrong_type_says_what_was_expected() -> None:
    assert problems("""\
        [gateway]
        stale_timeout_s = "10"
        auto_beds = "yes"
        """) == [
        'ward.toml:2: gateway.stale_timeout_s: got the string "10";'
        " expected a number > 0 (seconds)",
        'ward.toml:3: gateway.auto_beds: got the string "yes"; expected true or false',
    ]


def test_a_section_of_the_wrong_shape_is_an_error() -> None:
    assert problems("""\
        [beds]
        id = "b1"
        """) == ["ward.toml:1: beds: got a table; expected an array of tables [[beds]]"]


def test_an_out_of_range_value_says_the_range() -> None:
    assert problems("""\
        [dashboard]
        refresh_hz = 60
        columns = -1
        """) == [
        "ward.toml:2: dashboard.refresh_hz: 60 is out of range; expected a number from 0.5 to 30"
        " (Hz)",
        "ward.toml:3: dashboard.columns: -1 is out of range; expected a whole number >= 0",
    ]


def test_a_limit_in_the_wrong_unit_is_out_of_range() -> None:
    assert problems("""\
        [[beds]]
        id = "b1"
        [beds.limits]
        temp = { high = 100.4 }
        """) == [
        "ward.toml:4: beds[0].limits.temp.high: 100.4 is out of range;"
        " expected a number from 15 to 45 (°C)"
    ]


def test_a_bad_cidr_is_named_with_its_index() -> None:
    assert problems("""\
        [[listeners]]
        bind = "0.0.0.0:2575"
        allow = ["10.0.0.0/8", "10.0.0.0/33", "intranet"]
        """) == [
        'ward.toml:3: listeners[0].allow[1]: "10.0.0.0/33" is not a network;'
        ' expected a network like "10.1.0.0/16" or "fd00::/8"',
        'ward.toml:3: listeners[0].allow[2]: "intranet" is not a network;'
        ' expected a network like "10.1.0.0/16" or "fd00::/8"',
    ]


@pytest.mark.parametrize(
    ("bind", "wrong"),
    [
        ("0.0.0.0", '"0.0.0.0" has no port'),
        ("::1:2575", '"::1:2575" has an IPv6 address outside brackets'),
        ("[::1]", '"[::1]" has no port'),
        ("[fe80::zz]:2575", '"fe80::zz" is not an IPv6 address'),
        ("10.0.0.300:2575", '"10.0.0.300" is not an IP address'),
        ("gate_way:2575", '"gate_way" is not an IP address or host name'),
        (":2575", '":2575" has no host'),
        ("0.0.0.0:65536", "port 65536 is not a number from 0 to 65535"),
        ("0.0.0.0:http", "port http is not a number from 0 to 65535"),
    ],
)
def test_a_bad_bind_address_says_what_is_wrong(bind: str, wrong: str) -> None:
    assert problems(f'[[listeners]]\nbind = "{bind}"\n') == [
        f"ward.toml:2: listeners[0].bind: {wrong};"
        ' expected "HOST:PORT", e.g. "0.0.0.0:2575" or "[::]:2575"'
    ]


@pytest.mark.parametrize("bind", ["localhost:2575", "gw-1.icu.local:0", "[::]:2575"])
def test_host_names_and_bracketed_ipv6_are_valid_binds(bind: str) -> None:
    assert parse_config(f'[[listeners]]\nbind = "{bind}"\n').listeners[0].bind == bind


def test_two_listeners_on_one_address_clash() -> None:
    assert problems("""\
        [[listeners]]
        bind = "0.0.0.0:2575"
        [[listeners]]
        bind = "0.0.0.0:2575"
        """) == [
        'ward.toml:4: listeners[1].bind: "0.0.0.0:2575" is already used by listeners[0];'
        " expected a different address or port"
    ]


def test_a_duplicate_bed_id_is_an_error() -> None:
    assert problems("""\
        [[beds]]
        id = "icu-1"

        [[beds]]
        id = "icu-1"
        """) == ['ward.toml:5: beds[1].id: duplicate bed id "icu-1"; bed ids must be unique']


def test_a_location_bound_to_two_beds_names_both() -> None:
    # The router ignores case and trailing separators, so these are one location.
    assert problems("""\
        [[beds]]
        id = "icu-1"
        locations = ["ICU^12^1"]

        [[beds]]
        id = "icu-2"
        locations = ["icu^12^1^"]
        """) == [
        'ward.toml:7: beds[1].locations[0]: location "icu^12^1^" is bound to both'
        ' bed "icu-1" (beds[0]) and bed "icu-2" (beds[1]); a location can belong to one bed only'
    ]


def test_a_device_or_peer_bound_to_two_beds_names_both() -> None:
    assert problems("""\
        [[beds]]
        id = "a"
        devices = ["EUI-64:00A037EB2175780F"]
        peers = ["fd00::1"]

        [[beds]]
        id = "b"
        devices = ["EUI-64:00a037eb2175780f"]
        peers = ["fd00:0::1"]
        """) == [
        'ward.toml:8: beds[1].devices[0]: device "EUI-64:00a037eb2175780f" is bound to both'
        ' bed "a" (beds[0]) and bed "b" (beds[1]); a device can belong to one bed only',
        'ward.toml:9: beds[1].peers[0]: peer "fd00::1" is bound to both'
        ' bed "a" (beds[0]) and bed "b" (beds[1]); a peer can belong to one bed only',
    ]


def test_a_serial_port_bound_by_its_bed_and_another_beds_devices_clash() -> None:
    assert problems("""\
        [[serial]]
        kind = "nonin"
        port = "/dev/ttyUSB1"
        bed = "b"

        [[beds]]
        id = "a"
        devices = ["serial:/dev/ttyUSB1"]

        [[beds]]
        id = "b"
        """) == [
        "ward.toml:4: serial[0].bed: the device serial:/dev/ttyUSB1 is bound to both"
        ' bed "a" (beds[0]) and bed "b"; a device can belong to one bed only'
    ]


def test_bad_device_keys_and_peers_are_errors() -> None:
    assert problems("""\
        [[beds]]
        id = "a"
        devices = ["00A037EB2175780F", "EUI-64:00A0"]
        peers = ["10.1.1.300"]
        """) == [
        'ward.toml:3: beds[0].devices[0]: "00A037EB2175780F" is not a device key;'
        ' expected a device key like "EUI-64:00A037EB2175780F" or "app:MONITOR"',
        'ward.toml:3: beds[0].devices[1]: "EUI-64:00A0" does not have 16 hex digits after'
        ' "EUI-64:"; expected a device key like "EUI-64:00A037EB2175780F" or "app:MONITOR"',
        'ward.toml:4: beds[0].peers[0]: "10.1.1.300" is not an IP address;'
        ' expected an IP address like "10.1.4.21"',
    ]


def test_a_serial_port_naming_an_unknown_bed_is_an_error() -> None:
    assert problems("""\
        [[beds]]
        id = "icu-1"

        [[serial]]
        kind = "masimo"
        port = "/dev/ttyUSB0"
        bed = "icu-9"
        """) == [
        'ward.toml:7: serial[0].bed: no bed has id "icu-9";'
        " expected the id of a [[beds]] table (icu-1)"
    ]


def test_a_serial_table_without_its_required_keys_is_an_error() -> None:
    assert problems("""\
        [[serial]]
        baud = 9601
        """) == [
        'ward.toml:1: serial[0].kind: missing; expected one of "masimo", "nonin", "ivy", "hl7",'
        ' "ge-s5", "medibus"',
        'ward.toml:1: serial[0].port: missing; expected a serial device such as "/dev/ttyUSB0"'
        ' or "COM3"',
        "ward.toml:2: serial[0].baud: got the number 9601;"
        " expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
    ]


def test_limits_with_low_not_below_high_are_an_error() -> None:
    assert problems("""\
        [[beds]]
        id = "b1"
        limits.hr = { low = 120, high = 120 }
        """) == [
        "ward.toml:3: beds[0].limits.hr: low 120 is not below high 120; low must be less than high"
    ]


def test_a_bed_low_above_the_ward_high_is_an_error() -> None:
    assert problems("""\
        [alarms.limits]
        spo2 = { high = 90 }

        [[beds]]
        id = "b1"
        limits.spo2 = { low = 95 }
        """) == [
        "ward.toml:6: beds[0].limits.spo2: low 95 is not below high 90 from [alarms.limits];"
        " low must be less than high"
    ]


def test_audio_command_is_required_for_the_command_mode() -> None:
    assert problems("""\
        [alarms]
        audio = "command"
        """) == ['ward.toml:1: alarms.audio_command: missing; required when audio = "command"']


def test_lost_after_must_not_be_shorter_than_the_stale_timeout() -> None:
    assert problems("""\
        [gateway]
        stale_timeout_s = 30
        lost_after_s = 20
        """) == [
        "ward.toml:3: gateway.lost_after_s: 20 is less than stale_timeout_s (30);"
        " expected a number >= stale_timeout_s"
    ]


def test_mqtt_credentials_never_go_in_the_url() -> None:
    assert problems("""\
        [mqtt]
        url = "mqtt://icu:secret@broker:1883"
        """) == [
        "ward.toml:2: mqtt.url: the URL holds credentials; put them in credentials_file;"
        ' expected "mqtt://HOST:PORT" or "mqtts://HOST:PORT"'
    ]


def test_mqtt_enabled_without_a_url_is_an_error() -> None:
    assert problems("""\
        [mqtt]
        enabled = true
        """) == [
        'ward.toml:1: mqtt.url: missing; required when enabled = true, e.g. "mqtt://host:1883"'
    ]


def test_several_problems_are_reported_together_in_file_order() -> None:
    assert problems("""\
        [[beds]]
        id = "icu 1"
        limits.hr = { low = 130, high = 50 }

        [gateway]
        stale_timeout_s = 0
        colour = "red"
        """) == [
        'ward.toml:2: beds[0].id: "icu 1" is not allowed;'
        ' expected a bed id of letters, digits, "_", "." and "-"',
        "ward.toml:3: beds[0].limits.hr: low 130 is not below high 50; low must be less than high",
        "ward.toml:6: gateway.stale_timeout_s: 0 is out of range; expected a number > 0 (seconds)",
        "ward.toml:7: gateway.colour: unknown key; allowed keys:"
        " name, stale_timeout_s, lost_after_s, journal, retention_h, auto_beds",
    ]


def test_a_missing_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == [f"{path}: cannot read the file: No such file or directory"]
    assert check_config(path) == caught.value.problems


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_bytes(b'[gateway]\nname = "Intensivstation S\xfcd"\n')

    assert check_config(path) == [f"{path}:2: byte 0xfc is not UTF-8; save it as UTF-8"]


def test_check_config_of_a_valid_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(FULL)

    assert check_config(path) == []


def test_an_intellivue_table_sets_exactly_one_source_and_owns_its_serial_port() -> None:
    assert problems("""\
        [[serial]]
        kind = "masimo"
        port = "/dev/ttyUSB0"
        [[intellivue]]
        port = "/dev/ttyUSB0"
        [[intellivue]]
        listen = "0.0.0.0:24005"
        monitor = "10.1.4.21"
        [[intellivue]]
        monitor = "10.1.4.21:99999"
        """) == [
        'ward.toml:5: intellivue[0].port: port "/dev/ttyUSB0" is already used by serial[0];'
        " one device per serial port",
        "ward.toml:6: intellivue[1]: sets listen and monitor; expected exactly one:"
        ' listen = "0.0.0.0:24005" (hear every monitor), monitor = "10.1.4.21"'
        ' (one monitor\'s address) or port = "/dev/ttyUSB0" (its MIB/RS-232 port)',
        "ward.toml:10: intellivue[2].monitor: port 99999 is not a number from 0 to 65535;"
        ' expected a monitor\'s "HOST" or "HOST:PORT", e.g. "10.1.4.21"',
    ]


def test_ge_s5_and_medibus_ports_default_to_their_devices_lines() -> None:
    config = parse_config(
        '[[serial]]\nkind = "ge-s5"\nport = "/dev/ttyUSB0"\n'
        '[[serial]]\nkind = "medibus"\nport = "/dev/ttyUSB1"\n'
        '[[serial]]\nkind = "ge-s5"\nport = "/dev/ttyUSB2"\nbaud = 115200\n'
        'flow_control = "none"\nparity = "none"\n'
    )
    assert [(s.kind, s.baud, s.parity, s.flow_control) for s in config.serial] == [
        ("ge-s5", 19200, "even", "rtscts"),  # fixed on the monitor (M1017617 §2)
        ("medibus", 19200, "even", "none"),  # an Evita's default
        ("ge-s5", 115200, "none", "none"),  # as written
    ]
    masimo = parse_config('[[serial]]\nkind = "masimo"\nport = "/dev/ttyUSB3"\n').serial[0]
    assert (masimo.parity, masimo.flow_control) == ("none", "none")  # unchanged


def test_a_flow_control_the_port_cannot_do_is_an_error() -> None:
    assert problems("""\
        [[serial]]
        kind = "ge-s5"
        port = "/dev/ttyUSB0"
        flow_control = "xonxoff"
        """) == [
        'ward.toml:4: serial[0].flow_control: got the string "xonxoff"; expected one of "none",'
        ' "rtscts"'
    ]


def test_mqtt_protocol_is_5_unless_3_1_1_is_asked_for() -> None:
    default = parse_config('[mqtt]\nurl = "mqtt://broker"\n', "ward.toml")
    nats = parse_config('[mqtt]\nurl = "mqtt://broker"\nprotocol = "3.1.1"\n', "ward.toml")
    assert default.mqtt is not None and default.mqtt.protocol == "5"
    assert nats.mqtt is not None and nats.mqtt.protocol == "3.1.1"
    assert {b.protocol for b in brokers_of(nats.mqtt)} == {"3.1.1"}


def test_an_mqtt_protocol_other_than_5_or_3_1_1_is_an_error() -> None:
    assert problems("""\
        [mqtt]
        url = "mqtt://broker"
        protocol = "3.1"
        """) == ['ward.toml:3: mqtt.protocol: got the string "3.1"; expected one of "5", "3.1.1"']
    assert problems("""\
        [mqtt]
        url = "mqtt://broker"
        protocol = 5
        """) == ['ward.toml:3: mqtt.protocol: got the number 5; expected one of "5", "3.1.1"']
