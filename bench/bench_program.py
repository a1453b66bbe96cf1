"""Program cost, scale and the on-prem bring-up critical path, under Pulumi's mock engine.

    .venv/bin/python bench/bench_program.py            # full table (a few minutes on 2 cores)
    .venv/bin/python bench/bench_program.py --quick    # smaller sizes, fewer runs

For each scenario it runs the real `__main__.py` several times and reports the median, then a
*floor*: the very same resources (types, names, inputs) registered directly with the SDK, with no
program logic. `program / floor` is what hybrid-kube itself costs; per-resource cost must not grow
with size. For kubeadm stacks it also reports the bring-up critical path: the longest chain of
remote commands, from a bare host to every node joined.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

import apps  # noqa: E402
from components.appspec import AppSpec  # noqa: E402
from components.recording import Recording, run_program  # noqa: E402
from components.stackfile import load_stack  # noqa: E402

COMMAND = "command:remote:Command"


# -- scenarios ---------------------------------------------------------------------------------


def onprem_hosts(count: int, control_planes: int = 1) -> dict:
    """`count` hosts on 10.10.0.0/16, the first `control_planes` of them control planes."""
    hosts = [
        {
            "name": f"cp{i + 1}" if i < control_planes else f"w{i + 1 - control_planes}",
            "address": f"10.10.{(i + 11) // 250}.{(i + 11) % 250 + 1}",
            "role": "control-plane" if i < control_planes else "worker",
        }
        for i in range(count)
    ]
    kubeadm = {"hosts": hosts, "loadBalancerAddresses": ["10.20.0.1-10.20.0.50"]}
    if control_planes > 1:
        kubeadm["controlPlaneEndpoint"] = "10.20.1.1"
    return {"hybrid-kube:kubeadm": kubeadm, "hybrid-kube:apps": ["web", "podinfo"]}


def app_catalog(count: int) -> dict[str, AppSpec]:
    """`count` apps, alternating copies of the two sample apps under new names."""
    samples = list(apps.CATALOG.values())
    return {
        f"app{i:03d}": samples[i % len(samples)].model_copy(update={"name": f"app{i:03d}"})
        for i in range(count)
    }


def run_main(stack: str, overrides: dict, catalog: dict[str, AppSpec] | None) -> Recording:
    original = apps.CATALOG
    if catalog is not None:
        apps.CATALOG = catalog
        # The stack's own app settings name the sample apps; the copies run on their defaults.
        overrides = {**overrides, "hybrid-kube:apps": list(catalog), "hybrid-kube:appConfig": {}}
    try:
        config = load_stack(stack, overrides=overrides)
        return run_program(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            config.config,
            config.secret_keys,
            stack=stack,
        )
    finally:
        apps.CATALOG = original


# -- the floor: same resources, no program logic ----------------------------------------------


def floor(recording: Recording) -> Callable[[], None]:
    """A program that registers exactly `recording`'s resources straight through the SDK."""
    resources = [(r.type, r.name, r.custom, dict(r.inputs)) for r in recording.resources]

    def program() -> None:
        for type_, name, custom, inputs in resources:
            if type_.startswith("pulumi:providers:"):
                pulumi.ProviderResource(type_.rsplit(":", 1)[1], name, inputs)
            elif custom:
                pulumi.CustomResource(type_, name, inputs)
            else:
                pulumi.ComponentResource(type_, name).register_outputs({})

    return program


# -- critical path ------------------------------------------------------------------------------


def command_chains(recording: Recording) -> Callable[[str], tuple[int, tuple[str, ...]]]:
    """`chain(urn)`: the longest chain of remote commands ending at `urn`, through the dependency
    graph (any resource between two commands still orders them)."""
    by_urn = recording.by_urn()

    @cache
    def chain(urn: str) -> tuple[int, tuple[str, ...]]:
        resource = by_urn[urn]
        best: tuple[int, tuple[str, ...]] = (0, ())
        for dependency in resource.dependencies:
            if dependency in by_urn:
                candidate = chain(dependency)
                if candidate[0] > best[0]:
                    best = candidate
        if resource.type == COMMAND:
            return best[0] + 1, (*best[1], resource.name)
        return best

    sys.setrecursionlimit(10_000)
    return chain


def critical_paths(recording: Recording, workers: list[str]) -> dict[str, object]:
    """Longest chain overall, and longest from a bare host to a joined worker."""
    chain = command_chains(recording)
    overall = max((chain(r.urn) for r in recording.resources), default=(0, ()))
    joins = [
        r
        for r in recording.of_type(COMMAND)
        if r.name.endswith(tuple(f"-{w}-join" for w in workers))
    ]
    joined = max((chain(r.urn) for r in joins), default=(0, ()))
    return {
        "critical_path": overall[0],
        "chain": " > ".join(overall[1]),
        "to_joined_worker": joined[0],
        "join_chain": " > ".join(joined[1]),
    }


# -- measuring ----------------------------------------------------------------------------------


def median_seconds(function: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(label: str, stack: str, overrides: dict, catalog, runs: int) -> dict:
    recording = run_main(stack, overrides, catalog)
    program_s = median_seconds(lambda: run_main(stack, overrides, catalog), runs)
    floor_program = floor(recording)
    floor_s = median_seconds(lambda: run_program(floor_program, stack=stack), runs)
    count = len(recording.resources)
    row = {
        "scenario": label,
        "resources": count,
        "program_s": round(program_s, 3),
        "floor_s": round(floor_s, 3),
        "ratio": round(program_s / floor_s, 2),
        "program_us_per_resource": round(program_s / count * 1e6),
        "floor_us_per_resource": round(floor_s / count * 1e6),
    }
    commands = recording.of_type(COMMAND)
    if commands:
        kubeadm = overrides["hybrid-kube:kubeadm"]
        workers = [h["name"] for h in kubeadm["hosts"] if h["role"] == "worker"]
        row["commands"] = len(commands)
        row.update(critical_paths(recording, workers))
    return row


def _ensure_kubeconfig() -> None:
    """The `local` stack reads a kubeconfig; give it a throwaway one when the machine has none."""
    from components.settings.existing import default_kubeconfig_path

    if not default_kubeconfig_path().is_file():
        path = Path(tempfile.mkdtemp()) / "kubeconfig"
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: bench\nclusters: []\n"
            "contexts: []\nusers: []\n",
            encoding="utf-8",
        )
        os.environ["KUBECONFIG"] = str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 3 runs")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    host_sizes = (3, 30) if args.quick else (3, 30, 300)
    app_sizes = (1, 10) if args.quick else (1, 10, 50)

    _ensure_kubeconfig()
    rows = []
    scenarios = [(hosts, 1) for hosts in host_sizes] + [(30, 3)]
    for hosts, control_planes in scenarios:
        label = (
            f"on-prem, {hosts} hosts ({control_planes} control plane{'s' * (control_planes > 1)})"
        )
        rows.append(measure(label, "onprem-lab", onprem_hosts(hosts, control_planes), None, runs))
        print(json.dumps(rows[-1]), flush=True)
    for count in app_sizes:
        rows.append(
            measure(
                f"existing cluster, {count} app{'s' * (count > 1)}",
                "local",
                {},
                app_catalog(count),
                runs,
            )
        )
        print(json.dumps(rows[-1]), flush=True)

    print()
    print(
        "| scenario | resources | program s | floor s | program/floor | µs/resource (program) "
        "| µs/resource (floor) | remote commands | longest command chain | bare host to joined "
        "worker |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['scenario']} | {row['resources']} | {row['program_s']} | {row['floor_s']} "
            f"| {row['ratio']} | {row['program_us_per_resource']} | {row['floor_us_per_resource']} "
            f"| {row.get('commands', '-')} | {row.get('critical_path', '-')} "
            f"| {row.get('to_joined_worker', '-')} |"
        )
    for row in rows:
        if "chain" in row:
            print(
                f"\n{row['scenario']}\n  longest: {row['chain']}\n  to a joined worker: "
                f"{row['join_chain']}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
