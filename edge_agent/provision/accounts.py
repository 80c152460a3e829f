"""Users, roles, their passwords (Mosquitto's ``$7$`` pbkdf2 hashes) and the ACL that confines them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from edge_agent.carrier.topics import acl_rules
from edge_agent.errors import ConfigError

__all__ = ["ROLES", "Role", "check_ids", "check_prefix", "hash_password", "merge_roles", "passwd", "render_acl",
           "verify_password"]

Role = Literal["device", "coordinator", "operator", "dashboard"]
ROLES: tuple[Role, ...] = ("device", "coordinator", "operator", "dashboard")
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")  # the same rule as edge_agent.carrier.topics
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})*")
PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's mosquitto_passwd default; the passwords are random 192-bit tokens


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


def passwd(path: Path, passwords: Mapping[str, str]) -> str:
    """``user:hash`` lines; a line of ``path`` whose hash still matches its password is kept as it was."""
    old = {}
    if path.exists():
        old = dict(line.split(":", 1) for line in path.read_text(encoding="utf-8").splitlines() if ":" in line)
    lines = []
    for user, password in passwords.items():
        hashed = old.get(user, "")
        lines.append(f"{user}:{hashed if verify_password(password, hashed) else hash_password(password)}\n")
    return "".join(lines)


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


def check_ids(ids: Iterable[str]) -> None:
    bad = [i for i in ids if not ID_PATTERN.fullmatch(i)]
    if bad:
        msg = (f"invalid device id(s) {bad}: use 1-64 characters from A-Z a-z 0-9 _ . - starting with "
               f"a letter or digit")
        raise ConfigError(msg)


def merge_roles(state: Mapping[str, Role], wanted: Mapping[str, Role]) -> dict[str, Role]:
    users = dict(state)
    for user, role in wanted.items():
        if users.setdefault(user, role) != role:
            msg = (f"user {user!r} is already a {users[user]} (provision.json); one user has one role: "
                   f"choose another name, or remove it from provision.json and secrets/ first")
            raise ConfigError(msg)
    return users




def check_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(f"topic prefix {prefix!r} is not valid: '/'-separated levels of A-Z a-z 0-9 _ . -")
    return prefix
