"""The in-process carrier's own cost: one request/reply round trip, and one gossip delivery per receiver.

    .venv/bin/python bench/inproc.py                       # prints the table (a few seconds)
    .venv/bin/python bench/inproc.py --json-out run.json   # also the rows as JSON (bench/against.py reads them)
    .venv/bin/python bench/against.py HEAD~1 -- bench/inproc.py   # this tree against an earlier revision

Request: a requester asks 100 echo participants 40 times (``asyncio.gather`` of 100 requests, 4,000 round
trips); gossip: one publisher, 100 subscribers, 40 publications (4,000 deliveries). Each figure is the best
of ``--repeats`` batches of process CPU time divided by the messages in a batch (the best batch is the one
least disturbed by other work on a shared machine). No codec (``InProcNetwork()``), as the algorithms' simulations run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.algorithms.admm.messages import AdmmAnswer, AdmmRequest
from edge_agent.carrier import Carrier, InProcNetwork
from edge_agent.messages import Envelope, Message

PEERS, ROUNDS = 100, 40


class Echo:
    """Answers a request with its reference; counts the gossip it hears."""

    def __init__(self, id: str) -> None:
        self.id = id
        self.heard = 0

    async def handle(self, carrier: Carrier, message: Message, envelope: Envelope) -> None:
        if isinstance(message, AdmmRequest):
            carrier.reply(AdmmAnswer(round=message.round, x=message.reference), envelope)
        else:
            self.heard += 1


async def measure(repeats: int) -> list[dict[str, Any]]:
    async with InProcNetwork() as network:
        echoes = [Echo(f"p{i:03d}") for i in range(PEERS)]
        carriers = [network.add(echo) for echo in echoes]
        me = network.add(Echo("me"))
        for carrier in carriers:
            carrier.subscribe(["me"])
        reference = np.zeros(3)
        request_s, gossip_s = [], []
        for _ in range(repeats):
            cpu = time.process_time()
            for k in range(ROUNDS):
                await asyncio.gather(*(me.request(AdmmRequest(round=k, rho=1.0, reference=reference), e.id, 5.0)
                                       for e in echoes))
            request_s.append((time.process_time() - cpu) / (ROUNDS * PEERS))
            cpu = time.process_time()
            for k in range(ROUNDS):
                me.publish(AdmmAnswer(round=k, x=reference))
            await network.quiescent()
            gossip_s.append((time.process_time() - cpu) / (ROUNDS * PEERS))
    return [{"case": "request/reply round trip", "cpu_us": 1e6 * min(request_s)},
            {"case": "gossip, per receiver", "cpu_us": 1e6 * min(gossip_s)}]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="batches; the best is reported (default 5)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = asyncio.run(measure(max(1, args.repeats)))
    print("| case | CPU us per message (best batch) |\n|---|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['cpu_us']:.1f} |")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"rows": rows}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
