"""Start a message handler at once, and make a task of it only if it has to wait.

Most handlers finish without waiting (they update state and send), and a task per message would cost
more than they do. :func:`start_eagerly` runs the handler in its own copy of the context, as a task would,
until it first waits; what is left is returned as an awaitable for the caller to run as a task, which
then behaves exactly as if it had started the handler (cancellation is thrown in where it waits). A handler
that fails at once has its error re-raised by that awaitable, so it reaches the caller's task group.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

__all__ = ["start_eagerly"]


def start_eagerly(handler: Coroutine[Any, Any, None]) -> tuple[Awaitable[None] | None, contextvars.Context]:
    """Run ``handler`` until it first waits: ``(None, context)`` if it finished, else ``(rest, context)``."""
    context = contextvars.copy_context()
    try:
        waiting_on = context.run(handler.send, None)
    except StopIteration:
        return None, context
    except BaseException as error:
        return _raise(error), context
    return _resume(handler, waiting_on), context


async def _raise(error: BaseException) -> None:
    raise error


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, None, None]:
    """Go on with ``coroutine``, started by hand and suspended on ``waiting_on``, inside a task."""
    while True:
        try:
            yield waiting_on
        except BaseException as error:
            step: Callable[[Any], Any] = coroutine.throw
            value: Any = error
        else:
            step, value = coroutine.send, None
        try:
            waiting_on = step(value)
        except StopIteration:
            return
