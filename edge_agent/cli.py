"""The ``edge-agent`` command line. Logging is configured here and nowhere else."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from edge_agent.carrier.mqtt_options import redact_url
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.family import Plan, RunOptions, ScenarioModel
from edge_agent.ids import validate_id
from edge_agent.logs import configure_logging, end_status_line
from edge_agent.provision import add_provision_parser, run_provision
from edge_agent.results import RunReport, exit_code, worst_exit_code
from edge_agent.runtime import interrupts

# Each command imports what it runs (the registry and its families, the hosts) inside its function: an agent
# process (`edge-agent agent`) so loads no algorithm, no numpy and no solver until a message needs one
# (docs/lean-agents.md). `tests/unit/test_lean_agent.py` keeps it so.

__all__ = ["main"]

log = structlog.get_logger("edge_agent.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent", description="Distributed resource optimisation for device fleets."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log every round and run event (default: warnings and progress of long runs)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = _with_spawn(commands.add_parser("solve", help="run scenario file(s) and print the results"))
    solve.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO", help="scenario YAML file(s)")
    solve.add_argument("--carrier", choices=["inproc", "mqtt", "zenoh"], default="inproc",
                       help="inproc: one asyncio loop (default); mqtt: one OS process per participant over Mosquitto; "
                            "zenoh: one OS process per participant, Zenoh peers, no broker (extra: zenoh)")
    solve.add_argument("--broker", help="mqtt://host:port of an existing broker (default: start a private one)")
    solve.add_argument("--json", action="store_true", help="print the machine-readable result instead of a table")
    solve.add_argument("--out", type=Path, help="also write the JSON result to this file")
    solve.add_argument("--seed", type=int, default=None, help="seed for message-order shuffling and random choices")
    solve.add_argument("--shuffle", action="store_true", help="deliver ready messages in a seeded random order")
    solve.add_argument("--plot", type=Path, metavar="PNG", help="also draw the run's figure into this PNG file")

    agent = commands.add_parser("agent", help="run one device agent process (until SIGTERM/SIGINT)")
    agent.add_argument("--config", type=Path, required=True, help="device configuration YAML")
    agent.add_argument("--broker", help="mqtt://host:port, overrides the configuration's broker")
    _agent_options(agent)

    coordinator = commands.add_parser("coordinator", help="run the coordinator service (until SIGTERM/SIGINT)")
    coordinator.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    coordinator.add_argument("--prefix", default="edge", help="topic prefix of the fleet")
    coordinator.add_argument("--operators", default="operator", metavar="IDS",
                             help="comma-separated ids that may submit jobs (default: operator)")
    _metrics_option(coordinator)


    submit = commands.add_parser("submit", help="send job(s) to a running coordinator service and print the results")
    submit.add_argument("job_file", type=Path, metavar="JOB", help="job YAML: one job, or `jobs: [...]`")
    submit.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    submit.add_argument("--prefix", default="edge", help="topic prefix of the fleet")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each job's result")
    submit.add_argument("--json", action="store_true", help="print the results as JSON lines")

    schedule = commands.add_parser(
        "schedule", help="run a scheduling scenario's task agents against compute nodes already on a broker")
    schedule.add_argument("scenario", type=Path, metavar="SCENARIO", help="scheduling scenario YAML")
    schedule.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    schedule.add_argument("--prefix", default="edge", help="topic prefix of the fleet")
    schedule.add_argument("--json", action="store_true", help="print the machine-readable result instead of a table")
    schedule.add_argument("--plot", type=Path, metavar="PNG", help="draw the final schedules (Gantt chart)")
    schedule.add_argument("--serve", action="store_true",
                          help="after the timeline, keep re-placing the tasks of nodes that go down, until SIGTERM")

    fleet = commands.add_parser("fleet", help="emulated fleets: one process per device on a broker")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    up = _with_spawn(fleet_commands.add_parser("up", help="start the fleet, run its jobs, print results, tear it down"))
    up.add_argument("fleet_file", type=Path, metavar="FLEET", help="fleet YAML file")
    up.add_argument("--broker", help="mqtt://host:port of an existing broker (default: start a private one)")
    up.add_argument("--carrier", choices=["mqtt", "inproc", "zenoh"], default="mqtt",
                    help="mqtt: one process per device (default); inproc: the same jobs in this process; zenoh: one "
                         "process per device as Zenoh peers, the coordinator in this process (extra: zenoh)")
    up.add_argument("--json", action="store_true", help="print the results as a JSON list instead of tables")
    up.add_argument("--plot", type=Path, metavar="PNG", help="draw the convergence of every job into this PNG")
    up.add_argument("--dashboard", action="store_true",
                    help="also start the dashboard, print its address, and keep the fleet up after the jobs "
                         "until Ctrl-C")
    up.add_argument("--dashboard-port", type=_port, default=8050, metavar="P", help="its HTTP port (default 8050)")

    for add in (_add_host, _add_experiment, _add_dashboard, _add_ros2_bridge, add_provision_parser):
        add(commands)

    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument("--out", type=Path, help="write the schema to this file instead of stdout")
    return parser


def _agent_options(agent: argparse.ArgumentParser) -> None:
    agent.add_argument("--carrier", choices=["mqtt", "zenoh"],
                       help="overrides the configuration's carrier (zenoh: its `zenoh:` block; docs/zenoh.md)")
    _metrics_option(agent)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return port


def _add_host(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    host = commands.add_parser(
        "host", help="run many device agents in this process, each on its own MQTT connection (until SIGTERM/SIGINT)")
    host.add_argument("--configs", type=Path, required=True, metavar="DIR",
                      help="folder of device configuration files (*.yaml), all checked before any connects")
    host.add_argument("--broker", help="mqtt://host:port, overrides every configuration's broker")


def _add_dashboard(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="serve a live web page of a fleet: devices, runs, convergence (extra: dashboard)")
    dashboard.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                           help="mqtt://[user@]host:port (a user: the provisioned dashboard role)")
    dashboard.add_argument("--prefix", default="edge", help="topic prefix of the fleet")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=_port, default=8050, help="HTTP port (default 8050; 0: any free port)")
    _metrics_option(dashboard)


def _with_spawn(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--spawn", choices=["exec", "fork"], default="exec",
                         help="how agent processes start: exec, a new interpreter each (default); fork, from one "
                              "pre-imported fork server (fast fleet start; docs/lean-agents.md)")
    return command


def _metrics_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--metrics-port", type=_port, metavar="P",
                         help="serve Prometheus metrics on 127.0.0.1:P/metrics (extra: metrics; docs/dashboard.md)")


def _add_experiment(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Options left out keep each experiment's defaults (scheduling: ``ExperimentGrid``, the paper's grid, 1
    resource, horizon 200 h, window [0, 24] h, 5 repetitions; rcdcop: ``Experiment``, 10 seeds, 20 rounds),
    imported only when the experiment runs."""
    experiment = commands.add_parser(
        "experiment", help="run a computational experiment in process, print its summary, write results and figures",
        description="scheduling: the paper's grid (tasks 5..25, durations 2..6 h, widths 3..12 h), 1 resource, "
                    "horizon 200 h, favourable times in [0, 24] h, 5 repetitions, seed 0 "
                    "(docs/scheduling-experiment.md). rcdcop: seed 003's tables 1 and 2 on chain and binary "
                    "feeders, 10 seeds (--repeats), 20 dynamic rounds (docs/rcdcop.md).")
    experiment.add_argument("experiment", choices=["scheduling", "rcdcop"], metavar="NAME",
                            help="scheduling: seed 002's grid, active vs passive task agents; rcdcop: seed 003's "
                                 "orderings (sum/max, greedy/center, dynamic rules)")
    experiment.add_argument("--repeats", type=int, metavar="N", help="repetitions (rcdcop: seeds) of every case")
    experiment.add_argument("--seed", type=int, help="base seed")
    experiment.add_argument("--out", type=Path, default=None, metavar="DIR",
                            help="directory of the JSON, markdown and PNG results (default out/NAME-experiment)")
    scheduling = experiment.add_argument_group("scheduling only")
    scheduling.add_argument("--resources", type=int, metavar="R", help="compute nodes")
    scheduling.add_argument("--horizon", type=float, metavar="H", help="schedule horizon [0, H] in hours")
    scheduling.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"),
                            help="favourable completion times are uniform on [LO, HI] hours")
    scheduling.add_argument("--tasks", type=int, nargs="+", metavar="N", help="numbers of tasks")
    scheduling.add_argument("--durations", type=float, nargs="+", metavar="D", help="task durations in hours")
    scheduling.add_argument("--widths", type=float, nargs="+", metavar="W", help="satisfaction widths in hours")
    rcdcop = experiment.add_argument_group("rcdcop only")
    rcdcop.add_argument("--rounds", type=int, metavar="R", help="dynamic rounds on each tree (default 20)")
    rcdcop.add_argument("--supply-ratio", type=float, metavar="F", help="total supply / total demand (default 0.4)")
    rcdcop.add_argument("--capacity", type=int, nargs=2, metavar=("LO", "HI"),
                        help="link capacities uniform in LO..HI (default 4 8)")


_EXPERIMENT_OPTIONS = {"scheduling": ("resources", "horizon", "window", "tasks", "durations", "widths"),
                       "rcdcop": ("rounds", "supply_ratio", "capacity")}


def _solve(args: argparse.Namespace) -> int:
    from edge_agent.registry import load_scenario  # noqa: PLC0415  (see the imports)
    from edge_agent.runtime.host import run_over_mqtt, run_over_zenoh  # noqa: PLC0415
    from edge_agent.runtime.inproc import solve  # noqa: PLC0415

    if (args.json or args.out) and len(args.scenarios) > 1:
        raise ConfigError("--json and --out take a single scenario; run one scenario per call")
    scenarios = [load_scenario(path) for path in args.scenarios]  # validate all before running any
    for path in (args.out, args.plot):
        _writable(path)
    reports: list[RunReport] = []
    for path, scenario in zip(args.scenarios, scenarios, strict=True):
        options = RunOptions(run_id=uuid.uuid4().hex[:12], seed=args.seed, shuffle=args.shuffle)
        structlog.contextvars.bind_contextvars(run=options.run_id, scenario=str(path))
        if args.carrier == "mqtt":
            reports.append(run_over_mqtt(_plan(scenario, str(path), options), args.broker, spawn=args.spawn))
        elif args.carrier == "zenoh":
            if args.broker:
                raise ConfigError("--broker is for --carrier mqtt; over Zenoh the agents are peers (no broker)")
            reports.append(run_over_zenoh(_plan(scenario, str(path), options), spawn=args.spawn))
        else:
            reports.append(interrupts.run(solve(scenario, options)))
        structlog.contextvars.clear_contextvars()
    _print_reports(reports, args.json, args.out)
    if args.plot:
        _plot(reports, args.plot)
    return worst_exit_code(r.status for r in reports)


def _writable(path: Path | None) -> None:
    """Create the folder of an output file before the run, so that no result is lost after it."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the folder of {path}: {error.strerror}") from None
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name")


def _plan(scenario: ScenarioModel, source: str, options: RunOptions) -> Plan:
    from edge_agent.registry import families, family_of  # noqa: PLC0415  (see the imports)

    family = family_of(scenario)
    if family.plan is None:
        over_mqtt = ", ".join(f.name for f in families() if f.plan is not None)
        raise ConfigError(f"--carrier mqtt runs the families {over_mqtt}; {family.name} runs in process only",
                          source=source)
    try:
        return family.plan(scenario, options)
    except ConfigError as error:
        raise ConfigError(str(error), source=source) from None


def _plot(reports: list[RunReport], path: Path) -> None:
    """Draws the runs' figure through their family (all runs of one family; most families draw one run)."""
    from edge_agent.registry import family_running  # noqa: PLC0415  (see the imports)

    named = {family_running(r.algorithm).name: family_running(r.algorithm) for r in reports}
    if len(named) != 1:
        raise ConfigError(f"--plot draws runs of one family at a time, not {', '.join(sorted(named))}")
    family = next(iter(named.values()))
    if family.figure is None:
        raise ConfigError(f"the {family.name} family draws no figure")
    family.figure(reports, path)
    print(f"figure written to {path}", file=sys.stderr)


def _print_reports(reports: list[RunReport], as_json: bool, out: Path | None) -> None:
    from edge_agent.report import format_report  # noqa: PLC0415  (see the imports)

    end_status_line()
    for index, report in enumerate(reports):
        payload = report.to_json()
        if out:
            out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        if as_json:
            print(json.dumps(payload))
        else:
            if index:
                print()
            print(format_report(report))


def _agent(args: argparse.Namespace) -> int:
    from edge_agent.runtime.agent import run_agent  # noqa: PLC0415  (see the imports)
    from edge_agent.runtime.device_config import load_device_config  # noqa: PLC0415

    config = load_device_config(args.config)
    if args.carrier is not None:
        config = config.model_copy(update={"carrier": args.carrier})
    interrupts.run(run_agent(config, args.broker, metrics_port=args.metrics_port))
    return 0


def _host(args: argparse.Namespace) -> int:
    from edge_agent.runtime.hosted import load_config_dir, run_host  # noqa: PLC0415  (only this command needs it)

    interrupts.run(run_host(load_config_dir(args.configs, args.broker), args.broker))
    return 0


def _coordinator(args: argparse.Namespace) -> int:
    from edge_agent.runtime.services import run_coordinator  # noqa: PLC0415  (see the imports)

    operators = [validate_id(name.strip(), "--operators id") for name in args.operators.split(",") if name.strip()]
    interrupts.run(run_coordinator(args.broker, args.prefix, operators=operators, metrics_port=args.metrics_port))
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    try:
        from edge_agent.dashboard import run_dashboard  # noqa: PLC0415  (the dashboard extra, only here)
    except ImportError as error:
        raise ConfigError(f"the dashboard needs its extra: pip install 'edge-agent[dashboard]' ({error})") from None

    def ready(url: str) -> None:
        print(f"dashboard: {url} (fleet {args.prefix!r} on {redact_url(args.broker)}); Ctrl-C to stop",
              file=sys.stderr, flush=True)

    interrupts.run(run_dashboard(args.broker, args.prefix, args.host, args.port, metrics_port=args.metrics_port,
                                 ready=ready))
    return 0


def _add_ros2_bridge(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bridge = commands.add_parser(
        "ros2-bridge", help="show the fleet to ROS 2 (Jazzy, rmw_zenoh) and take setpoints from it (extra: ros2)",
        description="Publishes device diagnostics, run progress and run results as ROS 2 topics on Zenoh in "
                    "rmw_zenoh's layout, and submits setpoints read on /edge_agent/setpoint as jobs (docs/ros2.md).")
    bridge.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                        help="mqtt://[user@]host:port of the fleet's broker (docs/ros2.md: brokers with users)")
    bridge.add_argument("--prefix", default="edge", help="topic prefix of the fleet")
    bridge.add_argument("--zenoh-connect", nargs="+", default=["tcp/localhost:7447"], metavar="ENDPOINT",
                        help="Zenoh endpoints to connect to (default tcp/localhost:7447, the rmw_zenohd router)")
    bridge.add_argument("--zenoh-listen", nargs="*", default=["tcp/localhost:0"], metavar="ENDPOINT",
                        help="Zenoh endpoints to listen on (default tcp/localhost:0; none: give the option alone)")
    bridge.add_argument("--domain-id", type=int, default=0, help="ROS_DOMAIN_ID of the ROS 2 graph (default 0)")
    bridge.add_argument("--period", type=float, default=1.0, metavar="S",
                        help="publish every device's diagnostics every S seconds (default 1)")
    bridge.add_argument("--job-timeout", type=float, default=600.0, metavar="S",
                        help="give up on a setpoint's job after S seconds (default 600)")


def _ros2_bridge(args: argparse.Namespace) -> int:
    try:
        from edge_agent.ros2 import BridgeOptions, Ros2Bridge, run_bridge  # noqa: PLC0415  (the ros2 extra, only here)
    except ImportError as error:
        raise ConfigError(f"the ROS 2 bridge needs its extra: pip install 'edge-agent[ros2]' ({error})") from None
    options = BridgeOptions(prefix=args.prefix, domain_id=args.domain_id, connect=tuple(args.zenoh_connect),
                            listen=tuple(args.zenoh_listen), period_s=args.period, job_timeout_s=args.job_timeout)

    def ready(bridge: Ros2Bridge) -> None:
        print(f"ros2-bridge: fleet {args.prefix!r} on {redact_url(args.broker)} -> ROS 2 domain {args.domain_id} "
              f"over Zenoh ({' '.join(args.zenoh_connect)}); setpoints on {bridge.setpoint_key}; Ctrl-C to stop",
              file=sys.stderr, flush=True)

    interrupts.run(run_bridge(args.broker, options, ready=ready))
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from edge_agent.algorithms.scheduling.plan import SchedulingPlan  # noqa: PLC0415  (see the imports)
    from edge_agent.algorithms.scheduling.scenario import SchedulingScenario  # noqa: PLC0415
    from edge_agent.registry import load_scenario  # noqa: PLC0415
    from edge_agent.runtime.agent import serve_until_signalled  # noqa: PLC0415
    from edge_agent.runtime.host import launch  # noqa: PLC0415

    scenario = load_scenario(args.scenario)
    if not isinstance(scenario, SchedulingScenario):
        raise ConfigError(f"schedule takes a scheduling scenario, not {scenario.algorithm!r}",
                          source=str(args.scenario))
    if scenario.failures:
        raise ConfigError("failures can only be played by `solve --carrier mqtt`, which starts (and kills) the node "
                          "processes; against running nodes a failure is a node really going down",
                          source=f"{args.scenario}: failures")
    serve = (lambda: serve_until_signalled("scheduler", broker=args.broker)) if args.serve else None
    report = interrupts.run(launch(SchedulingPlan(scenario, serve=serve), args.broker, args.prefix))
    _print_reports([report], args.json, out=None)
    if args.plot:
        _plot([report], args.plot)
    return exit_code(report.status)


def _submit(args: argparse.Namespace) -> int:
    from edge_agent.runtime.fleet import load_jobs, submit_jobs  # noqa: PLC0415  (see the imports)

    jobs = load_jobs(args.job_file)
    reports = interrupts.run(submit_jobs(jobs, args.broker, args.prefix, args.timeout,
                                         wait_for=sorted({p for job in jobs for p in job.participants})))
    _print_reports(reports, args.json, out=None)
    return worst_exit_code(r.status for r in reports)


def _fleet(args: argparse.Namespace) -> int:
    from edge_agent.runtime.fleet import (  # noqa: PLC0415  (see the imports)
        load_fleet,
        run_fleet,
        run_fleet_inproc,
        run_fleet_zenoh,
    )

    spec, devices = load_fleet(args.fleet_file)
    if args.carrier == "inproc":
        reports = interrupts.run(run_fleet_inproc(spec, devices))
    elif args.carrier == "zenoh":
        if args.broker or args.dashboard:
            raise ConfigError(f"{'--broker' if args.broker else '--dashboard'} is for --carrier mqtt; over Zenoh "
                              "the devices are peers (no broker) and the dashboard reads MQTT (docs/zenoh.md)")
        reports = run_fleet_zenoh(spec, devices, spawn=args.spawn)
    else:
        if args.dashboard:  # the results are printed while the fleet and its page stay up
            reports = run_fleet(spec, devices, args.broker, dashboard_port=args.dashboard_port,
                                hold=lambda reports: _hold(reports, args), spawn=args.spawn)
            return worst_exit_code(r.status for r in reports)
        reports = run_fleet(spec, devices, args.broker, spawn=args.spawn)
    end_status_line()
    if args.json:
        print(json.dumps([r.to_json() for r in reports]))
    else:
        _print_reports(reports, as_json=False, out=None)
    if args.plot:
        _plot(reports, args.plot)
    return worst_exit_code(r.status for r in reports)


def _hold(reports: list[RunReport], args: argparse.Namespace) -> None:
    """``fleet up --dashboard``: the results now, then the fleet and its dashboard stay up until Ctrl-C."""
    if args.json:
        print(json.dumps([r.to_json() for r in reports]), flush=True)
    else:
        _print_reports(reports, as_json=False, out=None)
    if args.plot:
        _plot(reports, args.plot)
    print(f"the fleet and its dashboard (http://127.0.0.1:{args.dashboard_port}/) stay up; Ctrl-C to stop",
          file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:  # the way this ends (Ctrl-C, SIGTERM): taken here, not an interruption
        interrupts.take_stop()
        print("stopping the fleet", file=sys.stderr, flush=True)


def _experiment(args: argparse.Namespace) -> int:
    """``experiment NAME``: in process; summary on stdout, files in ``--out`` (default out/NAME-experiment)."""
    for name, options in _EXPERIMENT_OPTIONS.items():
        given = [f"--{o.replace('_', '-')}" for o in options if getattr(args, o) is not None]
        if name != args.experiment and given:
            raise ConfigError(f"{', '.join(given)}: an option of the {name} experiment, not of {args.experiment}")
    out = args.out if args.out is not None else Path(f"out/{args.experiment}-experiment")
    written = _rcdcop_experiment(args, out) if args.experiment == "rcdcop" else _scheduling_experiment(args, out)
    for path in written:
        print(f"written: {path}", file=sys.stderr)
    return 0


def _scheduling_experiment(args: argparse.Namespace, out: Path) -> list[Path]:
    from edge_agent import scheduling_experiment as experiment  # noqa: PLC0415  (not loaded by agent processes)

    given = {name: getattr(args, name) for name in ("repeats", "resources", "horizon", "seed")}
    given |= {name: tuple(getattr(args, name)) for name in ("tasks", "durations", "widths", "window")
              if getattr(args, name) is not None}
    try:
        grid = experiment.ExperimentGrid(**{name: value for name, value in given.items() if value is not None})
    except ConfigError as error:  # named after the field, which is the option's name
        raise ConfigError(f"--{error}") from None

    async def run() -> tuple[list[experiment.RunRecord], dict[str, dict[str, Any]]]:
        return await experiment.run_grid(grid), await experiment.representative_reports(grid)

    records, reports = interrupts.run(run())
    end_status_line()
    summary = experiment.summarise(grid, records)
    outputs = experiment.write_outputs(summary, records, out)
    figures = experiment.write_figures(summary, reports, out)
    print(experiment.markdown_report(summary))
    return [outputs.json, outputs.markdown, *figures]


def _rcdcop_experiment(args: argparse.Namespace, out: Path) -> list[Path]:
    from edge_agent import rcdcop_experiment as rc  # noqa: PLC0415  (not loaded by agent processes)

    given = {"repeats": args.repeats, "seed": args.seed, "rounds": args.rounds, "supply_ratio": args.supply_ratio,
             "capacity": tuple(args.capacity) if args.capacity is not None else None}
    experiment = rc.Experiment(**{name: value for name, value in given.items() if value is not None})
    single, dynamic = interrupts.run(rc.run(experiment))
    end_status_line()
    print(rc.tables(experiment, single, dynamic))
    return rc.write(experiment, single, dynamic, out)


def _schema(args: argparse.Namespace) -> int:
    from edge_agent.registry import scenario_schema  # noqa: PLC0415  (see the imports)

    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if args.out:
        _writable(args.out)
        args.out.write_text(text, encoding="utf-8")
        print(f"JSON Schema of scenario files written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    if threading.current_thread() is threading.main_thread():
        # Started in the background by a script, a command inherits SIGINT ignored; asyncio then sets no handler
        # for it and the SIGINT that SIGTERM/SIGHUP become would be lost: edge-agent always stops on SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, interrupts.stop_signal)
    try:
        commands = {"solve": _solve, "schema": _schema, "agent": _agent, "host": _host, "coordinator": _coordinator,
                    "submit": _submit, "schedule": _schedule, "fleet": _fleet, "experiment": _experiment,
                    "provision": run_provision, "dashboard": _dashboard,
                    "ros2-bridge": _ros2_bridge}
        code = commands[args.command](args)
    except ConfigError as error:
        end_status_line()
        print(f"edge-agent: error: {error}", file=sys.stderr)
        return 2
    except EdgeAgentError as error:
        end_status_line()
        print(f"edge-agent: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(interrupts.take_stop() or signal.SIGINT)
    stop = interrupts.take_stop()  # one whose KeyboardInterrupt was lost (see interrupts): the command finished
    return code if stop is None else _interrupted(stop)


def _interrupted(received: signal.Signals) -> int:
    print(f"edge-agent: interrupted ({received.name}); everything it started was stopped", file=sys.stderr)
    return 128 + int(received)


if __name__ == "__main__":
    sys.exit(main())
