"""Human-readable tables of a :class:`~edge_agent.results.RunReport`."""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.results import RunReport

__all__ = ["format_report"]

_MAX_ROWS = 40


def _numbers(values: Sequence[float], limit: int = 6) -> str:
    shown = ", ".join(f"{v:.4g}" for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def format_report(report: RunReport) -> str:
    lines = [
        f"scenario   {report.scenario}  ({report.algorithm})",
        f"status     {report.status} after {report.iterations} iterations",
        f"objective  {report.objective:.6g}",
        f"aggregate  {_numbers(report.aggregate)}",
        f"messages   {report.messages}   wall {report.wall_s:.3f} s",
        "",
    ]
    ids = list(report.participants)
    width = max([len("participant"), *(len(pid) for pid in ids)])
    lines.append(f"{'participant':<{width}}  decision x")
    lines.append(f"{'-' * width}  {'-' * 40}")
    for pid in ids[:_MAX_ROWS]:
        lines.append(f"{pid:<{width}}  {_numbers(report.participants[pid]['x'])}")
    if len(ids) > _MAX_ROWS:
        lines.append(f"... {len(ids) - _MAX_ROWS} more participants (use --json for all)")
    return "\n".join(lines)
