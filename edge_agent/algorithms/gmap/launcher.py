"""Launching a DisLRP run among device agents and watching it to its end, from outside the run.

:class:`~edge_agent.algorithms.notice_launcher.NoticeLauncher` with the DisLRP messages: join
(:class:`~.messages.DisLrpJoin` / :class:`~.messages.DisLrpJoined`, sent once the device's subscriptions hold,
so no cycle-0 message can be missed), :class:`~.messages.DisLrpStart`, every agent's unasked
:class:`~.messages.DisLrpOutcome` once it stopped, :class:`~.messages.DisLrpCollect` (every agent's history)
and :class:`~.messages.DisLrpLeave`.
"""

from __future__ import annotations

from edge_agent.algorithms.gmap.messages import DisLrpCollect, DisLrpJoined, DisLrpLeave, DisLrpOutcome, DisLrpStart
from edge_agent.algorithms.notice_launcher import LaunchResult, NoticeLauncher, NoticeMessages

__all__ = ["GmapLaunchResult", "GmapLauncher"]

DISLRP_MESSAGES = NoticeMessages(family="DisLRP", agents="agent", joined=DisLrpJoined, start=DisLrpStart,
                                 outcome=DisLrpOutcome, collect=lambda run: DisLrpCollect(run=run),
                                 leave=lambda run: DisLrpLeave(run=run))
GmapLaunchResult = LaunchResult[DisLrpOutcome]


def GmapLauncher(id: str) -> NoticeLauncher[DisLrpOutcome]:  # noqa: N802  (reads as the launcher's class)
    return NoticeLauncher(id, DISLRP_MESSAGES)
