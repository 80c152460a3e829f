"""DCOP benchmark: DSA, MGM, Max-Sum and DPOP in process on seeded random and scale-free DCOPs, against the
HiGHS MIP optimum; optionally a 50-agent run over MQTT with one process per agent.

    .venv/bin/python bench/dcop.py            # random 20/50/100 (3 seeds), 1000 (1 seed), scale-free 100
                                              # (3 seeds) and 1000 (1 seed); writes bench/results/dcop.{md,json}
    .venv/bin/python bench/dcop.py --quick    # random 20 and 100, one seed; prints, writes nothing
    .venv/bin/python bench/dcop.py --mqtt     # also 50 agents over MQTT (DSA, MGM, Max-Sum; DPOP on a sparser
                                              # 50-variable instance), one `edge-agent agent` process each
                                              # (without it, the last MQTT figures are kept, dated)
    .venv/bin/python bench/dcop.py --pydcop /tmp/pydcop37/bin/python   # pyDCOP beside ours, in the same run

Instances (``edge_agent.algorithms.dcop.generators``): domain 3, integer costs uniform in 0..100; random
graphs with ``2.5 n`` binary constraints (G(n, m)), scale-free graphs by Barabási-Albert with m = 2. Each
cycle-based run goes at most 100 cycles and stops after 10 cycles without a change (MGM-2: 30; DSA: variant B,
p = 0.7; Max-Sum: damping 0.9); at 1000 variables every run goes its full 100 cycles (the timing case); the
seed of the run is fixed; random 1000 runs each algorithm three times (the same seeded run: only its times
differ) and reports their medians. DPOP runs where its largest table fits in 256 MB, and is
marked "refused" elsewhere. The optimum is HiGHS on the MIP of ``oracle.py`` (time limit 120 s, 60 s at 1000
variables): where it is
not proven, the gap is measured against its dual bound and marked ``*`` (an upper bound on the true gap).
Wall time covers ``scenario.run`` (building the agents and the run); CPU time is the process's.
``gap = (cost - optimum) / optimum``.

pyDCOP: without ``--pydcop`` its figures beside ours are those recorded in issue 13. With it, pyDCOP 0.1.1 runs
in its thread mode on every seed of the random instances up to 100 variables, in the same run as ours, from a
scratch Python 3.7 environment (how to make it: ``PYDCOP_RAN`` below, also written into the results).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from edge_agent import registry
from edge_agent.algorithms.dcop.model import Dcop
from edge_agent.algorithms.dcop.oracle import mip_optimum
from edge_agent.algorithms.dcop.scenario import DcopScenario
from edge_agent.errors import ConfigError
from edge_agent.family import RunOptions
from edge_agent.runtime.inproc import solve

RESULTS = Path(__file__).parent / "results"
ALGORITHMS = ("dsa", "mgm", "mgm2", "maxsum", "dpop")
SETTINGS: dict[str, Any] = {"max_cycles": 100, "quiet_cycles": 10, "variant": "B", "p": 0.7, "damping": 0.9,
                            "memory_limit_mb": 256}
PYDCOP_S = 10  # pyDCOP's local searches never stop by themselves: each run is cut after this many seconds
QUIET = {"mgm2": 30}  # MGM-2's pairs form at random: a longer quiet window before declaring convergence
FULL_RUN_FROM = 1000  # from this size every cycle-based run goes its 100 cycles (no quiet stop): the timing case
TIMING_REPEATS = 3  # random 1000: each algorithm runs this often (same seed, same result), times are medians
PYDCOP = {  # issue 13: pyDCOP thread mode, random binary DCOPs of 20-100 variables, domain 3, costs 0-100
    "dsa": "3-12 % in 4-16 s", "mgm": "6-20 % in 5-16 s", "mgm2": "0.5-10 % in 5-31 s",
    "maxsum": "0-3 %, never stops (cut at 60 s)", "dpop": "-",
}


@dataclass(frozen=True)
class Instance:
    kind: str
    n: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.n}"

    def generate(self) -> dict[str, Any]:
        if self.kind == "random":
            return {"kind": "random", "n": self.n, "edges": int(2.5 * self.n), "seed": self.seed}
        return {"kind": "scale-free", "n": self.n, "m": 2, "seed": self.seed}

    def scenario(self, algorithm: str) -> DcopScenario:
        quiet = QUIET.get(algorithm, SETTINGS["quiet_cycles"])
        if self.n >= FULL_RUN_FROM:
            quiet = 10 * SETTINGS["max_cycles"]
        scenario = registry.parse_scenario({"algorithm": algorithm, "name": f"{self.kind}-{self.n}-{self.seed}",
                                            "generate": self.generate(), **SETTINGS, "quiet_cycles": quiet})
        assert isinstance(scenario, DcopScenario)
        return scenario


def instances(quick: bool) -> list[Instance]:
    if quick:
        return [Instance("random", 20, 1), Instance("random", 100, 1)]
    found = [Instance("random", n, seed) for n in (20, 50, 100) for seed in (1, 2, 3)]
    found += [Instance("scale-free", 100, seed) for seed in (1, 2, 3)]
    found += [Instance("random", 1000, 1), Instance("scale-free", 1000, 1)]
    return found


def run_one(instance: Instance, algorithm: str, optimum: float | None) -> dict[str, Any]:
    scenario = instance.scenario(algorithm)
    cpu = time.process_time()
    wall = time.perf_counter()
    try:
        report = asyncio.run(solve(scenario, RunOptions(run_id="bench", seed=instance.seed))).to_json()
    except ConfigError as error:
        return {"instance": instance.label, "seed": instance.seed, "algorithm": algorithm, "refused": str(error)}
    row = {
        "instance": instance.label, "seed": instance.seed, "algorithm": algorithm, "cost": report["objective"],
        "status": report["status"], "cycles": report["iterations"], "messages": report["messages"],
        "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
        "gap": None if optimum is None else (report["objective"] - optimum) / optimum,
    }
    if algorithm == "dpop":
        row |= {"induced_width": report["induced_width"], "util_bytes": report["largest_util"]["bytes"]}
    else:
        row["best_cycle"] = report["best_cycle"]
    return row


def bench(quick: bool) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    optima: list[dict[str, Any]] = []
    for instance in instances(quick):
        dcop = instance.scenario("dsa").problem()
        started = time.perf_counter()
        optimum = mip_optimum(dcop, time_limit_s=60.0 if instance.n >= FULL_RUN_FROM else 120.0)
        optima.append({"instance": instance.label, "seed": instance.seed, "cost": optimum.cost,
                       "bound": optimum.bound, "proven": optimum.proven, "mip_s": time.perf_counter() - started})
        reference = optimum.cost if optimum.proven else optimum.bound
        print(f"{instance.label} seed {instance.seed}: MIP {optimum.cost} (bound {optimum.bound}, "
              f"proven {optimum.proven}) in {optima[-1]['mip_s']:.1f} s", flush=True)
        for algorithm in ALGORITHMS:
            repeats = TIMING_REPEATS if instance.kind == "random" and instance.n >= FULL_RUN_FROM else 1
            for repeat in range(repeats):  # the same seeded run again: only its times differ
                row = run_one(instance, algorithm, reference)
                row["gap_vs_bound"] = not optimum.proven
                row["repeat"] = repeat
                rows.append(row)
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "refused"}
            print("   ", shown if "refused" not in row else f"{algorithm}: refused", flush=True)
    return {"rows": rows, "optima": optima}


def mqtt_runs() -> list[dict[str, Any]]:
    from edge_agent.algorithms.dcop.plan import DcopPlan
    from edge_agent.runtime.host import run_over_mqtt

    found = []
    for algorithm, edges in (("dsa", 125), ("mgm", 125), ("mgm2", 125), ("maxsum", 125), ("dpop", 60)):
        scenario = registry.parse_scenario({"algorithm": algorithm, "name": f"mqtt-50-{algorithm}",
                                            "generate": {"kind": "random", "n": 50, "edges": edges, "seed": 1},
                                            **SETTINGS, "quiet_cycles": QUIET.get(algorithm, 10)})
        assert isinstance(scenario, DcopScenario)
        options = RunOptions(run_id="bench", seed=1)
        inproc = asyncio.run(solve(scenario, options)).to_json()
        started = time.perf_counter()
        report = run_over_mqtt(DcopPlan(scenario, options)).to_json()
        total = time.perf_counter() - started
        found.append({"algorithm": algorithm, "agents": 50, "constraints": edges, "cost": report["objective"],
                      "same_as_in_process": report["assignment"] == inproc["assignment"],
                      "cycles": report["iterations"], "messages": report["messages"], "run_s": report["wall_s"],
                      "with_processes_s": total, "in_process_s": inproc["wall_s"], "status": report["status"]})
        print(found[-1], flush=True)
    return found


def pydcop_yaml(dcop: Dcop, agents: int) -> str:
    """The DCOP in pyDCOP's YAML format (extensional tables), with ``agents`` agents for its distribution."""
    lines = [f"name: {dcop.name}", f"objective: {dcop.objective}", "domains:", "  d:",
             f"    values: {list(dcop.variables[0].domain)}", "    type: int", "variables:"]
    lines += [f"  {v.name}: {{domain: d}}" for v in dcop.variables]
    lines.append("constraints:")
    for c in dcop.constraints:
        by_cost: dict[float, list[str]] = {}
        for index in np.ndindex(*c.table.shape):
            by_cost.setdefault(float(c.table[index]), []).append(" ".join(str(k) for k in index))
        lines += [f"  {c.name}:", "    type: extensional", f"    variables: {list(c.scope)}", "    values:"]
        lines += [f"      {cost:g}: {' | '.join(entries)}" for cost, entries in sorted(by_cost.items())]
    lines.append("agents:")
    lines += [f"  a{k:05d}: {{capacity: 1000}}" for k in range(agents)]
    return "\n".join(lines) + "\n"


def pydcop_runs(python: str, quick: bool, optima: dict[tuple[str, int], float]) -> list[dict[str, Any]]:
    """pyDCOP (thread mode, its defaults: DSA-B p = 0.7, MGM, MGM-2, Max-Sum) cut after PYDCOP_S seconds, on every
    seed of the random instances up to 100 variables. Its ``--run_metrics`` file (a line per change of its
    assignment, with its time since the start of the solve) gives the time of its last change."""
    script = Path(python).parent / "dcop.py"
    found = []
    with tempfile.TemporaryDirectory(prefix="pydcop-bench-") as tmp:
        for instance in [i for i in instances(quick) if i.n <= 100 and i.kind == "random"]:
            dcop = instance.scenario("dsa").problem()
            path = Path(tmp) / f"{instance.kind}-{instance.n}-{instance.seed}.yaml"
            path.write_text(pydcop_yaml(dcop, len(dcop.variables) + len(dcop.constraints)), encoding="utf-8")
            for algorithm in ("dsa", "mgm", "mgm2", "maxsum"):
                metrics = Path(tmp) / f"{path.stem}-{algorithm}.csv"
                started = time.perf_counter()
                done = subprocess.run([python, str(script), "-t", str(PYDCOP_S), "solve", "--algo", algorithm,
                                       "--run_metrics", str(metrics), str(path)], capture_output=True, text=True,
                                      timeout=PYDCOP_S + 120, check=False)
                wall = time.perf_counter() - started
                row: dict[str, Any] = {"instance": instance.label, "seed": instance.seed, "algorithm": algorithm}
                try:
                    out = json.loads(done.stdout)
                    cost = dcop.cost({k: int(v) for k, v in out["assignment"].items()})
                except (json.JSONDecodeError, KeyError, ValueError, ConfigError) as error:
                    found.append(row | {"failed": str(error)[:200], "stderr": done.stderr[-300:]})
                    continue
                optimum = optima[(instance.label, instance.seed)]
                found.append(row | {"cost": cost, "gap": (cost - optimum) / optimum, "status": out.get("status"),
                                    "messages": out.get("msg_count"), "wall_s": wall,
                                    "last_change_s": _last_change(metrics)})
                print("   pyDCOP", found[-1], flush=True)
    return found


def _last_change(metrics: Path) -> float | None:
    """When pyDCOP's cost last changed (seconds since its solve started), from its run-metrics file."""
    try:
        lines = [line.split(",") for line in metrics.read_text(encoding="utf-8").splitlines()[1:]]
    except OSError:
        return None
    costs = [(float(line[0]), line[2]) for line in lines if len(line) > 2 and line[2] != "None"]
    if not costs:
        return None
    final = costs[-1][1]
    settled = len(costs) - 1
    while settled > 0 and costs[settled - 1][1] == final:
        settled -= 1
    return costs[settled][0]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "# DCOP benchmark (`bench/dcop.py`)", "",
        f"{result['when']}, {result['machine']}. Medians over seeds; gap to the HiGHS MIP optimum "
        "(`*`: not proven within 120 s, gap measured to the MIP's dual bound, so an upper bound on the true gap).",
        "", "| instance | algorithm | median gap | cost (median) | cycles | messages | wall s | CPU s | "
        "status | pyDCOP (issue 13) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = list(dict.fromkeys(r["instance"] for r in rows))
    for label in labels:
        for algorithm in ALGORITHMS:
            runs = [r for r in rows if r["instance"] == label and r["algorithm"] == algorithm]
            done = [r for r in runs if "refused" not in r]
            if not done:
                lines.append(f"| {label} | {algorithm} | refused (memory limit) | | | | | | | {PYDCOP[algorithm]} |")
                continue
            star = "*" if any(r["gap_vs_bound"] for r in done) else ""
            gaps = [100 * r["gap"] for r in done if r["gap"] is not None]
            statuses = ", ".join(sorted({r["status"] for r in done}))
            peer = PYDCOP[algorithm] if label.startswith("random") and int(label.split()[1]) <= 100 else ""
            lines.append(
                f"| {label} | {algorithm} | {_median(gaps):.2f} %{star} | {_median([r['cost'] for r in done]):.0f} | "
                f"{_median([r['cycles'] for r in done]):.0f} | {_median([r['messages'] for r in done]):.0f} | "
                f"{_median([r['wall_s'] for r in done]):.2f} | {_median([r['cpu_s'] for r in done]):.2f} | "
                f"{statuses} | {peer} |")
    if result.get("mqtt"):
        when = f" (measured {result['mqtt_when']}, not re-run)" if result.get("mqtt_when") else ""
        lines += ["", f"## Over MQTT, one `edge-agent agent` process per DCOP agent (50 agents){when}", "",
                  "| algorithm | constraints | cost | same as in process | cycles | messages | run s | "
                  "incl. starting 50 processes s | in process s |", "|---|---|---|---|---|---|---|---|---|"]
        for m in result["mqtt"]:
            lines.append(f"| {m['algorithm']} | {m['constraints']} | {m['cost']:.0f} | {m['same_as_in_process']} | "
                         f"{m['cycles']} | {m['messages']} | {m['run_s']:.2f} | {m['with_processes_s']:.1f} | "
                         f"{m['in_process_s']:.2f} |")
    lines += ["", "## pyDCOP", "", result["pydcop_note"], ""]
    if result.get("pydcop"):
        lines += _beside_pydcop(rows, result["pydcop"])
        lines += ["Every pyDCOP run:", "",
                  "| instance | seed | algorithm | gap | cost | status | messages | last change s "
                  "| run s (incl. start) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in result["pydcop"]:
            if "failed" in p:
                lines.append(f"| {p['instance']} | {p.get('seed', 1)} | {p['algorithm']} | failed: {p['failed']} "
                             "| | | | | |")
            else:
                last = p.get("last_change_s")
                lines.append(f"| {p['instance']} | {p.get('seed', 1)} | {p['algorithm']} | {100 * p['gap']:.2f} % | "
                             f"{p['cost']:.0f} | {p['status']} | {p['messages']} | "
                             f"{'' if last is None else f'{last:.2f}'} | {p['wall_s']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def _beside_pydcop(rows: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[str]:
    """Medians over the seeds, ours and pyDCOP's, and the same-run time ratios (per seed, then the median)."""
    lines = ["Beside ours, measured in the same run (medians over the seeds; DSA is variant B, p = 0.7 in both; "
             "ratios are per seed, pyDCOP's time over our wall time, then the median):", "",
             "| instance | algorithm | seeds | our gap | pyDCOP gap | our wall s | pyDCOP last change s | "
             "pyDCOP run s | ratio to its last change | ratio to its run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(p["instance"] for p in theirs):
        for algorithm in ("dsa", "mgm", "mgm2", "maxsum"):
            pairs = []
            for p in theirs:
                if p["instance"] != label or p["algorithm"] != algorithm or "failed" in p:
                    continue
                ours = [r for r in rows if r["instance"] == label and r["algorithm"] == algorithm
                        and r["seed"] == p.get("seed", 1) and "refused" not in r]
                if ours:
                    pairs.append((ours[0], p))
            failed = sum(1 for p in theirs if p["instance"] == label and p["algorithm"] == algorithm and "failed" in p)
            if not pairs:
                lines.append(f"| {label} | {algorithm} | 0 (pyDCOP failed {failed}) | | | | | | | |")
                continue
            lasts = [p["last_change_s"] for _, p in pairs if p.get("last_change_s") is not None]
            ratio_last = [p["last_change_s"] / o["wall_s"] for o, p in pairs if p.get("last_change_s") is not None]
            seeds = f"{len(pairs)}" + (f" (pyDCOP failed {failed})" if failed else "")
            lines.append(
                f"| {label} | {algorithm} | {seeds} | {_median([100 * o['gap'] for o, _ in pairs]):.2f} % | "
                f"{_median([100 * p['gap'] for _, p in pairs]):.2f} % | "
                f"{_median([o['wall_s'] for o, _ in pairs]):.2f} | {_median(lasts):.2f} | "
                f"{_median([p['wall_s'] for _, p in pairs]):.1f} | {_median(ratio_last):.1f}x | "
                f"{_median([p['wall_s'] / o['wall_s'] for o, p in pairs]):.0f}x |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mqtt", action="store_true")
    parser.add_argument("--pydcop", metavar="PYTHON", help="a Python with pyDCOP installed: run it beside ours")
    parser.add_argument("--pydcop-only", action="store_true", help="with --pydcop: add its runs to the results")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.pydcop_only:
        result = json.loads((RESULTS / "dcop.json").read_text(encoding="utf-8"))
        _add_pydcop(result, args.pydcop, args.quick)
        (RESULTS / "dcop.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        (RESULTS / "dcop.md").write_text(markdown(result), encoding="utf-8")
        print(markdown(result))
        return
    result = bench(args.quick)
    result["when"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["machine"] = f"{platform.machine()}, Python {platform.python_version()}"
    result["pydcop_note"] = PYDCOP_NOTE
    if args.pydcop:
        _add_pydcop(result, args.pydcop, args.quick)
    if args.mqtt:
        result["mqtt"] = mqtt_runs()
    elif not args.quick and (RESULTS / "dcop.json").exists():  # keep the last MQTT figures, saying when they are from
        before = json.loads((RESULTS / "dcop.json").read_text(encoding="utf-8"))
        if before.get("mqtt"):
            result["mqtt"] = before["mqtt"]
            result["mqtt_when"] = before.get("mqtt_when", before.get("when"))
    if args.quick:
        print(markdown(result))
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dcop.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "dcop.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


def _add_pydcop(result: dict[str, Any], python: str, quick: bool) -> None:
    optima = {(o["instance"], o["seed"]): o["cost"] for o in result["optima"] if o["proven"]}
    result["pydcop"] = pydcop_runs(python, quick, optima)
    result["pydcop_note"] = PYDCOP_RAN


PYDCOP_NOTE = ("pyDCOP's figures are those recorded in issue 13 (its thread mode on random binary DCOPs of 20-100 "
               "variables, domain 3, costs 0-100; its process mode failed at 20-30 agents).")

PYDCOP_RAN = (
    "pyDCOP 0.1.1 from PyPI, in a scratch environment (not a project dependency): it needs Python <= 3.7 "
    "(`collections.Iterable`, `time.clock` in its pulp), `pulp<2` and `pyyaml<6`: "
    "`/root/.pyenv/versions/3.7.16/bin/python -m venv /tmp/pydcop37 && /tmp/pydcop37/bin/pip install pydcop "
    "'pulp<2' 'pyyaml<6'`, then `bench/dcop.py --pydcop /tmp/pydcop37/bin/python` (both in one run; "
    "`--pydcop-only` re-runs pyDCOP alone against the stored results). Thread mode, its default parameters "
    "(DSA: variant B, p = 0.7, as ours), each run cut after "
    f"{PYDCOP_S} s (its local searches have no stop rule in this version), on every seed of the random instances "
    "up to 100 variables, written as extensional pyDCOP files, one agent per computation (its default `oneagent` "
    "distribution). Its gap is that of the assignment it returns (the last one; ours is the best one seen), against "
    "the same MIP optimum. 'last change' is the time, from its own run-metrics file, at which its cost last changed "
    "(it cannot know it then: it runs on until the cut); 'run' is the whole command, start-up included. Its "
    "randomness is not seeded: a second run of one instance gives another result. Issue 13's figures: " +
    ", ".join(f"{k}: {v}" for k, v in PYDCOP.items() if v != "-") + ".")

if __name__ == "__main__":
    main()
