"""How to run a scenario, independent of what it describes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.carrier.inproc import InProcNetwork

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    run_id: str
    seed: int | None = None  # seeds the message-order shuffle and any random choice of the algorithm
    shuffle: bool = False
    codec_check: bool = False

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def network(self) -> InProcNetwork:
        return InProcNetwork(rng=self.rng(), shuffle=self.shuffle, codec_check=self.codec_check, run_id=self.run_id)
