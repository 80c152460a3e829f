"""`edge-agent provision` into a temp dir, then broker/mosquitto.prod.conf on it as README steps do (issue 11,
findings 17-20): Mosquitto started as root drops to `mosquitto` and reads the files; a device connects over TLS
with its generated config; it cannot publish into another device's topics; `submit` works as the operator."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge_agent import registry
from edge_agent.broker_watch import DropCounter, watch_dropped
from edge_agent.carrier.mqtt_carrier import MqttConnection
from edge_agent.carrier.mqtt_options import PASSWORD_FILE_ENV
from edge_agent.provision import HARDENED_CIPHERS, provision
from edge_agent.runtime import PrivateBroker, free_port
from edge_agent.runtime.device_config import load_device_config
from edge_agent.runtime.processes import ProcessGroup

from .helpers import FAST, Echo
from .production import ROOT, prod_config, site_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PREFIX = "prov"
NOT_AUTHORISED = 135
GENERATORS = {"gen-1": {"kind": "generator", "p_max": 80, "cost_linear": 2.0, "cost_quadratic": 0.04},
              "gen-2": {"kind": "generator", "p_max": 100, "cost_linear": 1.75, "cost_quadratic": 0.035}}


@dataclass
class Site:
    out: Path
    broker: PrivateBroker
    tls_port: int

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    def config(self, device: str) -> Path:
        return self.out / "devices" / device / f"{device}.yaml"

    def password_file(self, user: str) -> Path:
        return self.out / "secrets" / f"{user}.password"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    with site_dir() as out:
        provision(out, devices=GENERATORS, prefix=PREFIX, dashboards=["dash"], device_dir=f"{out}/devices/{{id}}")
        tls_port = free_port()
        with PrivateBroker(config_template=prod_config(out, tls_port)) as broker:  # the files are read in place
            yield Site(out, broker, tls_port)


def _device(site: Site, name: str) -> MqttConnection:
    config = load_device_config(site.config(name))
    credentials = config.credentials
    return MqttConnection(config.broker_url(site.tls_url), codec=registry.codec(),
                          prefix=config.prefix, client_id=config.id,
                          username=credentials.username, password=credentials.password(),
                          tls=credentials.tls_context(), options=FAST)


@pytest.mark.skipif(os.geteuid() != 0, reason="owners are handed to the mosquitto group only as root")
def test_files_the_broker_reads_belong_to_its_group_and_secrets_to_nobody_else(site: Site) -> None:
    group = grp.getgrnam("mosquitto").gr_gid
    for name, mode in (("passwd", 0o640), ("acl", 0o640), ("certs/server.key", 0o640), ("certs/ca.crt", 0o644)):
        info = (site.out / name).stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (mode, 0, group), name
    for name in ("certs/ca.key", "secrets/operator.password", "devices/gen-1/gen-1.password"):
        info = (site.out / name).stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0), name
    assert stat.S_IMODE((site.out / "secrets").stat().st_mode) == 0o700
    assert site.broker.running  # started as root, dropped to `mosquitto`, then read passwd, acl and the key


async def test_a_device_connects_over_tls_with_its_generated_config_and_stays_in_its_topics(site: Site) -> None:
    async with _device(site, "gen-1") as gen1, _device(site, "gen-2") as gen2:
        gen2.add(Echo("gen-2"))
        topics = gen1.topics
        assert await gen1.publish_raw(topics.direct("gen-2", "coordinator"), b"{}") == NOT_AUTHORISED
        assert await gen1.publish_raw(topics.presence("gen-2"), b"", retain=True) == NOT_AUTHORISED
        assert await gen1.publish_raw(topics.record("coordinator", "results"), b"{}", retain=True) == NOT_AUTHORISED
        assert await gen1.publish_raw(topics.direct("operator", "coordinator"), b"{}") == NOT_AUTHORISED
        assert await gen1.publish_raw(topics.direct("gen-1", "gen-2"), b"{}") < 128  # its own subtree


async def test_the_operator_may_publish_jobs_only_from_its_own_id(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_FILE_ENV, str(site.password_file("operator")))
    url = f"mqtt://operator@127.0.0.1:{site.broker.port}"  # the loopback listener: password, no TLS
    async with MqttConnection(url, codec=registry.codec(),
                              prefix=PREFIX, client_id="operator", options=FAST) as operator:
        topics = operator.topics
        assert await operator.publish_raw(topics.direct("operator", "coordinator"), b"{}") < 128
        assert await operator.publish_raw(topics.direct("gen-1", "coordinator"), b"{}") == NOT_AUTHORISED


def test_submit_runs_a_job_as_the_operator_against_a_coordinator_and_devices_on_tls(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's last steps: agents with their generated configs, the coordinator and `submit` with the
    passwords in files named by the environment (never in argv)."""
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"name": "two", "algorithm": "admm-sharing", "target": [120],
                                   "priorities": [100], "participants": list(GENERATORS)}))
    local = f"127.0.0.1:{site.broker.port}"
    with ProcessGroup(tmp_path) as group:
        for device in GENERATORS:
            group.start(device, [sys.executable, "-m", "edge_agent", "agent", "--config", str(site.config(device)),
                                 "--broker", site.tls_url])
        monkeypatch.setenv(PASSWORD_FILE_ENV, str(site.password_file("coordinator")))
        group.start("coordinator", [sys.executable, "-m", "edge_agent", "coordinator", "--broker",
                                    f"mqtt://coordinator@{local}", "--prefix", PREFIX])
        env = {**os.environ, PASSWORD_FILE_ENV: str(site.password_file("operator"))}
        done = subprocess.run(
            [sys.executable, "-m", "edge_agent", "submit", str(job), "--broker", f"mqtt://operator@{local}",
             "--prefix", PREFIX, "--json", "--timeout", "60"],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )
        group.check()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "converged"
    assert sum(p["x"][0] for p in report["participants"].values()) == pytest.approx(120, abs=0.01)
    for user in ("coordinator", "operator"):  # no password on any command line or in the output
        assert site.password_file(user).read_text().strip() not in done.stdout + done.stderr


async def test_a_dashboard_user_watches_the_dropped_message_counter(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_FILE_ENV, str(site.password_file("dash")))
    counter, stop = DropCounter(), asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        watch = tasks.create_task(watch_dropped(f"mqtt://dash@127.0.0.1:{site.broker.port}", stop, counter=counter,
                                                options=FAST))
        for _ in range(150):  # $SYS totals come every sys_interval (10 s), retained
            if counter.total is not None:
                break
            await asyncio.sleep(0.1)
        stop.set()
    assert watch.result().total == 0  # the ACL lets the dashboard read $SYS; nothing dropped


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-SHA", "AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA"])
def test_tls12_refuses_suites_without_forward_secrecy_or_aead(site: Site, cipher: str) -> None:
    with pytest.raises(ssl.SSLError):
        _handshake(site, cipher)


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls12_accepts_ecdhe_with_aead(site: Site, cipher: str) -> None:
    assert _handshake(site, cipher) == ("TLSv1.2", cipher)


def test_the_production_config_names_the_hardened_cipher_list() -> None:
    lines = (ROOT / "broker/mosquitto.prod.conf").read_text().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("ciphers ")] == [HARDENED_CIPHERS]


def _handshake(site: Site, cipher: str) -> tuple[str | None, str]:
    context = ssl.create_default_context(cafile=str(site.out / "certs/ca.crt"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(f"{cipher}:@SECLEVEL=0")
    with (socket.create_connection(("127.0.0.1", site.tls_port), timeout=5) as raw,
          context.wrap_socket(raw, server_hostname="127.0.0.1") as tls):
        negotiated = tls.cipher()
        assert negotiated is not None
        return tls.version(), negotiated[0]



async def test_client_certificates_from_provision_pass_require_certificate() -> None:
    with site_dir() as out:
        provision(out, devices={"gen-1": GENERATORS["gen-1"]}, prefix=PREFIX, device_dir=f"{out}/devices/{{id}}",
                  client_certs=True)
        tls_port = free_port()
        config = prod_config(out, tls_port).replace("# require_certificate true", "require_certificate true")
        async with PrivateBroker(config_template=config) as broker:
            site = Site(out, broker, tls_port)
            async with _device(site, "gen-1") as gen1:  # password and its certificate, both from its folder
                assert await gen1.publish_raw(gen1.topics.record("gen-1", "results"), b"{}") < 128
            with pytest.raises(ssl.SSLError):  # no client certificate: the handshake fails
                _handshake(site, "ECDHE-ECDSA-AES128-GCM-SHA256")
