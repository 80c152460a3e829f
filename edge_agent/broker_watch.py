"""Watch the broker's dropped-message counter and report every increase.

Mosquitto drops QoS 0 and QoS 1 messages for a client whose queue is full (``max_queued_messages``) although the
sender got its PUBACK (docs: MQTT notes, failure mode 2; issue 11, finding 13). The only trace is the running
total it publishes every ``sys_interval`` seconds on ``$SYS/broker/publish/messages/dropped``. The watcher logs
``broker.messages_dropped`` (a warning, with the new and the total count) whenever that total grows::

    EDGE_AGENT_MQTT_PASSWORD_FILE=/etc/mosquitto/edge-agent/secrets/watch.password \\
        python -m edge_agent.broker_watch --broker mqtt://watch@127.0.0.1:1883

The user needs read access to ``$SYS/#``: a dashboard user (``python -m edge_agent.provision --dashboard watch``) of its
own, since user name = client id on the production broker. A broker restart resets the total; the watcher
counts from the new total then.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from edge_agent.carrier.mqtt import MqttLink
from edge_agent.carrier.mqtt_options import BrokerAddress, Inbound, MqttOptions
from edge_agent.errors import EdgeAgentError

__all__ = ["DROPPED_TOPIC", "DropCounter", "main", "watch_dropped"]

log = structlog.get_logger("edge_agent.broker_watch")
DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


@dataclass
class DropCounter:
    """The broker's running totals turned into counts of new drops."""

    total: int | None = None  # the last total the broker published
    dropped: int = 0  # dropped since the watch began (the first total seen is the baseline)
    restarts: int = 0  # times the total went down: the broker restarted

    def update(self, payload: bytes) -> int:
        """Take one published total; return how many messages were dropped since the previous one."""
        try:
            value = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            log.warning("broker.bad_counter", topic=DROPPED_TOPIC, payload=payload[:40].decode(errors="replace"))
            return 0
        if self.total is None:
            new = 0
        elif value < self.total:
            self.restarts += 1
            new = value
        else:
            new = value - self.total
        self.total = value
        self.dropped += new
        return new


async def watch_dropped(
    url: str,
    stop: asyncio.Event,
    *,
    on_drop: Callable[[int, DropCounter], None] | None = None,
    counter: DropCounter | None = None,
    options: MqttOptions | None = None,
) -> DropCounter:
    """Follow the counter on the broker at ``url`` until ``stop`` is set; ``on_drop(new, counter)`` on growth.

    ``counter`` (a new one by default) is updated as totals arrive and returned at the end."""
    counter = DropCounter() if counter is None else counter

    def on_message(message: Inbound) -> None:
        if message.topic != DROPPED_TOPIC:
            return
        new = counter.update(message.payload)
        if new:
            log.warning("broker.messages_dropped", new=new, total=counter.total, since_start=counter.dropped)
            if on_drop is not None:
                on_drop(new, counter)

    address = BrokerAddress.parse(url)
    link = MqttLink(url, client_id=address.username or f"watch-{secrets.token_hex(4)}", on_message=on_message,
                    on_connected=lambda: None, options=options)
    link.subscribe(DROPPED_TOPIC)
    async with asyncio.TaskGroup() as tasks:
        await link.start(tasks)
        log.info("broker_watch.ready", broker=address.redacted(), topic=DROPPED_TOPIC)
        try:
            await stop.wait()
        finally:
            await link.close()
    return counter


async def _until_signalled(url: str) -> DropCounter:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await watch_dropped(url, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="broker_watch", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                        help="mqtt[s]://user@host:port; the password from EDGE_AGENT_MQTT_PASSWORD_FILE")
    args = parser.parse_args(argv)
    from edge_agent.logs import configure_logging  # noqa: PLC0415  (the entry point configures logging)

    configure_logging(0)
    try:
        counter = asyncio.run(_until_signalled(args.broker))
    except EdgeAgentError as error:
        print(f"broker_watch: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"dropped while watching: {counter.dropped} (broker total {counter.total})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
