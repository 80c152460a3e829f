"""Same-session A/B: run one benchmark on this tree and on an earlier git revision, alternating, and compare.

    .venv/bin/python bench/against.py 33c8f6f --runs 5 -- bench/admm.py --quick --repeats 1
    .venv/bin/python bench/against.py HEAD~3 --metrics wall_s,cpu_s -- bench/admm.py --repeats 1

The revision is checked out into a temporary git worktree (removed afterwards). Both sides run the benchmark
script of *this* tree (the same harness and instances), importing ``edge_agent`` from their own tree through
``PYTHONPATH``; the benchmark must accept ``--json-out PATH`` and write ``{"rows": [{"case": ..., ...}]}``.
Runs alternate between the trees (the revision first on odd runs) so that a change in machine load hits both.
Printed: per case and metric, the median of each side, the ratio this tree / revision and every run's ratio;
and whether the deterministic fields (``--same``, e.g. iterations) agree. On a shared, noisy machine prefer
``cpu_s`` (process CPU time) to ``wall_s``, and read the spread of the per-run ratios before the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_once(tree: Path, command: list[str], out: Path) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    script, *args = command
    subprocess.run([sys.executable, str(ROOT / script), *args, "--json-out", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return {row["case"]: row for row in json.loads(out.read_text())["rows"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare against (e.g. a commit or HEAD~1)")
    parser.add_argument("--runs", type=int, default=5, help="runs per side, alternating (default 5)")
    parser.add_argument("--metrics", default="wall_s,cpu_s", help="comma-separated timing fields to compare")
    parser.add_argument("--same", default="iterations,messages", help="fields that must agree between the sides")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, command = parser.parse_args(argv[:cut]), argv[cut + 1:]
    if not command or args.runs < 1:
        parser.error("give --runs >= 1 and the benchmark after '--', e.g. -- bench/admm.py --quick")
    if not (ROOT / command[0]).is_file():
        parser.error(f"{command[0]}: no such benchmark script in {ROOT}")
    metrics, same = args.metrics.split(","), [f for f in args.same.split(",") if f]
    with tempfile.TemporaryDirectory(prefix="edge-agent-ab-") as tmp:
        old_tree = Path(tmp) / "revision"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.revision],
                       check=True, capture_output=True)
        try:
            runs: dict[str, list[dict[str, dict[str, Any]]]] = {"revision": [], "this": []}
            for k in range(args.runs):
                order = [("revision", old_tree), ("this", ROOT)]
                for side, tree in order if k % 2 == 0 else order[::-1]:
                    print(f"run {k + 1}/{args.runs}: {side} ...", file=sys.stderr, flush=True)
                    runs[side].append(run_once(tree, command, Path(tmp) / "out.json"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)
    print(f"# {' '.join(command)}: this tree against {args.revision}, {args.runs} alternating runs per side, "
          f"load average now {' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    agree_header = f"{', '.join(same)} agree"
    print(f"| case | metric | {args.revision} median | this median | ratio | per-run ratios | {agree_header} |")
    print("|---|---|---:|---:|---:|---|---|")
    for case in runs["this"][0]:
        for metric in metrics:
            old = [run[case][metric] for run in runs["revision"]]
            new = [run[case][metric] for run in runs["this"]]
            per_run = ", ".join(f"{n / o:.2f}" for o, n in zip(old, new, strict=True))
            every = runs["this"] + runs["revision"]
            agree = all(run[case][f] == runs["this"][0][case][f] for f in same for run in every)
            print(f"| {case} | {metric} | {statistics.median(old):.3f} | {statistics.median(new):.3f} "
                  f"| {statistics.median(new) / statistics.median(old):.2f} | {per_run} | {'yes' if agree else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
