"""Settings and plain data of the MQTT transport (no paho types, so other modules can use them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from edge_agent.errors import ConfigError

__all__ = ["DEFAULT_MAX_PAYLOAD", "BrokerAddress", "Inbound", "MqttOptions", "Will"]

DEFAULT_MAX_PAYLOAD = 256 * 1024  # keep equal to the broker's message_size_limit (broker/*.conf)


@dataclass(frozen=True)
class MqttOptions:
    """Tuning of one connection; the defaults suit a fleet on a LAN."""

    keepalive_s: int = 30
    max_payload: int = DEFAULT_MAX_PAYLOAD
    will_delay_s: int = 5  # MQTT 5 will delay: a reconnect within it raises no false "offline"
    session_expiry_s: int = 60  # the broker keeps subscriptions and queued QoS 1 messages this long
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 10.0
    max_inflight: int = 100
    max_queued: int = 10_000  # outgoing messages held while disconnected

    def __post_init__(self) -> None:
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
    """A parsed ``mqtt://[user:password@]host[:port]`` or ``mqtts://...`` URL."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1:
            msg = f"broker URL {url!r} is not valid: use mqtt://host[:port] or mqtts://host[:port]"
            raise ConfigError(msg)
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls, parts.username, parts.password)


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
