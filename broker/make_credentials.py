#!/usr/bin/env python3
"""Create Mosquitto credentials and an ACL for a list of devices.

    python broker/make_credentials.py --out /etc/mosquitto/edge-agent --prefix edge dev-1 dev-2 coordinator
    python broker/make_credentials.py --out creds/ --fleet fleet.yaml        # a YAML list of `- id: dev-1`

Writes into ``--out``:

* ``passwd``            user:hash lines for Mosquitto's ``password_file`` (hashed by ``mosquitto_passwd -U``)
* ``acl``               ``acl.template`` rendered for ``--prefix``, plus read-all entries for ``--admin`` users
* ``credentials.json``  ``{"device id": "password"}`` in clear text (mode 0600), to provision the devices

Users already in ``credentials.json`` are kept with their passwords, so running again adds devices; to remove
one, delete it from ``credentials.json`` and run again. ``--rotate`` gives every user a new password.
Device ids must be valid MQTT topic levels and user names: 1-64 of ``A-Z a-z 0-9 _ . -``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")  # the same rule as edge_agent.carrier.topics
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})*")


class CredentialsError(Exception):
    """Bad input: the message says what is wrong and what would be accepted."""


def read_fleet(path: Path) -> list[str]:
    """Device ids from a YAML list of ``- id: ...`` entries (or a mapping with such a list under ``devices``)."""
    import yaml  # noqa: PLC0415  (only needed with --fleet)

    try:
        data: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CredentialsError(f"{path}: cannot read the fleet file: {error}") from None
    if isinstance(data, dict) and "devices" in data:
        data = data["devices"]
    if not isinstance(data, list):
        raise CredentialsError(f"{path}: expected a list of entries like `- id: dev-1`, got {type(data).__name__}")
    ids = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise CredentialsError(f"{path}: entry {index} has no `id:` string (got {entry!r:.60})")
        ids.append(entry["id"])
    return ids


def check_ids(ids: list[str]) -> list[str]:
    bad = [i for i in ids if not ID_PATTERN.fullmatch(i)]
    if bad:
        raise CredentialsError(
            f"invalid device id(s) {bad}: use 1-64 characters from A-Z a-z 0-9 _ . - starting with a letter or digit"
        )
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CredentialsError(f"device ids must be unique; repeated: {repeated}")
    if not ids:
        raise CredentialsError("no device ids given: name them on the command line or with --fleet FILE")
    return ids


def render_acl(prefix: str, admins: list[str]) -> str:
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise CredentialsError(f"topic prefix {prefix!r} is not valid: '/'-separated levels of A-Z a-z 0-9 _ . -")
    text = (HERE / "acl.template").read_text().replace("{prefix}", prefix)
    for admin in admins:
        text += f"\n# Operator {admin}: reads everything of the fleet and the broker's statistics.\n"
        text += f"user {admin}\ntopic read {prefix}/#\ntopic read $SYS/#\n"
    return text


def make_credentials(ids: list[str], out: Path, prefix: str = "edge", admins: list[str] | None = None,
                     rotate: bool = False) -> dict[str, str]:
    """Write ``passwd``, ``acl`` and ``credentials.json`` for ``ids`` (and ``admins``) into ``out``."""
    admins = admins or []
    check_ids(ids + admins)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        msg = "mosquitto_passwd not found: install Mosquitto (Debian/Ubuntu: apt-get install mosquitto)"
        raise CredentialsError(msg)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "credentials.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    users = list(dict.fromkeys([*known, *ids, *admins]))
    passwords = {u: secrets.token_urlsafe(24) if rotate or u not in known else known[u] for u in users}
    passwd = out / "passwd"
    passwd.write_text("".join(f"{user}:{password}\n" for user, password in passwords.items()))
    passwd.chmod(0o600)
    subprocess.run([tool, "-U", str(passwd)], check=True)  # hashes the file in place
    (out / "acl").write_text(render_acl(prefix, admins))
    fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2)
    return passwords


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", help="device ids (= MQTT user names)")
    parser.add_argument("--out", type=Path, required=True, help="directory for passwd, acl and credentials.json")
    parser.add_argument("--prefix", default="edge", help="the fleet's topic prefix (default: edge)")
    parser.add_argument("--fleet", type=Path, help="YAML list of `- id: ...` entries")
    parser.add_argument("--admin", action="append", default=[], help="operator user allowed to read everything")
    parser.add_argument("--rotate", action="store_true", help="new passwords for every user")
    args = parser.parse_args(argv)
    try:
        ids = list(args.ids) + (read_fleet(args.fleet) if args.fleet else [])
        passwords = make_credentials(ids, args.out, args.prefix, args.admin, args.rotate)
    except CredentialsError as error:
        print(f"make_credentials: {error}", file=sys.stderr)
        return 2
    print(f"{len(passwords)} users written to {args.out} (passwd, acl, credentials.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
