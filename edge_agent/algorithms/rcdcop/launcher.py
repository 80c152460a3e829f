"""Launching an RCDCOP run among node agents and watching it to its end, from outside the run.

:class:`~edge_agent.algorithms.notice_launcher.NoticeLauncher` with the RCDCOP messages: join
(:class:`~.messages.RcJoin` / :class:`~.messages.RcJoined`), :class:`~.messages.RcStart` (the leaves begin the
UTIL sweep), every node's unasked :class:`~.messages.RcOutcome` once it decided, :class:`~.messages.RcCollect`
and :class:`~.messages.RcLeave`.
"""

from __future__ import annotations

from edge_agent.algorithms.notice_launcher import LaunchResult, NoticeLauncher, NoticeMessages
from edge_agent.algorithms.rcdcop.messages import RcCollect, RcJoined, RcLeave, RcOutcome, RcStart

__all__ = ["RcLaunchResult", "RcLauncher"]

RC_MESSAGES = NoticeMessages(family="RCDCOP", agents="node", joined=RcJoined, start=RcStart, outcome=RcOutcome,
                             collect=lambda run: RcCollect(run=run), leave=lambda run: RcLeave(run=run))
RcLaunchResult = LaunchResult[RcOutcome]


def RcLauncher(id: str) -> NoticeLauncher[RcOutcome]:  # noqa: N802  (reads as the launcher's class)
    return NoticeLauncher(id, RC_MESSAGES)
