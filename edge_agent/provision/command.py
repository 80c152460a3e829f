"""The ``provision`` command: inputs, the state a re-run merges with, device bundles, the command line."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge_agent.errors import ConfigError
from edge_agent.provision.accounts import ROLES, Role, check_ids, check_prefix, merge_roles, passwd, render_acl
from edge_agent.provision.files import BROKER_GROUP, BROKER_READS, PUBLIC, SECRET, Writer, broker_gid
from edge_agent.provision.tls import LOOPBACK_HOSTS, broker_name, certificates, client_certificate

__all__ = ["Provisioned", "add_provision_parser", "main", "provision", "read_fleet", "run_provision"]

STATE = "provision.json"


DESCRIPTION = ("Create or update, in --out, what a fleet's Mosquitto reads (users with hashed passwords, the ACL, a "
               "local CA and the broker's certificate) and one folder per device (configuration, password, CA), "
               "with owners and modes the broker can read. Re-running it adds devices and keeps what exists "
               "(broker/README.md).")

def read_fleet(path: Path) -> dict[str, dict[str, Any] | None]:
    """Device ids (and their ``device:`` parameters when known) from a fleet file.

    Accepted: a fleet file (``devices:`` of device-config paths relative to it, or inline ``{id, device}``),
    or a plain YAML list of ``- id: dev-1`` entries.
    """
    from edge_agent.runtime.device_config import load_device_config  # noqa: PLC0415  (pydantic models: only here)

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the fleet file: {error}", source=str(path)) from None
    if isinstance(data, dict) and "devices" in data:
        data = data["devices"]
    if not isinstance(data, list):
        msg = f"expected `devices:` or a list of entries like `- id: dev-1`, got {type(data).__name__}"
        raise ConfigError(msg, source=str(path))
    devices: dict[str, dict[str, Any] | None] = {}
    for index, entry in enumerate(data):
        if isinstance(entry, str):
            config = load_device_config((path.parent / entry).resolve())
            devices[config.id] = config.device.model_dump(mode="json", exclude_none=True, exclude={"id"})
        elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
            device = entry.get("device")
            devices[entry["id"]] = {k: v for k, v in device.items() if k != "id"} if isinstance(device, dict) else None
        else:
            msg = f"entry {index} is neither a device-config path nor `- id: ...` (got {entry!r:.60})"
            raise ConfigError(msg, source=str(path))
    return devices


@dataclass(frozen=True)
class Provisioned:
    """What a run left in ``out``: users by role, the files it (re)wrote, and hints for what it could not do."""

    out: Path
    prefix: str
    users: dict[str, Role]
    written: list[Path]
    warnings: list[str]


def provision(
    out: Path,
    *,
    devices: Mapping[str, Mapping[str, Any] | None] = {},
    prefix: str | None = None,
    coordinators: Sequence[str] = ("coordinator",),
    operators: Sequence[str] = ("operator",),
    dashboards: Sequence[str] = (),
    hosts: Sequence[str] = (),
    broker_url: str | None = None,
    device_dir: str | None = None,
    client_certs: bool = False,
    rotate: bool = False,
) -> Provisioned:
    """Create or update everything in ``out`` (see the module docstring); return what was done."""
    state_path = out / STATE
    state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else {}
    if prefix is not None and state.get("prefix", prefix) != prefix:
        msg = (f"{out} was provisioned for prefix {state['prefix']!r}, not {prefix!r}: "
               f"use another --out for another fleet")
        raise ConfigError(msg)
    prefix = prefix or state.get("prefix", "edge")
    check_prefix(prefix)
    wanted: dict[str, Role] = {}
    for role, names in (("device", list(devices)), ("coordinator", coordinators), ("operator", operators),
                        ("dashboard", dashboards)):
        for name in names:
            if wanted.setdefault(name, role) != role:  # type: ignore[arg-type]
                raise ConfigError(f"{name!r} is named as {wanted[name]} and as {role}: one user, one role")
    check_ids(wanted)
    users = merge_roles(state.get("users", {}), wanted)
    hosts = list(dict.fromkeys([*state.get("hosts", LOOPBACK_HOSTS), *hosts]))
    broker_url = broker_url or state.get("broker_url") or f"mqtts://{broker_name(hosts)}:8883"
    if not broker_url.startswith("mqtts://"):
        raise ConfigError(f"--broker-url {broker_url!r}: devices connect over TLS, use mqtts://host:8883")
    device_dir = device_dir or state.get("device_dir") or "/etc/edge-agent"
    client_certs = client_certs or bool(state.get("client_certs"))
    gid = broker_gid()
    writer = Writer(gid)
    warnings = [] if gid is not None else [
        f"Mosquitto must be able to read passwd, acl and certs/server.key: run as root, or as a member of "
        f"group {BROKER_GROUP}, or give them to the user Mosquitto runs as (chgrp {BROKER_GROUP} ...)"]

    writer.directory(out, 0o750, broker=True)
    writer.directory(out / "secrets", 0o700)
    passwords = _passwords(out, users, rotate, writer)
    writer.file(out / "passwd", passwd(out / "passwd", passwords).encode(), BROKER_READS, broker=True)
    writer.file(out / "acl", render_acl(prefix, users).encode(), BROKER_READS, broker=True)
    new_ca = certificates(out / "certs", hosts, state.get("hosts_signed"), writer)
    site = _Site(out, prefix, broker_url, device_dir, client_certs, new_ca, writer)
    for device, params in devices.items():
        _device_bundle(site, device, params, passwords[device])
    state = {"prefix": prefix, "users": users, "hosts": hosts, "hosts_signed": hosts, "broker_url": broker_url,
             "device_dir": device_dir, "client_certs": client_certs}
    writer.file(state_path, (json.dumps(state, indent=2) + "\n").encode(), PUBLIC)
    return Provisioned(out, prefix, users, writer.written, warnings)


def _passwords(out: Path, users: Mapping[str, Role], rotate: bool, writer: Writer) -> dict[str, str]:
    legacy_path = out / "credentials.json"  # written by make_credentials.py before provisioning existed
    legacy: dict[str, str] = json.loads(legacy_path.read_text(encoding="utf-8")) if legacy_path.exists() else {}
    passwords = {}
    for user in users:
        path = out / "secrets" / f"{user}.password"
        known = path.read_text(encoding="utf-8").strip() if path.exists() else legacy.get(user)
        passwords[user] = secrets.token_urlsafe(24) if rotate or not known else known
        writer.file(path, f"{passwords[user]}\n".encode(), SECRET)
    return passwords


@dataclass(frozen=True)
class _Site:
    """What every device bundle of one run shares."""

    out: Path
    prefix: str
    broker_url: str
    device_dir: str
    client_certs: bool
    new_ca: bool
    writer: Writer


def _device_bundle(site: _Site, device: str, params: Mapping[str, Any] | None, password: str) -> None:
    """``devices/<id>/``: the files to install on the device, its configuration naming them at ``device_dir``."""
    out, writer = site.out, site.writer
    bundle = out / "devices" / device
    writer.directory(out / "devices", 0o700)
    writer.directory(bundle, 0o700)
    there = site.device_dir.replace("{id}", device).rstrip("/")
    writer.file(bundle / f"{device}.password", f"{password}\n".encode(), SECRET)
    writer.file(bundle / "ca.crt", (out / "certs" / "ca.crt").read_bytes(), PUBLIC)
    credentials: dict[str, str] = {"username": device, "password_file": f"{there}/{device}.password",
                                   "ca_file": f"{there}/ca.crt"}
    if site.client_certs:
        if site.new_ca or not (bundle / f"{device}.crt").exists():
            client_certificate(bundle / f"{device}.key", bundle / f"{device}.crt", device, out / "certs", writer)
        credentials |= {"cert_file": f"{there}/{device}.crt", "key_file": f"{there}/{device}.key"}
    if params is None:
        return  # no device parameters known: the bundle holds the secrets, the operator writes the config
    config = {"id": device, "broker": site.broker_url, "prefix": site.prefix, "credentials": credentials,
              "device": dict(params)}
    from edge_agent.runtime.device_config import DeviceConfig  # noqa: PLC0415  (pydantic models: only here)

    DeviceConfig.model_validate(config)  # what the agent will load
    header = (f"# {device}: written by `edge-agent provision`. Install this folder as {there}/, readable by the "
              f"agent's user only\n# (broker/README.md, step 4).\n")
    writer.file(bundle / f"{device}.yaml", (header + yaml.safe_dump(config, sort_keys=False)).encode(), 0o640)


def add_provision_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``edge-agent provision`` subcommand; :func:`run_provision` handles it."""
    parser = commands.add_parser("provision", help="create broker users, ACL, certificates and device files",
                                 description=DESCRIPTION)
    _add_arguments(parser)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", help="device ids (= MQTT user names), in addition to --fleet")
    parser.add_argument("--out", type=Path, required=True,
                        help="directory Mosquitto reads (e.g. /etc/mosquitto/edge-agent)")
    parser.add_argument("--fleet", type=Path, action="append", default=[],
                        help="fleet file (devices: config paths or {id, device}) or a list of `- id: ...`")
    parser.add_argument("--prefix", help="the fleet's topic prefix (default: edge, or what --out was made for)")
    parser.add_argument("--coordinator", action="append", help="coordinator user (default: coordinator)")
    parser.add_argument("--operator", action="append", help="operator user for `submit` (default: operator)")
    parser.add_argument("--dashboard", "--admin", action="append", default=[],
                        help="read-only user for the whole fleet and $SYS (the broker's counters)")
    parser.add_argument("--host", action="append", default=[],
                        help="DNS name or IP address the devices use for the broker (certificate names)")
    parser.add_argument("--broker-url", help="URL in the device files (default: mqtts://<last --host>:8883)")
    parser.add_argument("--device-dir",
                        help="where the device files are installed on a device, default /etc/edge-agent "
                             "({id}: the device id)")
    parser.add_argument("--client-certs", action="store_true", help="also a client certificate per device")
    parser.add_argument("--rotate", action="store_true", help="new passwords for every user")


def run_provision(args: argparse.Namespace) -> int:
    devices: dict[str, dict[str, Any] | None] = dict.fromkeys(args.ids)
    for fleet in args.fleet:
        devices |= read_fleet(fleet)
    done = provision(args.out, devices=devices, prefix=args.prefix,
                     coordinators=args.coordinator or ["coordinator"], operators=args.operator or ["operator"],
                     dashboards=args.dashboard, hosts=args.host, broker_url=args.broker_url,
                     device_dir=args.device_dir, client_certs=args.client_certs, rotate=args.rotate)
    counts = {role: sum(1 for r in done.users.values() if r == role) for role in ROLES}
    print(f"{args.out}: {', '.join(f'{n} {role}(s)' for role, n in counts.items())} for prefix {done.prefix!r}; "
          f"{len(done.written)} file(s) written (passwords: {args.out / 'secrets'})")
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provision", description=DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_provision(args)
    except ConfigError as error:
        print(f"provision: error: {error}", file=sys.stderr)
        return 2
