"""broker/mosquitto.prod.conf on provisioned files in a temp dir, as a test can run it (free loopback ports)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prod_config(out: Path, tls_port: int) -> str:
    """The production config with its paths in ``out`` (what ``edge-agent provision --out`` wrote), the loopback
    listener on ``{port}`` and the TLS one on ``tls_port`` (both 127.0.0.1), persistence in ``{dir}``, logs to
    stderr: a ``config_template`` for :class:`PrivateBroker`. The files are read in place, with their owners."""
    return (
        (ROOT / "broker/mosquitto.prod.conf").read_text()
        .replace("listener 1883 127.0.0.1", "listener {port} 127.0.0.1")
        .replace("listener 8883", f"listener {tls_port} 127.0.0.1")
        .replace("/etc/mosquitto/edge-agent/", f"{out}/")
        .replace("/var/lib/mosquitto/", "{dir}/")
        .replace("log_dest syslog", "log_dest stderr")
    )


@contextmanager
def site_dir() -> Iterator[Path]:
    """An empty ``<tmp>/etc`` for ``provision``; its parent is searchable by ``mosquitto`` (pytest's tmp_path is
    not: Mosquitto run as root drops to that user before it opens the files)."""
    base = Path(tempfile.mkdtemp(prefix="edge-agent-site-"))
    try:
        base.chmod(0o755)
        yield base / "etc"
    finally:
        shutil.rmtree(base, ignore_errors=True)
