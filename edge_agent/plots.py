"""Shared figure helpers (PNG). matplotlib is optional: it is imported only when a figure is asked for.

Each family draws its own figures (``edge_agent/algorithms/<family>/figure.py``); ``edge-agent ... --plot``
finds them through the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError

__all__ = ["pyplot", "save"]


def pyplot() -> Any:
    try:
        import matplotlib as mpl  # noqa: PLC0415  (optional dependency, loaded on demand)
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'edge-agent[plot]'") from None
    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def save(plt: Any, figure: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write ``figure`` to ``path`` (creating its folder) and close it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    plt.close(figure)
    return out
