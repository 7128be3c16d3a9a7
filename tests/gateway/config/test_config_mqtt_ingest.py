"""``[mqtt_ingest]``: its own broker or ``[mqtt]``'s, the topic filter checked, the files
it names read by check-config, and a credentials file that cannot be read a fault of the
service, never a stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from gateway.app.service import build_hub, build_mqtt_ingest
from gateway.config.load import parse_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), "ward.toml")
    return caught.value.problems


def test_an_ingest_with_its_own_broker_reads_every_ward_by_default() -> None:
    config = parse_config('[mqtt_ingest]\nurl = "mqtt://broker:1884"\n', "ward.toml")
    ingest = config.mqtt_ingest
    assert ingest is not None
    assert [(b.host, b.port, b.tls) for b in ingest.brokers] == [("broker", 1884, False)]
    assert ingest.topic_filter == "icu/in/v1/+/+/+/obs"
    assert config.mqtt is None  # reading devices does not publish the ward


def test_without_a_url_it_reads_from_the_mqtt_broker_with_its_files(tmp_path: Path) -> None:
    config = parse_config(
        dedent("""\
            [mqtt]
            url = "mqtts://broker.local"
            fallback_urls = ["mqtts://broker2.local"]
            credentials_file = "gw.cred"
            ca_file = "ca.pem"
            [mqtt_ingest]
            topic_filter = "icu/in/v1/h1/icu3/+/obs"
        """),
        "ward.toml",
        base_dir=tmp_path,
    )
    ingest = config.mqtt_ingest
    assert ingest is not None
    assert [b.url for b in ingest.brokers] == ["mqtts://broker.local", "mqtts://broker2.local"]
    assert (ingest.credentials_file, ingest.ca_file) == (tmp_path / "gw.cred", tmp_path / "ca.pem")
    assert ingest.topic_filter == "icu/in/v1/h1/icu3/+/obs"


def test_enabled_false_reads_nothing() -> None:
    assert parse_config("[mqtt_ingest]\nenabled = false\n").mqtt_ingest is None


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("[mqtt_ingest]\n", "mqtt_ingest.url: missing; required unless [mqtt] has a url"),
        ('[mqtt_ingest]\nurl = "http://b"\n', "is not an mqtt:// or mqtts:// URL"),
        ('[mqtt_ingest]\nurl = "mqtt://u:p@b"\n', "put them in credentials_file"),
        ('[mqtt_ingest]\nurl = "mqtt://b"\ntopic_filter = "icu/in/v1/#"\n', "is not icu/in/v1/"),
        ('[mqtt_ingest]\nurl = "mqtt://b"\ntopic_filter = "icu/in/v1/+/+/+/num"\n', "/obs"),
        ('[mqtt_ingest]\nurl = "mqtt://b"\ntopic_filter = "icu/in/v1/A/+/+/obs"\n', "a-z"),
        ('[mqtt_ingest]\nurl = "mqtt://b"\nca_file = "ca.pem"\n', "is for TLS"),
        ('[mqtt_ingest]\nfallback_urls = ["mqtt://b"]\n', "required with fallback_urls"),
        ('[mqtt_ingest]\nurl = "mqtt://b"\ntopic = "x"\n', "unknown key"),
    ],
)
def test_a_bad_ingest_table_says_what_is_wrong(text: str, wrong: str) -> None:
    found = problems(text)
    assert any(wrong in problem for problem in found), found


def test_a_device_can_be_bound_to_a_bed_by_its_mqtt_key() -> None:
    config = parse_config('[[beds]]\nid = "b1"\ndevices = ["mqtt:vent-3"]\n')
    assert config.beds[0].devices == ("mqtt:vent-3",)


def test_unreadable_credentials_are_a_fault_and_no_ingest_not_a_stop(tmp_path: Path) -> None:
    config = parse_config(
        f'[mqtt_ingest]\nurl = "mqtt://b"\ncredentials_file = "{tmp_path / "none.cred"}"\n'
    )
    hub = build_hub(config)
    assert build_mqtt_ingest(config, hub) is None
    assert any(
        "MQTT ingest: not reading devices" in f.text and "none.cred" in f.text for f in hub.faults
    )


def test_check_config_reads_the_ingest_files_and_says_what_it_reads(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[mqtt_ingest]\nurl = "mqtt://127.0.0.1:1883"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt_ingest]\nurl = "mqtt://127.0.0.1"\ncredentials_file = "x.cred"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "gateway.app.cli", "check-config"]

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, str(path)], capture_output=True, text=True, env=env, timeout=30, check=False
        )

    ok = check(good)
    assert ok.returncode == 0, ok.stderr
    assert "mqtt ingest: reading icu/in/v1/+/+/+/obs from mqtt://127.0.0.1:1883" in ok.stdout
    no = check(bad)
    assert no.returncode == 2
    assert "x.cred: cannot read the MQTT credentials" in no.stderr
