"""Settings and plain data of the MQTT transport (no paho types, so other modules can use them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from edge_agent.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "FAST_PATH_VARIABLE",
    "PASSWORD_ENV",
    "PASSWORD_FILE_ENV",
    "PROTOCOLS",
    "PROTOCOL_VARIABLE",
    "SYSTEMD_CREDENTIAL",
    "BrokerAddress",
    "Inbound",
    "MqttOptions",
    "Protocol",
    "Will",
    "password_from_environment",
    "redact_url",
]

DEFAULT_MAX_PAYLOAD = 256 * 1024  # keep equal to the broker's message_size_limit (broker/*.conf)
PASSWORD_FILE_ENV = "EDGE_AGENT_MQTT_PASSWORD_FILE"  # a file whose first line is the password of the URL's user
PASSWORD_ENV = "EDGE_AGENT_MQTT_PASSWORD"  # the password itself (a file is preferred)
SYSTEMD_CREDENTIAL = "mqtt-password"  # LoadCredential=mqtt-password:<file> in a systemd unit
FAST_PATH_VARIABLE = "EDGE_AGENT_MQTT_FAST_PATH"
PROTOCOL_VARIABLE = "EDGE_AGENT_MQTT_PROTOCOL"
Protocol = Literal["5", "3.1.1"]
PROTOCOLS: Final[tuple[Protocol, ...]] = ("5", "3.1.1")
_SWITCH = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}


def _fast_path_default() -> bool:
    """``MqttOptions.fast_path`` unless given: on, or what ``EDGE_AGENT_MQTT_FAST_PATH`` says (read here only)."""
    value = os.environ.get(FAST_PATH_VARIABLE, "").strip().lower()
    if not value:
        return True
    if value not in _SWITCH:
        msg = f"{FAST_PATH_VARIABLE}={value!r} is not valid: use 1/true/on/yes or 0/false/off/no"
        raise ConfigError(msg)
    return _SWITCH[value]


def _protocol_default() -> Protocol:
    """``MqttOptions.protocol`` unless given: ``5``, or what ``EDGE_AGENT_MQTT_PROTOCOL`` says (read here only)."""
    value = os.environ.get(PROTOCOL_VARIABLE, "").strip()
    if not value:
        return "5"
    for protocol in PROTOCOLS:
        if value == protocol:
            return protocol
    msg = f"{PROTOCOL_VARIABLE}={value!r} is not valid: use {' or '.join(PROTOCOLS)}"
    raise ConfigError(msg)


@dataclass(frozen=True)
class MqttOptions:
    """Tuning of one connection; the defaults suit a fleet on a LAN.

    ``fast_path`` (default on) reads, writes and decodes the carriers' packets on a short path built on
    paho 2.2 internals (``edge_agent/carrier/_fast_path.py``; cross-process request/reply p50 1.19x raw paho
    instead of ~2x). Off, the link uses a plain ``paho.Client`` through its public API: the fallback when a
    paho upgrade breaks the fast path. The environment variable ``EDGE_AGENT_MQTT_FAST_PATH=0`` turns it off
    for every connection that does not set it (e.g. ``EDGE_AGENT_MQTT_FAST_PATH=0 pytest -m integration``).

    ``protocol`` is ``"5"`` (default) or ``"3.1.1"``, for brokers that speak only MQTT 3.1.1 (RabbitMQ's MQTT
    plugin, NATS's MQTT listener); a broker URL's ``?protocol=3.1.1`` overrides it. In 3.1.1 mode nothing rides
    in MQTT 5 properties: the envelope already names its sender, receiver, id and ``in_reply_to`` (what the
    response topic and correlation data repeated), the session is clean on every connect (``session_expiry_s``
    is unused: the carrier re-sends waiting requests instead) and the Last Will has no delay (``will_delay_s``
    is unused: a reconnect shows as offline, then online). ``EDGE_AGENT_MQTT_PROTOCOL=3.1.1`` sets the default
    of every connection that does not set it (e.g. to run the integration suite in 3.1.1 mode). See
    ``docs/brokers.md``.
    """

    keepalive_s: int = 30
    max_payload: int = DEFAULT_MAX_PAYLOAD
    will_delay_s: int = 5  # MQTT 5 will delay: a reconnect within it raises no false "offline"
    session_expiry_s: int = 60  # the broker keeps subscriptions and queued QoS 1 messages this long
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 10.0
    max_inflight: int = 100
    max_queued: int = 10_000  # outgoing messages held while disconnected
    fast_path: bool = field(default_factory=_fast_path_default)
    protocol: Protocol = field(default_factory=_protocol_default)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            msg = f"MQTT option protocol must be one of {', '.join(map(repr, PROTOCOLS))}, got {self.protocol!r}"
            raise ConfigError(msg)
        for name in ("keepalive_s", "max_payload", "max_inflight", "max_queued", "session_expiry_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MQTT option {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.will_delay_s <= self.session_expiry_s:
            msg = (f"MQTT option will_delay_s must be within 0..session_expiry_s ({self.session_expiry_s}), "
                   f"got {self.will_delay_s}")
            raise ConfigError(msg)
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            msg = (f"MQTT options need 0 < reconnect_min_s <= reconnect_max_s, "
                   f"got {self.reconnect_min_s} and {self.reconnect_max_s}")
            raise ConfigError(msg)
        if self.connect_timeout_s <= 0:
            raise ConfigError(f"MQTT option connect_timeout_s must be > 0, got {self.connect_timeout_s}")


@dataclass(frozen=True)
class BrokerAddress:
    """A parsed ``mqtt://[user[:password]@]host[:port][?protocol=3.1.1]`` or ``mqtts://...`` URL.

    ``protocol`` (``5`` or ``3.1.1``), when the URL names it, overrides ``MqttOptions.protocol``.

    A URL that names a user but no password takes the password from the environment: the first line of the
    file named by ``EDGE_AGENT_MQTT_PASSWORD_FILE``, else of systemd's credential ``mqtt-password``
    (``LoadCredential=mqtt-password:<file>``), else ``EDGE_AGENT_MQTT_PASSWORD``. That keeps the secret
    out of argv (``ps``) and out of every log line that shows the URL; :func:`redact_url` removes a password
    that was written into a URL anyway.
    """

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: Protocol | None = None

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> BrokerAddress:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1:
            msg = f"broker URL {redact_url(url)!r} is not valid: use mqtt://host[:port] or mqtts://host[:port]"
            raise ConfigError(msg)
        tls = parts.scheme == "mqtts"
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        protocol = _protocol_of(url, parts.query)
        if username is not None and password is None:
            password = password_from_environment(os.environ if environ is None else environ)
        return cls(parts.hostname, port or (8883 if tls else 1883), tls, username, password, protocol)

    def redacted(self) -> str:
        """The URL without its password, for logs and error messages."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?protocol={self.protocol}" if self.protocol else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}{query}"


def _protocol_of(url: str, query: str) -> Protocol | None:
    """The ``protocol`` a broker URL's query names (the only parameter accepted), or None."""
    try:
        fields = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        fields = {"": [query]}
    unknown = sorted(set(fields) - {"protocol"})
    values = fields.get("protocol", [])
    if unknown or len(values) > 1 or (values and values[0] not in PROTOCOLS):
        msg = (f"broker URL {redact_url(url)!r} has a query that is not valid: the only parameter accepted is "
               f"protocol={' or protocol='.join(PROTOCOLS)}")
        raise ConfigError(msg)
    return next((p for p in PROTOCOLS if values and values[0] == p), None)


def password_from_environment(environ: Mapping[str, str]) -> str | None:
    """The password in the file named by ``EDGE_AGENT_MQTT_PASSWORD_FILE``, in systemd's ``mqtt-password``
    credential, or given in ``EDGE_AGENT_MQTT_PASSWORD`` (the first of them that is set)."""
    path = environ.get(PASSWORD_FILE_ENV)
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if not path and credentials and (Path(credentials) / SYSTEMD_CREDENTIAL).is_file():
        path = str(Path(credentials) / SYSTEMD_CREDENTIAL)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            msg = f"cannot read the MQTT password from {PASSWORD_FILE_ENV}={path}: {error.strerror}"
            raise ConfigError(msg) from None
        if not lines or not lines[0].strip():
            raise ConfigError(f"the MQTT password file {PASSWORD_FILE_ENV}={path} is empty")
        return lines[0].strip()
    return environ.get(PASSWORD_ENV) or None


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (a URL that does not parse is returned unchanged)."""
    parts = urlsplit(url)
    try:
        if parts.password is None:
            return url
    except ValueError:
        return url
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}").geturl()


@dataclass(frozen=True)
class Inbound:
    """One received PUBLISH, free of paho types."""

    topic: str
    payload: bytes
    retain: bool
    response_topic: str | None = None
    correlation: bytes | None = None


@dataclass(frozen=True)
class Will:
    """The Last Will; ``payload(session)`` is rendered again for every connect attempt."""

    topic: str
    payload: Callable[[str], bytes]
