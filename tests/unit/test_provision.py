"""edge_agent.provision without a broker (tests/integration/test_provision.py runs Mosquitto on its files), and
the credential sources it relies on: password files and environment variables, never URLs (issue 11, 17-19)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent.carrier.mqtt_options import (
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    SYSTEMD_CREDENTIAL,
    BrokerAddress,
    redact_url,
)
from edge_agent.carrier.topics import acl_rules
from edge_agent.errors import ConfigError
from edge_agent.provision import hash_password, provision, render_acl, verify_password
from edge_agent.runtime.device_config import Credentials, DeviceConfig, load_device_config

ROOT = Path(__file__).resolve().parents[2]
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
GENERATOR = {"kind": "generator", "p_max": 3}


def _users(passwd: Path) -> list[str]:
    return [line.split(":")[0] for line in passwd.read_text().splitlines()]


@needs_openssl
def test_running_again_adds_devices_and_keeps_roles_passwords_and_certificates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    provision(out, devices={"dev-1": None, "dev-2": None}, dashboards=["dash"], hosts=["mqtt.lan"])
    first = {p.name: p.read_bytes() for p in [*(out / "secrets").iterdir(), *(out / "certs").iterdir()]}
    acl, passwd = (out / "acl").read_text(), (out / "passwd").read_text()

    again = provision(out, devices={"dev-3": None})  # no --dashboard, no --host this time
    assert "user dash\ntopic read edge/#\ntopic read $SYS/#" in (out / "acl").read_text()  # 17: kept
    assert (out / "acl").read_text() == acl
    assert _users(out / "passwd") == ["dev-1", "dev-2", "coordinator", "operator", "dash", "dev-3"]
    assert (out / "passwd").read_text().startswith(passwd)  # the known users' lines are untouched
    assert all((out / "secrets" / name).read_bytes() == data for name, data in first.items() if "password" in name)
    assert all((out / "certs" / name).read_bytes() == data for name, data in first.items() if "password" not in name)
    assert again.users["dev-3"] == "device"
    assert provision(out).written == []  # nothing new: nothing written


@needs_openssl
def test_rotate_gives_new_passwords_and_hashes(tmp_path: Path) -> None:
    provision(tmp_path, devices={"dev-1": None})
    before = (tmp_path / "secrets/dev-1.password").read_text()
    provision(tmp_path, rotate=True)
    after = (tmp_path / "secrets/dev-1.password").read_text()
    assert after != before
    line = next(x for x in (tmp_path / "passwd").read_text().splitlines() if x.startswith("dev-1:"))
    assert verify_password(after.strip(), line.split(":", 1)[1])


@needs_openssl
def test_passwords_from_the_old_credentials_json_are_kept(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"dev-1": "old-secret"}))
    provision(tmp_path, devices={"dev-1": None})
    assert (tmp_path / "secrets/dev-1.password").read_text() == "old-secret\n"


@needs_openssl
def test_device_bundles_hold_a_loadable_config_naming_their_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    provision(out, devices={"pv-1": GENERATOR, "bare-1": None}, prefix="site/a", hosts=["10.0.0.2"],
              device_dir=f"{out}/devices/{{id}}", client_certs=True)
    config = load_device_config(out / "devices/pv-1/pv-1.yaml")
    assert (config.broker, config.prefix) == ("mqtts://10.0.0.2:8883", "site/a")
    credentials = config.credentials
    assert credentials.username == "pv-1"
    assert credentials.password() == (out / "secrets/pv-1.password").read_text().strip()
    assert credentials.tls_context() is not None  # the CA and the client certificate load
    for name, mode in (("pv-1.password", 0o600), ("pv-1.key", 0o600), ("ca.crt", 0o644), ("pv-1.yaml", 0o640)):
        assert stat.S_IMODE((out / "devices/pv-1" / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in (out / "devices/bare-1").iterdir()) == [
        "bare-1.crt", "bare-1.key", "bare-1.password", "ca.crt"]  # no parameters known: no config
    san = subprocess.run(["openssl", "x509", "-in", str(out / "certs/server.crt"), "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "IP Address:10.0.0.2" in san
    assert "DNS:localhost" in san


def test_the_acl_gives_each_role_its_section() -> None:
    acl = render_acl("edge", {"gen-1": "device", "coordinator": "coordinator", "op": "operator", "dash": "dashboard"})
    rules = [line for line in acl.splitlines() if line and not line.startswith("#")]
    assert rules[:5] == acl_rules("edge")
    assert rules[5:] == ["user op", "topic read edge/+/results", "user dash", "topic read edge/#", "topic read $SYS/#"]
    # operators and dashboards write only under their own id (the patterns); devices and coordinators get no section


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"devices": {"dev/2": None}}, r"invalid device id\(s\) \['dev/2'\]"),
    ({"devices": {"operator": None}}, "named as device and as operator"),
    ({"prefix": "a/+"}, "topic prefix 'a/\\+' is not valid"),
    ({"broker_url": "mqtt://host:1883"}, "devices connect over TLS, use mqtts://"),
])
def test_bad_input_is_named(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        provision(tmp_path, **kwargs)  # type: ignore[arg-type]


@needs_openssl
def test_a_user_keeps_its_role_and_the_directory_its_prefix(tmp_path: Path) -> None:
    provision(tmp_path, devices={"dev-1": None})
    with pytest.raises(ConfigError, match="user 'dev-1' is already a device"):
        provision(tmp_path, dashboards=["dev-1"])
    with pytest.raises(ConfigError, match="provisioned for prefix 'edge', not 'other'"):
        provision(tmp_path, prefix="other")


def test_the_hash_is_mosquittos_pbkdf2_format() -> None:
    hashed = hash_password("secret", salt=b"0123456789ab")
    assert hashed.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert verify_password("secret", hashed)
    assert not verify_password("other", hashed)
    assert not verify_password("secret", "plain")


@needs_openssl
def test_the_broker_script_is_the_same_command_and_exits_2_on_bad_input(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "broker/make_credentials.py"), "--out", str(tmp_path / "out")]
    bad = subprocess.run([*script, "dev-1", "dev/2"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "invalid device id(s) ['dev/2']" in bad.stderr
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"devices": [str(ROOT / "firmware_configs/gen-1.yaml"),
                                                 {"id": "pv-9", "device": GENERATOR}]}))
    done = subprocess.run([*script, "--fleet", str(fleet), "--admin", "dash"], capture_output=True, text=True,
                          check=True)
    assert "2 device(s), 1 coordinator(s), 1 operator(s), 1 dashboard(s)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out/devices").iterdir()) == ["gen-1", "pv-9"]
    passwords = [p.read_text().strip() for p in (tmp_path / "out/secrets").iterdir()]
    assert not any(password in done.stdout + done.stderr for password in passwords)


# -- credential sources (edge_agent.carrier.mqtt_options, edge_agent.runtime.device_config) ----------------
def test_a_url_user_takes_its_password_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "op.password"
    secret.write_text("s3cret\n")
    assert BrokerAddress.parse("mqtt://op@h", {PASSWORD_FILE_ENV: str(secret), PASSWORD_ENV: "x"}).password == "s3cret"
    assert BrokerAddress.parse("mqtt://op@h", {PASSWORD_ENV: "x"}).password == "x"
    (tmp_path / SYSTEMD_CREDENTIAL).write_text("from-systemd\n")  # LoadCredential=mqtt-password:...
    assert BrokerAddress.parse("mqtt://op@h", {"CREDENTIALS_DIRECTORY": str(tmp_path), PASSWORD_ENV: "x"}).password \
        == "from-systemd"
    assert BrokerAddress.parse("mqtt://op:given@h", {PASSWORD_ENV: "x"}).password == "given"
    assert BrokerAddress.parse("mqtt://h", {PASSWORD_ENV: "x"}).password is None  # no user, no password
    with pytest.raises(ConfigError, match=f"{PASSWORD_FILE_ENV}=.*missing"):
        BrokerAddress.parse("mqtt://op@h", {PASSWORD_FILE_ENV: str(tmp_path / "missing")})
    assert "s3cret" not in repr(BrokerAddress.parse("mqtt://op@h", {PASSWORD_ENV: "s3cret"}))


def test_passwords_are_redacted_from_urls() -> None:
    assert redact_url("mqtt://op:s3cret@host:1883") == "mqtt://op:***@host:1883"
    assert redact_url("mqtts://op@host") == "mqtts://op@host"
    assert BrokerAddress.parse("mqtt://op:s3cret@host", {}).redacted() == "mqtt://op@host:1883"
    with pytest.raises(ConfigError) as error:
        BrokerAddress.parse("http://op:s3cret@host", {})
    assert "s3cret" not in str(error.value)


def _config(broker: str, **credentials: object) -> dict[str, object]:
    return {"id": "pv-1", "broker": broker, "credentials": credentials, "device": GENERATOR}


def test_a_ca_file_with_plain_mqtt_is_an_error_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"broker 'mqtt://h:1883' is plain MQTT .* credentials.ca_file is set"):
        DeviceConfig.model_validate(_config("mqtt://h:1883", ca_file="/etc/ca.crt"))
    config = DeviceConfig.model_validate(_config("mqtts://h:8883", ca_file="/etc/ca.crt"))
    assert config.broker_url("mqtts://other:8883") == "mqtts://other:8883"
    with pytest.raises(ValueError, match=r"--broker 'mqtt://other:1883' is plain MQTT"):
        config.broker_url("mqtt://other:1883")


def test_a_device_password_comes_from_a_file_or_a_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = DeviceConfig.model_validate(_config("mqtt://h", password_env="PV1_PASSWORD"))
    assert config.credentials.username == "pv-1"  # the device id, as the ACL expects
    with pytest.raises(ConfigError, match="PV1_PASSWORD, which is not set"):
        config.credentials.password()
    monkeypatch.setenv("PV1_PASSWORD", "s3cret")
    assert config.credentials.password() == "s3cret"
    built = DeviceConfig(id="pv-1", device=config.device, credentials=Credentials(password_file=tmp_path / "p"))
    assert built.credentials.username == "pv-1"
    with pytest.raises(ValueError, match="password_file or password_env, not both"):
        DeviceConfig.model_validate(_config("mqtt://h", password_env="X", password_file=str(tmp_path / "p")))
