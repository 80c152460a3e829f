"""Settings of a Zenoh session (no zenoh types, so configuration files and launchers can use them).

::

    zenoh:
      mode: peer                        # peer (default): talk to other peers directly; client: through a router
      listen: [tcp/0.0.0.0:7447]        # where this session accepts peers (peer mode)
      connect: [tcp/10.0.0.2:7447]      # peers or routers to connect to (retried until they answer)
      multicast_scouting: false         # find peers on the LAN by UDP multicast (off: only the endpoints above)
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, field_validator

from edge_agent.config import StrictModel

__all__ = ["DEFAULT_ZENOH_MAX_PAYLOAD", "ZenohOptions"]

DEFAULT_ZENOH_MAX_PAYLOAD = 1024 * 1024
_ENDPOINT = re.compile(r"^(tcp|udp|tls|quic|unixsock-stream|ws)/\S+$")


class ZenohOptions(StrictModel):
    """How one process's Zenoh session reaches the others; the defaults suit peers on one host or LAN."""

    mode: Literal["peer", "client"] = "peer"
    listen: tuple[str, ...] = Field((), description="endpoints this session listens on, e.g. tcp/0.0.0.0:7447")
    connect: tuple[str, ...] = Field((), description="endpoints of peers or routers to connect to")
    multicast_scouting: bool = False
    max_payload: int = Field(DEFAULT_ZENOH_MAX_PAYLOAD, ge=1024, description="largest envelope sent or accepted")
    open_timeout_s: float = Field(10.0, gt=0, description="how long opening the session may take")

    @field_validator("listen", "connect")
    @classmethod
    def _endpoints(cls, endpoints: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in endpoints:
            if not _ENDPOINT.match(endpoint):
                msg = (f"{endpoint!r} is not a Zenoh endpoint: use <protocol>/<address>, e.g. tcp/127.0.0.1:7447 "
                       "(protocols: tcp, udp, tls, quic, unixsock-stream, ws)")
                raise ValueError(msg)
        return endpoints

    def config_items(self) -> list[tuple[str, str]]:
        """``(key, JSON5 value)`` pairs of the session's Zenoh configuration."""
        items = [("mode", json.dumps(self.mode)), ("connect/endpoints", json.dumps(list(self.connect))),
                 ("scouting/multicast/enabled", json.dumps(self.multicast_scouting)),
                 # an endpoint not listening yet (a peer still starting) is tried again soon, then every second
                 ("connect/retry", json.dumps({"period_init_ms": 100, "period_max_ms": 1000,
                                               "period_increase_factor": 2}))]
        if self.mode == "peer" or self.listen:
            items.append(("listen/endpoints", json.dumps(list(self.listen))))
        return items
