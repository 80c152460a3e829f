"""The fleet seen from ROS 2: ``edge-agent ros2-bridge`` (extra ``ros2``: eclipse-zenoh and rosbags).

Targets ROS 2 Jazzy with ``rmw_zenoh_cpp`` (``RMW_IMPLEMENTATION=rmw_zenoh_cpp``): topics on rmw_zenoh's key
expressions and liveliness tokens (:mod:`.keys`), CDR payloads of standard and shipped custom types
(:mod:`.interfaces`, the ROS 2 package ``edge_agent_msgs/``), the fleet's records as messages (:mod:`.view`),
setpoints checked into jobs (:mod:`.setpoints`), the process (:mod:`.bridge`). ``docs/ros2.md`` is the user's
guide. The names below are imported on first use: importing the package needs neither extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent._lazy import lazy_getattr

if TYPE_CHECKING:
    from edge_agent.ros2.bridge import Ros2Bridge
    from edge_agent.ros2.options import BridgeOptions, RosTopics
    from edge_agent.ros2.service import run_bridge

__all__ = ["BridgeOptions", "Ros2Bridge", "RosTopics", "run_bridge"]

_HOMES = {"Ros2Bridge": "edge_agent.ros2.bridge", "BridgeOptions": "edge_agent.ros2.options",
          "RosTopics": "edge_agent.ros2.options", "run_bridge": "edge_agent.ros2.service"}
__getattr__ = lazy_getattr(__name__, globals(), _HOMES)
