"""LoopSocket: when a library's queued bytes are written, counted over real loop iterations on a socket pair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from edge_agent.carrier.loop_socket import LoopSocket


class Library:
    """Stands in for paho: its read step reads what arrived and queues an answer (reporting it as paho
    does, through ``want_write``), flushing it at once when ``flush_in_read`` is set; its write step writes."""

    def __init__(self, sock: socket.socket, flush_in_read: bool) -> None:
        self.sock, self.flush_in_read = sock, flush_in_read
        self.writes = 0
        self.loop_socket = LoopSocket(self.read, self.write, lambda: None, lambda: None)

    def read(self) -> None:
        self.sock.recv(1024)
        self.loop_socket.want_write(True)
        if self.flush_in_read:
            self.loop_socket.flush()
            assert self.writes == 1  # written during the read step

    def write(self) -> None:
        self.writes += 1
        self.sock.send(b"answer")
        self.loop_socket.want_write(False)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


async def _iterations(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("flush_in_read", [True, False])
async def test_what_a_read_step_queues_is_written_once_whether_flushed_in_the_step_or_not(
    pair: tuple[socket.socket, socket.socket], flush_in_read: bool
) -> None:
    ours, theirs = pair
    library = Library(ours, flush_in_read)
    library.loop_socket.bind(asyncio.get_running_loop())
    library.loop_socket.opened(ours.fileno())
    theirs.setblocking(False)
    theirs.send(b"request")
    async with asyncio.timeout(5.0):
        assert await asyncio.get_running_loop().sock_recv(theirs, 1024) == b"answer"
    await _iterations(5)
    assert library.writes == 1
    library.loop_socket.forget()
