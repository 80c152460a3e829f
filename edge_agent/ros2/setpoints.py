"""Setpoints from ROS 2, checked as untrusted input and turned into the fleet's ADMM jobs.

A sample on the setpoint topic is believed only after every check: its size (at most :data:`MAX_PAYLOAD`
bytes), its CDR decoding as ``edge_agent_msgs/Setpoint``, the job name, the algorithm, the target (1 to
:data:`MAX_SLOTS` finite values within ``±``:data:`MAX_ABS_TARGET`), the priorities (none, or one finite weight in
``(0, MAX_ABS_TARGET]`` per slot, sharing only) and the devices (at most :data:`MAX_DEVICES`, each one online in
the fleet). A refusal is a :class:`SetpointRefused` whose message names the field and what is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence

import numpy as np
from pydantic import ValidationError

from edge_agent.algorithms.admm.job import AdmmJobSpec
from edge_agent.errors import EdgeAgentError, ProtocolError
from edge_agent.ros2.interfaces import SETPOINT, decode

__all__ = ["DEFAULT_JOB", "MAX_ABS_TARGET", "MAX_DEVICES", "MAX_PAYLOAD", "MAX_SLOTS", "SetpointRefused", "job_of"]

MAX_PAYLOAD = 64 * 1024
MAX_SLOTS = 96
MAX_DEVICES = 1000
MAX_ABS_TARGET = 1e6
DEFAULT_JOB = "ros2-setpoint"
_JOB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
_ALGORITHMS = ("admm-sharing", "admm-consensus")


class SetpointRefused(EdgeAgentError):
    """A setpoint that is not run, and why."""


def job_of(payload: bytes, online: Collection[str]) -> AdmmJobSpec:
    """The job a setpoint sample asks for; :class:`SetpointRefused` naming the first defect."""
    if len(payload) > MAX_PAYLOAD:
        raise SetpointRefused(f"a setpoint of {len(payload)} bytes; at most {MAX_PAYLOAD} are read")
    try:
        message = decode(SETPOINT, payload)
    except ProtocolError as error:
        raise SetpointRefused(str(error)) from None
    name = message.job or DEFAULT_JOB
    if not _JOB.match(name):
        raise SetpointRefused(f"job {name[:60]!r}: 1-40 characters of A-Z a-z 0-9 _ . -, starting with a letter or "
                              "digit")
    algorithm = message.algorithm or "admm-sharing"
    if algorithm not in _ALGORITHMS:
        raise SetpointRefused(f"algorithm {algorithm[:60]!r}: one of {', '.join(_ALGORITHMS)} (empty: admm-sharing)")
    target = _values("target", message.target, low=-MAX_ABS_TARGET, high=MAX_ABS_TARGET, count=(1, MAX_SLOTS))
    priorities = None
    if len(message.priorities):
        if algorithm != "admm-sharing":
            raise SetpointRefused("priorities: only admm-sharing takes them; leave them empty")
        priorities = _values("priorities", message.priorities, low=0.0, high=MAX_ABS_TARGET,
                             count=(len(target), len(target)), positive=True)
    devices = _devices(message.devices, online)
    try:
        return AdmmJobSpec(algorithm=algorithm, name=name, target=target, priorities=priorities, participants=devices)
    except ValidationError as error:  # the checks above should leave nothing for the model to refuse
        raise SetpointRefused(f"not a valid job: {error.errors()[0]['msg']}") from None


def _values(field: str, array: np.ndarray, *, low: float, high: float, count: tuple[int, int],
            positive: bool = False) -> list[float]:
    least, most = count
    if not least <= len(array) <= most:
        wanted = f"{least}" if least == most else f"{least} to {most}"
        raise SetpointRefused(f"{field}: {len(array)} values; {wanted} accepted")
    values = [float(v) for v in array]
    for index, value in enumerate(values):
        if not math.isfinite(value) or not low <= value <= high or (positive and value <= 0):
            bounds = f"({low:g}, {high:g}]" if positive else f"[{low:g}, {high:g}]"
            raise SetpointRefused(f"{field}[{index}] = {value!r}; finite values in {bounds} accepted")
    return values


def _devices(devices: Sequence[str], online: Collection[str]) -> list[str]:
    if len(devices) > MAX_DEVICES:
        raise SetpointRefused(f"devices: {len(devices)} named; at most {MAX_DEVICES}")
    if len(set(devices)) != len(devices):
        raise SetpointRefused("devices: a device is named twice")
    unknown = [d for d in devices if d not in online]
    if unknown:
        shown = ", ".join(repr(d[:64]) for d in unknown[:5])
        raise SetpointRefused(f"devices: {shown} not online in the fleet; devices online: "
                              f"{', '.join(sorted(online)[:20]) or 'none'}")
    return list(devices)
