"""What ``edge-agent ros2-bridge`` takes: the ROS 2 topics it uses and its options, checked on construction."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.errors import ConfigError
from edge_agent.ros2.keys import validate_topic

__all__ = ["BridgeOptions", "RosTopics"]


@dataclass(frozen=True)
class RosTopics:
    """The ROS 2 topics of the bridge (fully qualified names)."""

    diagnostics: str = "/diagnostics"
    run_progress: str = "/edge_agent/run_progress"
    run_result: str = "/edge_agent/run_result"
    setpoint: str = "/edge_agent/setpoint"
    setpoint_status: str = "/edge_agent/setpoint_status"

    def __post_init__(self) -> None:
        for field, name in vars(self).items():
            validate_topic(name, f"the {field} topic")


@dataclass(frozen=True)
class BridgeOptions:
    """What ``edge-agent ros2-bridge`` takes besides the broker."""

    prefix: str = "edge"
    domain_id: int = 0
    connect: tuple[str, ...] = ("tcp/localhost:7447",)
    listen: tuple[str, ...] = ("tcp/localhost:0",)
    period_s: float = 1.0
    job_timeout_s: float = 600.0
    max_jobs: int = 4
    topics: RosTopics = RosTopics()

    def __post_init__(self) -> None:
        if not 0 <= self.domain_id <= 232:
            raise ConfigError(f"--domain-id {self.domain_id}: ROS 2 domain ids are 0-232")
        if not self.period_s > 0:
            raise ConfigError(f"--period {self.period_s}: a positive number of seconds")
        if self.max_jobs < 1:
            raise ConfigError(f"max_jobs {self.max_jobs}: at least 1 setpoint must be allowed to run")
