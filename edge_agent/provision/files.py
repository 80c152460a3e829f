"""Files written atomically with their final owner and mode; what Mosquitto reads goes to its group."""

from __future__ import annotations

import grp
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BROKER_GROUP", "BROKER_READS", "PUBLIC", "SECRET", "Writer", "broker_gid"]

BROKER_GROUP = "mosquitto"
PUBLIC, BROKER_READS, SECRET = 0o644, 0o640, 0o600


@dataclass
class Writer:
    broker_gid: int | None  # the group that may read what Mosquitto reads; None: leave the group alone
    written: list[Path] = field(default_factory=list)

    def directory(self, path: Path, mode: int, *, broker: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._own(path, mode, broker)

    def file(self, path: Path, data: bytes, mode: int, *, broker: bool = False) -> None:
        """Replace ``path`` by ``data`` in one rename (a broker reload never sees half a file)."""
        if path.exists() and path.read_bytes() == data:
            self._own(path, mode, broker)
            return
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._own(Path(temp), mode, broker)
            Path(temp).replace(path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.written.append(path)

    def _own(self, path: Path, mode: int, broker: bool) -> None:
        if broker and self.broker_gid is not None:
            os.chown(path, -1, self.broker_gid)
        path.chmod(mode)


def broker_gid() -> int | None:
    """The ``mosquitto`` group's id, when it exists and this process may give files to it."""
    try:
        group = grp.getgrnam(BROKER_GROUP)
    except KeyError:
        return None
    if os.geteuid() == 0 or group.gr_gid in os.getgroups():
        return group.gr_gid
    return None


