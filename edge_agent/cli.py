"""The ``edge-agent`` command line. Logging is configured here and nowhere else."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog

from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.logs import configure_logging
from edge_agent.report import format_report
from edge_agent.results import RunReport
from edge_agent.scenario import RunOptions, load_scenario, scenario_schema

__all__ = ["main"]

log = structlog.get_logger("edge_agent.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent", description="Distributed resource optimisation for device fleets."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log every round and run event (default: warnings and progress of long runs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = commands.add_parser("solve", help="run scenario file(s) and print the results")
    solve.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO", help="scenario YAML file(s)")
    solve.add_argument("--carrier", choices=["inproc"], default="inproc",
                       help="how participants talk: inproc = one asyncio loop (default)")
    solve.add_argument("--json", action="store_true", help="print the machine-readable result instead of a table")
    solve.add_argument("--out", type=Path, help="also write the JSON result to this file")
    solve.add_argument("--seed", type=int, default=None, help="seed for message-order shuffling and random choices")
    solve.add_argument("--shuffle", action="store_true", help="deliver ready messages in a seeded random order")

    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument("--out", type=Path, help="write the schema to this file instead of stdout")
    return parser


def _solve(args: argparse.Namespace) -> int:
    if (args.json or args.out) and len(args.scenarios) > 1:
        raise ConfigError("--json and --out take a single scenario; run one scenario per call")
    scenarios = [load_scenario(path) for path in args.scenarios]  # validate all before running any
    reports: list[RunReport] = []
    for path, scenario in zip(args.scenarios, scenarios, strict=True):
        options = RunOptions(run_id=uuid.uuid4().hex[:12], seed=args.seed, shuffle=args.shuffle)
        structlog.contextvars.bind_contextvars(run=options.run_id, scenario=str(path))
        reports.append(asyncio.run(scenario.run(options)))
        structlog.contextvars.clear_contextvars()
    for index, report in enumerate(reports):
        payload = report.to_json()
        if args.out:
            args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        if args.json:
            print(json.dumps(payload))
        else:
            if index:
                print()
            print(format_report(report))
    return 0 if all(r.status == "converged" for r in reports) else 3


def _schema(args: argparse.Namespace) -> int:
    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return {"solve": _solve, "schema": _schema}[args.command](args)
    except ConfigError as error:
        print(f"edge-agent: error: {error}", file=sys.stderr)
        return 2
    except EdgeAgentError as error:
        print(f"edge-agent: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edge-agent: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
