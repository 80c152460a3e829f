"""The fleet seen from ROS 2: ``edge-agent ros2-bridge`` (extra ``ros2``: eclipse-zenoh and rosbags).

Targets ROS 2 Jazzy with ``rmw_zenoh_cpp`` (``RMW_IMPLEMENTATION=rmw_zenoh_cpp``): topics on rmw_zenoh's key
expressions and liveliness tokens (:mod:`.keys`), CDR payloads of standard and shipped custom types
(:mod:`.interfaces`, the ROS 2 package ``edge_agent_msgs/``), the fleet's records as messages (:mod:`.view`),
setpoints checked into jobs (:mod:`.setpoints`), the process (:mod:`.bridge`). ``docs/ros2.md`` is the user's
guide. Nothing here is imported unless the bridge or its tests ask for it.
"""
