"""Agent ids: one rule for every name a device, participant, task or launcher goes by.

An id is at once a topic level, a Mosquitto user name and an MQTT client id, so the rule is the strictest of
the three: 1-64 characters from ``A-Z a-z 0-9 _ . -``, starting with a letter or digit (no ``/``, ``+``,
``#``, ``:`` or spaces). :data:`AgentId` checks it where a file or a message is read; :func:`validate_id`
where an id arrives as a plain string (a command-line option, a participant added in code).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field

from edge_agent.errors import ConfigError

__all__ = ["ID_PATTERN", "ID_RULE", "AgentId", "validate_id"]

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
ID_RULE: Final = ("1-64 characters from A-Z a-z 0-9 _ . - starting with a letter or digit "
                  "(no '/', '+', '#', ':' or spaces)")

AgentId = Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$", description=f"an agent id: {ID_RULE}")]


def validate_id(value: str, what: str = "participant id") -> str:
    """Return ``value`` if it is a valid agent id, else raise :class:`ConfigError` naming ``what`` and the rule."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ConfigError(f"{what} {value!r} is not a valid id: use {ID_RULE}")
    return value
