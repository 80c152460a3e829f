"""Launching a DCOP run among device agents and watching it to its end, from outside the run.

:class:`~edge_agent.algorithms.notice_launcher.NoticeLauncher` with the DCOP messages: join
(:class:`~.messages.DcopJoin` / :class:`~.messages.DcopJoined`), :class:`~.messages.DcopStart`, every agent's
unasked :class:`~.messages.DcopOutcome` once it stopped (each learns the end by itself: the local searches'
final gossip, DPOP's VALUE sweep), :class:`~.messages.DcopCollect` and :class:`~.messages.DcopLeave`.
"""

from __future__ import annotations

from edge_agent.algorithms.dcop.messages import DcopCollect, DcopJoined, DcopLeave, DcopOutcome, DcopStart
from edge_agent.algorithms.notice_launcher import LaunchResult, NoticeLauncher, NoticeMessages

__all__ = ["DcopLaunchResult", "DcopLauncher"]

DCOP_MESSAGES = NoticeMessages(family="DCOP", agents="agent", joined=DcopJoined, start=DcopStart,
                               outcome=DcopOutcome, collect=lambda run: DcopCollect(run=run),
                               leave=lambda run: DcopLeave(run=run))
DcopLaunchResult = LaunchResult[DcopOutcome]


def DcopLauncher(id: str) -> NoticeLauncher[DcopOutcome]:  # noqa: N802  (reads as the launcher's class)
    return NoticeLauncher(id, DCOP_MESSAGES)
