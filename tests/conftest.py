"""Session-wide test setup: quiet structured logging (tests that inspect logs use structlog.testing)."""

from __future__ import annotations

import io

from edge_agent.logs import configure_logging

configure_logging(verbosity=0, stream=io.StringIO(), json=True)
