"""One command that provisions a fleet's Mosquitto: users and roles, ACL, a local CA, certificates, device files.

::

    python -m edge_agent.provision --out /etc/mosquitto/edge-agent --fleet deploy/fleets/demo.yaml --host mqtt.lan
    python broker/make_credentials.py --out ...    # the same, from a source checkout
    edge-agent provision --out ...                 # the same, once cli.py adds add_provision_parser

Roles (one MQTT user each; user name = client id = the topic level the user may write under):

=============  =======================================================================================
device         writes ``<prefix>/<id>/#``; reads what is addressed to it, gossip, presence, schedules
coordinator    the coordinator service (``coordinator``): the same rights as a device, under its own id
operator       ``edge-agent submit`` (default user ``operator``): its own subtree, plus every ``results``
dashboard      reads ``<prefix>/#`` and ``$SYS/#`` (the broker's counters: dropped messages); writes nothing
=============  =======================================================================================

Written into ``--out`` (``provision.json`` lists them; Mosquitto reads the first four):

=================================  ======  =========================================================
``passwd``                         0640    pbkdf2-sha512 hashes (Mosquitto's ``$7$`` format)
``acl``                            0640    ``broker/acl.template`` for the prefix, plus the role sections
``certs/ca.crt``, ``server.crt``   0644    local CA (10 years), broker certificate (``--host`` names)
``certs/server.key``               0640    the broker's key
``certs/ca.key``                   0600    signs certificates; never leaves this machine
``secrets/<user>.password``        0600    every user's password, in clear (directory 0700)
``devices/<id>/``                  0700    what to copy to the device: ``<id>.yaml`` (with ``--fleet``
                                           device parameters), ``<id>.password``, ``ca.crt``
                                           (and ``<id>.crt``/``<id>.key`` with ``--client-certs``)
``provision.json``                 0644    the non-secret state a re-run merges with
=================================  ======  =========================================================

Files Mosquitto reads belong to group ``mosquitto`` when it exists and this process may hand them over (root,
or a member of the group); Mosquitto starts as root, drops to user ``mosquitto`` and then reads them.
Running again is idempotent: users keep their role and password (``--rotate`` gives new passwords), roles
given earlier are kept, the CA is kept and the broker certificate is issued again only when the ``--host``
names change. Passwords are 192-bit random tokens; they never appear in argv or logs, only in 0600 files.
"""

from __future__ import annotations

import argparse
import base64
import grp
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edge_agent.carrier.topics import acl_rules
from edge_agent.errors import ConfigError

__all__ = [
    "HARDENED_CIPHERS",
    "Provisioned",
    "add_provision_parser",
    "hash_password",
    "main",
    "provision",
    "render_acl",
    "run_provision",
    "verify_password",
]

Role = Literal["device", "coordinator", "operator", "dashboard"]
ROLES: tuple[Role, ...] = ("device", "coordinator", "operator", "dashboard")
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")  # the same rule as edge_agent.carrier.topics
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})*")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
# TLS 1.2: forward secrecy (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305) only; TLS 1.3 suites
# all are. Keep equal to `ciphers` in broker/mosquitto.prod.conf (a test compares them).
HARDENED_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
])
PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's mosquitto_passwd default; the passwords are random 192-bit tokens
CA_DAYS, CERT_DAYS = 3650, 825
BROKER_GROUP = "mosquitto"
STATE = "provision.json"
PUBLIC, BROKER_READS, SECRET = 0o644, 0o640, 0o600


class _ProvisionError(ConfigError):
    """Bad input or a failed tool; the message says what is wrong and what would be accepted."""


# -- passwords ------------------------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A ``password_file`` hash as ``mosquitto_passwd`` writes it: ``$7$<iterations>$<salt>$<pbkdf2-sha512>``."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``hashed`` (``$7$...``) is the hash of ``password``."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, digest = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2])), digest)


# -- the ACL --------------------------------------------------------------------------------------------
def render_acl(prefix: str, users: Mapping[str, Role]) -> str:
    """The patterns of ``broker/acl.template`` for ``prefix`` (every user), then the operator and dashboard users."""
    text = (f"# Mosquitto ACL for edge-agent, prefix {prefix!r}: written by `edge-agent provision` (docs/security.md)."
            f"\n# User name = client id = device id (use_username_as_clientid true). Layout: docs/topics.md.\n"
            f"# Every user, devices and the coordinator included, writes only under its own id and reads what is\n"
            f"# addressed to it, gossip, presence and compute-node schedules.\n")
    text += "\n".join(acl_rules(prefix)) + "\n"
    for user, role in users.items():
        if role == "operator":
            text += (f"\n# Operator {user}: sends jobs from {prefix}/{user}/... (the patterns above) and reads the "
                     f"retained results.\nuser {user}\ntopic read {prefix}/+/results\n")
        elif role == "dashboard":
            text += (f"\n# Dashboard {user}: reads the whole fleet and the broker's statistics "
                     f"($SYS/broker/publish/messages/dropped).\nuser {user}\ntopic read {prefix}/#\n"
                     f"topic read $SYS/#\n")
    return text


# -- certificates ----------------------------------------------------------------------------------------
def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    tool = shutil.which("openssl")
    if tool is None:
        msg = "the openssl command is needed for the certificates (Debian/Ubuntu: apt-get install openssl)"
        raise _ProvisionError(msg)
    done = subprocess.run([tool, *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise _ProvisionError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _new_key() -> bytes:
    """A P-256 private key (PEM), produced on stdout so it is written only by us, with its final mode."""
    return _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def _broker_name(hosts: Sequence[str]) -> str:
    """The name devices use: the first host given beyond the loopback names."""
    return next((h for h in hosts if h not in LOOPBACK_HOSTS), "localhost")


def _san(hosts: Sequence[str]) -> str:
    names = []
    for host in hosts:
        try:
            names.append(f"IP:{ipaddress.ip_address(host)}")
        except ValueError:
            names.append(f"DNS:{host}")
    return ",".join(names)


def _sign(key_path: Path, subject: str, extensions: str, ca_dir: Path) -> bytes:
    """A certificate for the key at ``key_path``, signed by ``ca_dir``'s CA, with ``extensions``."""
    csr = _openssl("req", "-new", "-key", str(key_path), "-subj", subject)
    with tempfile.NamedTemporaryFile("w", suffix=".ext", encoding="utf-8") as ext:
        ext.write(extensions)
        ext.flush()
        return _openssl("x509", "-req", "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
                        "-set_serial", str(secrets.randbits(120)), "-days", str(CERT_DAYS), "-extfile", ext.name,
                        stdin=csr)


# -- files: written atomically with their final owner and mode --------------------------------------------
@dataclass
class _Writer:
    broker_gid: int | None  # the group that may read what Mosquitto reads; None: leave the group alone
    written: list[Path] = field(default_factory=list)

    def directory(self, path: Path, mode: int, *, broker: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._own(path, mode, broker)

    def file(self, path: Path, data: bytes, mode: int, *, broker: bool = False) -> None:
        """Replace ``path`` by ``data`` in one rename (a broker reload never sees half a file)."""
        if path.exists() and path.read_bytes() == data:
            self._own(path, mode, broker)
            return
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._own(Path(temp), mode, broker)
            Path(temp).replace(path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.written.append(path)

    def _own(self, path: Path, mode: int, broker: bool) -> None:
        if broker and self.broker_gid is not None:
            os.chown(path, -1, self.broker_gid)
        path.chmod(mode)


def _broker_gid() -> int | None:
    """The ``mosquitto`` group's id, when it exists and this process may give files to it."""
    try:
        group = grp.getgrnam(BROKER_GROUP)
    except KeyError:
        return None
    if os.geteuid() == 0 or group.gr_gid in os.getgroups():
        return group.gr_gid
    return None


# -- inputs ----------------------------------------------------------------------------------------------
def read_fleet(path: Path) -> dict[str, dict[str, Any] | None]:
    """Device ids (and their ``device:`` parameters when known) from a fleet file.

    Accepted: a fleet file (``devices:`` of device-config paths relative to it, or inline ``{id, device}``),
    or a plain YAML list of ``- id: dev-1`` entries.
    """
    from edge_agent.runtime.device_config import load_device_config  # noqa: PLC0415  (pydantic models: only here)

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise _ProvisionError(f"cannot read the fleet file: {error}", source=str(path)) from None
    if isinstance(data, dict) and "devices" in data:
        data = data["devices"]
    if not isinstance(data, list):
        msg = f"expected `devices:` or a list of entries like `- id: dev-1`, got {type(data).__name__}"
        raise _ProvisionError(msg, source=str(path))
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
            raise _ProvisionError(msg, source=str(path))
    return devices


def _check_ids(ids: Iterable[str]) -> None:
    bad = [i for i in ids if not ID_PATTERN.fullmatch(i)]
    if bad:
        msg = (f"invalid device id(s) {bad}: use 1-64 characters from A-Z a-z 0-9 _ . - starting with "
               f"a letter or digit")
        raise _ProvisionError(msg)


def _roles(state: Mapping[str, Role], wanted: Mapping[str, Role]) -> dict[str, Role]:
    users = dict(state)
    for user, role in wanted.items():
        if users.setdefault(user, role) != role:
            msg = (f"user {user!r} is already a {users[user]} (provision.json); one user has one role: "
                   f"choose another name, or remove it from provision.json and secrets/ first")
            raise _ProvisionError(msg)
    return users


# -- the command -----------------------------------------------------------------------------------------
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
        raise _ProvisionError(msg)
    prefix = prefix or state.get("prefix", "edge")
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise _ProvisionError(f"topic prefix {prefix!r} is not valid: '/'-separated levels of A-Z a-z 0-9 _ . -")
    wanted: dict[str, Role] = {}
    for role, names in (("device", list(devices)), ("coordinator", coordinators), ("operator", operators),
                        ("dashboard", dashboards)):
        for name in names:
            if wanted.setdefault(name, role) != role:  # type: ignore[arg-type]
                raise _ProvisionError(f"{name!r} is named as {wanted[name]} and as {role}: one user, one role")
    _check_ids(wanted)
    users = _roles(state.get("users", {}), wanted)
    hosts = list(dict.fromkeys([*state.get("hosts", LOOPBACK_HOSTS), *hosts]))
    broker_url = broker_url or state.get("broker_url") or f"mqtts://{_broker_name(hosts)}:8883"
    if not broker_url.startswith("mqtts://"):
        raise _ProvisionError(f"--broker-url {broker_url!r}: devices connect over TLS, use mqtts://host:8883")
    device_dir = device_dir or state.get("device_dir") or "/etc/edge-agent"
    client_certs = client_certs or bool(state.get("client_certs"))
    gid = _broker_gid()
    writer = _Writer(gid)
    warnings = [] if gid is not None else [
        f"Mosquitto must be able to read passwd, acl and certs/server.key: run as root, or as a member of "
        f"group {BROKER_GROUP}, or give them to the user Mosquitto runs as (chgrp {BROKER_GROUP} ...)"]

    writer.directory(out, 0o750, broker=True)
    writer.directory(out / "secrets", 0o700)
    passwords = _passwords(out, users, rotate, writer)
    writer.file(out / "passwd", _passwd(out / "passwd", passwords).encode(), BROKER_READS, broker=True)
    writer.file(out / "acl", render_acl(prefix, users).encode(), BROKER_READS, broker=True)
    new_ca = _certificates(out / "certs", hosts, state.get("hosts_signed"), writer)
    site = _Site(out, prefix, broker_url, device_dir, client_certs, new_ca, writer)
    for device, params in devices.items():
        _device_bundle(site, device, params, passwords[device])
    state = {"prefix": prefix, "users": users, "hosts": hosts, "hosts_signed": hosts, "broker_url": broker_url,
             "device_dir": device_dir, "client_certs": client_certs}
    writer.file(state_path, (json.dumps(state, indent=2) + "\n").encode(), PUBLIC)
    return Provisioned(out, prefix, users, writer.written, warnings)


def _passwords(out: Path, users: Mapping[str, Role], rotate: bool, writer: _Writer) -> dict[str, str]:
    legacy_path = out / "credentials.json"  # written by make_credentials.py before provisioning existed
    legacy: dict[str, str] = json.loads(legacy_path.read_text(encoding="utf-8")) if legacy_path.exists() else {}
    passwords = {}
    for user in users:
        path = out / "secrets" / f"{user}.password"
        known = path.read_text(encoding="utf-8").strip() if path.exists() else legacy.get(user)
        passwords[user] = secrets.token_urlsafe(24) if rotate or not known else known
        writer.file(path, f"{passwords[user]}\n".encode(), SECRET)
    return passwords


def _passwd(path: Path, passwords: Mapping[str, str]) -> str:
    """``user:hash`` lines; a line whose hash still matches its password is kept as it was."""
    old = {}
    if path.exists():
        old = dict(line.split(":", 1) for line in path.read_text(encoding="utf-8").splitlines() if ":" in line)
    lines = []
    for user, password in passwords.items():
        hashed = old.get(user, "")
        lines.append(f"{user}:{hashed if verify_password(password, hashed) else hash_password(password)}\n")
    return "".join(lines)


def _certificates(certs: Path, hosts: Sequence[str], signed_for: Sequence[str] | None, writer: _Writer) -> bool:
    """The CA (kept once made) and the broker's certificate (again when the host names change).

    Returns whether the CA is new (device certificates must then be issued again)."""
    writer.directory(certs, 0o750, broker=True)
    new_ca = not (certs / "ca.key").exists() or not (certs / "ca.crt").exists()
    if new_ca:
        writer.file(certs / "ca.key", _new_key(), SECRET)
        ca = _openssl("req", "-x509", "-new", "-key", str(certs / "ca.key"), "-days", str(CA_DAYS),
                      "-subj", "/CN=edge-agent local CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        writer.file(certs / "ca.crt", ca, PUBLIC, broker=True)
    if new_ca or list(signed_for or []) != list(hosts) or not (certs / "server.crt").exists():
        if not (certs / "server.key").exists():
            writer.file(certs / "server.key", _new_key(), BROKER_READS, broker=True)
        extensions = (f"subjectAltName={_san(hosts)}\nbasicConstraints=critical,CA:FALSE\n"
                      f"keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        server = _sign(certs / "server.key", f"/CN={_broker_name(hosts)}", extensions, certs)
        writer.file(certs / "server.crt", server, PUBLIC, broker=True)
    else:  # owners and modes are put right on every run
        writer.file(certs / "server.key", (certs / "server.key").read_bytes(), BROKER_READS, broker=True)
    return new_ca


@dataclass(frozen=True)
class _Site:
    """What every device bundle of one run shares."""

    out: Path
    prefix: str
    broker_url: str
    device_dir: str
    client_certs: bool
    new_ca: bool
    writer: _Writer


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
            writer.file(bundle / f"{device}.key", _new_key(), SECRET)
            extensions = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                          "extendedKeyUsage=clientAuth\n")
            certificate = _sign(bundle / f"{device}.key", f"/CN={device}", extensions, out / "certs")
            writer.file(bundle / f"{device}.crt", certificate, PUBLIC)
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


# -- command line ----------------------------------------------------------------------------------------
def add_provision_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``edge-agent provision`` subcommand; :func:`run_provision` handles it."""
    parser = commands.add_parser("provision", help="create broker users, ACL, certificates and device files",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
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
    parser = argparse.ArgumentParser(prog="provision", description=__doc__.split("\n\n")[0] if __doc__ else None)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_provision(args)
    except ConfigError as error:
        print(f"provision: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
