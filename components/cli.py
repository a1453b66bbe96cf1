"""`hybrid-kube check|render <stack>`: inspect a stack offline, before any credentials exist.

    hybrid-kube check onprem-lab            validate; print a summary or every error (exit 1)
    hybrid-kube render onprem-lab           run the real program under Pulumi's mock engine and
                                            write everything it would deploy to render/onprem-lab/

Both end with the warnings a `pulumi up` would print (e.g. NetworkPolicies the target does not
enforce); warnings do not change the exit code.

Exit codes: 0 success, 1 invalid configuration or a failing program, 2 bad usage or no such stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import runpy
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pulumi
import yaml

from .cluster import Capabilities
from .settings import NAMESPACE, Settings, SettingsError, load_settings
from .settings.base import misspelled_namespace
from .settings.existing import ExistingSettings, without_cluster
from .stackfile import (
    PROJECT_ROOT,
    StackConfig,
    StackFileError,
    config_strings,
    load_stack,
    nested_strings,
    stack_names,
)

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Output cut short by a closed pipe (`hybrid-kube check x | head`)
    ends quietly, as the Python docs' "Note on SIGPIPE" in the signal module recommends."""
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INVALID
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    name = _stack_argument(parser, args)
    root = Path(args.project).resolve()
    try:
        stack = load_stack(name, root=root, stand_in_encrypted=True)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    if not any(k.startswith(f"{NAMESPACE}:") or misspelled_namespace(k) for k in stack.file_keys):
        print(_no_configuration(stack, root), file=sys.stderr)
        return EXIT_INVALID
    problem = _catalog_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    if args.command == "check":
        with without_cluster():
            return _check(stack)
    if args.command == "preflight":
        return _preflight(stack, root, as_json=args.json, pin=args.pin_host_keys)
    with without_cluster():
        return _render(stack, root, Path(args.out) if args.out else root / "render" / name)


def _catalog_problem() -> str | None:
    """Why the app catalog (apps/) cannot be loaded: a bad declaration or two apps of one name
    is one line naming the file, not a traceback from inside the import."""
    try:
        import apps  # noqa: F401
    except ValueError as error:  # pydantic's ValidationError is a ValueError too
        return f"the app catalog (apps/) cannot be loaded: {error}"
    return None


def _stack_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The stack, given as `check onprem-lab` or, as pulumi spells it, `check -s onprem-lab`."""
    if args.stack and args.stack_option and args.stack != args.stack_option:
        parser.error(f"two stacks given ({args.stack} and -s {args.stack_option}); give one")
    name = args.stack or args.stack_option
    if not name:
        parser.error(f"a stack is required: hybrid-kube {args.command} <stack>")
    return name


def _no_configuration(stack: StackConfig, root: Path) -> str:
    """A stack file as `pulumi stack init` writes it: say what it needs rather than fail later."""
    from .stackfile import _stack_dir

    examples = ", ".join(f"{_stack_dir(root)}/Pulumi.{n}.yaml" for n in stack_names(root))
    return (
        f"error: stack {stack.stack} has no configuration yet (its file sets no {NAMESPACE}: "
        f"key); set at least {NAMESPACE}:target (aks, kubeadm or existing) and that target's "
        f"section, e.g. `pulumi config set -s {stack.stack} target existing`, or copy the "
        f"config: section of a shipped stack ({examples or 'none here'})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybrid-kube",
        description=(
            "Inspect a hybrid-kube stack: check and render work offline (no Pulumi CLI, cloud "
            "account or hosts); preflight reads the real environment, changing nothing."
        ),
    )
    parser.add_argument(
        "--project", default=str(PROJECT_ROOT), help="project folder (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stacks = ", ".join(stack_names()) or "none found"
    check = commands.add_parser(
        "check",
        help="validate a stack's configuration and summarise it",
        description="Validate stacks/Pulumi.<stack>.yaml; exit 1 listing every problem.",
    )
    _add_stack(check, stacks)
    render = commands.add_parser(
        "render",
        help="write every object, script and input the stack would deploy",
        description="Run the program under Pulumi's mock engine and write what it would deploy.",
    )
    _add_stack(render, stacks)
    render.add_argument("--out", help="output folder (default: render/<stack>)")
    preflight = commands.add_parser(
        "preflight",
        help="check the real environment (hosts, subscription, cluster) before `pulumi up`",
        description=(
            "Read-only checks of what the stack deploys to; exit 1 on any failed check. "
            "Progress goes to stderr, the findings to stdout."
        ),
    )
    _add_stack(preflight, stacks)
    preflight.add_argument("--json", action="store_true", help="print the findings as JSON")
    preflight.add_argument(
        "--pin-host-keys",
        action="store_true",
        help="kubeadm: write each host's SSH key as hostKey into the stack file",
    )
    return parser


def _add_stack(command: argparse.ArgumentParser, stacks: str) -> None:
    command.add_argument("stack", nargs="?", help=f"stack name ({stacks})")
    command.add_argument(
        "-s", "--stack", dest="stack_option", metavar="STACK", help="the same, as pulumi spells it"
    )


# -- check --------------------------------------------------------------------------------------


def _validate(stack: StackConfig) -> Settings | None:
    from apps import settings_catalog

    prefix = f"{NAMESPACE}:"
    raw = {k.removeprefix(prefix): v for k, v in stack.config.items() if k.startswith(prefix)}
    # A key under a misspelled namespace (`hybrid_kube:target`) goes in whole: the settings name it.
    raw |= {k: v for k, v in stack.config.items() if misspelled_namespace(k)}
    secret_keys = {k.removeprefix(prefix) for k in stack.secret_keys if k.startswith(prefix)}
    try:
        return load_settings(raw, settings_catalog(), secret_keys=secret_keys)
    except SettingsError as error:
        print(f"stacks/Pulumi.{stack.stack}.yaml: {error}", file=sys.stderr)
        return None


def _check(stack: StackConfig) -> int:
    settings = _validate(stack)
    if settings is None:
        return EXIT_INVALID
    for line in summary_lines(stack, settings):
        print(line)
    note = _assumption(settings, "checked")
    if note:
        print(f"note: {note}")
    return EXIT_OK


def _assumption(settings: Settings, done: str) -> str | None:
    """What an offline run assumed in place of a missing kubeconfig (existing target only)."""
    if settings.target != "existing":
        return None
    return (settings.existing or ExistingSettings()).assumption(done)


def summary_lines(stack: StackConfig, settings: Settings) -> list[str]:
    from apps import CATALOG

    from .network_policy import describe_target, network_policy_notice
    from .registries import registry_lines, unused_login_warnings
    from .settings.apps import config_lines, image_lines

    capabilities, program_warnings = cluster_capabilities(stack, settings)
    deployed = settings.deployed_apps(CATALOG)
    apps = list(deployed)
    platform = settings.platform
    addons = [
        k for k in ("ingress", "load_balancer", "metrics_server", "storage") if getattr(platform, k)
    ]
    lines = [
        f"stack {stack.stack}: valid",
        f"  target:             {settings.target}",
        f"  kubernetesVersion:  {settings.kubernetes_version}",
        f"  apps:               {', '.join(apps)}",
        f"  platform add-ons:   {', '.join(addons) or 'none'} (only where the target lacks them)",
        f"  NetworkPolicy:      {capabilities.network_policy if capabilities else 'unknown'}",
    ]
    section = settings.target_settings.model_dump(by_alias=True, exclude_none=True, mode="json")
    lines.append(f"  {settings.target}:")
    lines += ["    " + line for line in yaml.safe_dump(section, sort_keys=False).splitlines()]
    lines += config_lines(settings, CATALOG) + image_lines(settings, CATALOG)
    lines.append("  secrets:")
    lines += ["    " + line for line in _secret_lines(stack, settings, apps)]
    images = {name: [w.image for w in spec.workloads] for name, spec in deployed.items()}
    lines.append("  registries:")
    lines += ["    " + line for line in registry_lines(settings, images, stack=stack.stack)]
    notice = network_policy_notice(
        capabilities.network_policy if capabilities else "unknown", describe_target(settings)
    )
    unused = unused_login_warnings(settings, [i for refs in images.values() for i in refs])
    lines += _warning_lines(
        [*settings.warnings, *unused, *program_warnings, *filter(None, [notice])]
    )
    return lines


def _warning_lines(warnings: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(warnings))
    return ["warnings:", *(f"  - {w}" for w in unique)] if unique else []


def cluster_capabilities(
    stack: StackConfig, settings: Settings
) -> tuple[Capabilities | None, list[str]]:
    """What the stack's cluster guarantees, read from the cluster object the program builds.

    The target's component (the same `create_cluster` as `pulumi up`) is built under the mock
    engine: no credentials, hosts or network, well under a second. Returns its `capabilities`
    (None when it cannot be built offline; the reason is among the warnings) and the warnings
    it logged.
    """
    from .recording import run_program
    from .targets import create_cluster

    built: list[Any] = []
    with captured_warnings() as warnings:
        try:
            run_program(
                lambda: built.append(create_cluster(settings)),
                stack.config,
                stack.secret_keys,
                project=stack.project,
                stack=stack.stack,
            )
        except Exception as error:  # reported as a warning; `render` shows the full failure
            warnings.append(f"the cluster could not be evaluated offline: {error}")
    return (built[0].capabilities if built else None), warnings


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect what the program logs with `pulumi.log.warn` (the mock engine's root logger)."""
    found: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "root":  # the engine's; not a library's own logger
                found.append(record.getMessage())

    handler = _Collect(level=logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield found
    finally:
        root.removeHandler(handler)


def _secret_lines(stack: StackConfig, settings: Settings, apps: list[str]) -> list[str]:
    from apps import CATALOG

    encrypted = set(stack.encrypted)
    lines = []
    if settings.target == "kubeadm":
        key = f"{NAMESPACE}:sshPrivateKey"
        if key in encrypted:
            lines.append("sshPrivateKey: set (encrypted)")
        elif settings.kubeadm and settings.kubeadm.ssh.private_key_path:
            lines.append(f"sshPrivateKey: from file {settings.kubeadm.ssh.private_key_path}")
        else:
            lines.append(
                "sshPrivateKey: not set, the SSH agent will be used; to set it: "
                f"pulumi config set -s {stack.stack} --secret sshPrivateKey < ~/.ssh/id_ed25519"
            )
    for app in apps:
        for name in sorted(CATALOG[app].secrets):
            configured = name in settings.app_secrets.get(app, {})
            state = "set (encrypted)" if configured else "not set, generated on first deploy"
            lines.append(
                f"appSecrets.{app}.{name}: {state}; to set it: pulumi config set -s "
                f"{stack.stack} --secret --path 'appSecrets.{app}.{name}' <value>"
            )
    return lines or ["none needed"]


# -- preflight ----------------------------------------------------------------------------------


def _preflight(stack: StackConfig, root: Path, as_json: bool, pin: bool) -> int:
    import importlib

    from .preflight import Finding, failed, report

    settings = _validate(stack)
    if settings is None:
        return EXIT_INVALID
    if pin and settings.target != "kubeadm":
        print("error: --pin-host-keys applies to kubeadm stacks only", file=sys.stderr)
        return EXIT_USAGE
    progress = report.stderr_progress()
    print(f"preflight of stack {stack.stack} (target {settings.target}) ...", file=sys.stderr)
    keys: dict[str, str] = {}
    if settings.target == "kubeadm":
        from .preflight import kubeadm

        findings, keys = kubeadm.collect(settings, stack, progress, root)
    else:
        name = f"{__package__}.preflight.{settings.target}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise  # the module exists but something it imports does not
            module = None
        if module is None:
            findings = [
                Finding(
                    f"{settings.target}.available",
                    settings.target,
                    "fail",
                    f"no preflight checks for target {settings.target} in this version",
                    "run `hybrid-kube check` and `pulumi preview` instead",
                )
            ]
        else:
            findings = module.run(settings, stack.stack, progress)
    if pin:
        findings += _pin(stack, root, keys)
    print(report.as_json(findings) if as_json else "\n".join(report.text_lines(findings)))
    return EXIT_INVALID if failed(findings) else EXIT_OK


def _pin(stack: StackConfig, root: Path, keys: dict[str, str]) -> list:
    from .preflight import Finding
    from .preflight.kubeadm import PinError, pin_host_keys
    from .stackfile import _stack_dir

    path = root / _stack_dir(root) / f"Pulumi.{stack.stack}.yaml"
    try:
        changed = pin_host_keys(path, keys)
    except PinError as error:
        return [Finding("ssh.pin", "stack file", "fail", str(error), error.fix)]
    written = ", ".join(changed) or "none (the reachable hosts were pinned already)"
    return [
        Finding(
            "ssh.pin", path.name, "ok",
            f"hostKey written for: {written}; hosts whose key was not read are left as they are",
        )
    ]  # fmt: skip


# -- render -------------------------------------------------------------------------------------


def _render(stack: StackConfig, root: Path, out: Path) -> int:
    from .recording import run_program
    from .render import render

    started = time.perf_counter()
    print(f"checking stacks/Pulumi.{stack.stack}.yaml ...")
    settings = _validate(stack)
    if settings is None:
        return EXIT_INVALID
    note = _assumption(settings, "rendered")
    if note:
        print(f"  {note}")
    if not (root / "__main__.py").is_file():
        print(f"error: {root} has no __main__.py: not a hybrid-kube project", file=sys.stderr)
        return EXIT_USAGE
    if stack.encrypted:
        print(f"  encrypted values replaced by placeholders: {', '.join(stack.encrypted)}")
    print("running the program under Pulumi's mock engine (no CLI, no network, no credentials) ...")
    errors: list[BaseException] = []

    def program() -> None:
        try:
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")
        except pulumi.RunError as error:
            errors.append(error)

    with captured_warnings() as warnings:
        recording = run_program(
            program, stack.config, stack.secret_keys, project=stack.project, stack=stack.stack
        )
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return EXIT_INVALID
    mask = _secret_strings(stack)
    result = render(
        recording,
        out,
        title=f"hybrid-kube render: stack {stack.stack}",
        mask=mask,
        warnings=warnings,
    )
    print(f"  {len(recording.resources)} resources declared")
    for what, count in result.counts.items():
        print(f"  {what:<20}{count}")
    print(
        f"wrote {len(result.files)} files to {_relative(out)} in "
        f"{time.perf_counter() - started:.1f}s; start with {_relative(out / 'summary.md')}"
    )
    for line in _warning_lines(result.notices):
        print(line)
    return EXIT_OK


def _secret_strings(stack: StackConfig) -> set[str]:
    """Every string inside the stack's secret config values, to be masked wherever it appears."""
    found: set[str] = set()
    for key in stack.secret_keys:
        text = stack.config.get(key, "")
        if key == f"{NAMESPACE}:registries":
            # The engine marks the whole object secret once one password in it is; the hosts and
            # user names are not secret, and masking them would garble every image reference.
            strings = registry_passwords(text)
        else:
            strings = config_strings(text)
        found.update(s for s in strings if not s.startswith("(secret"))
    return found


def registry_passwords(text: str) -> list[str]:
    """The passwords in the engine's `registries` value (JSON host -> {username, password})."""
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    if not isinstance(value, dict):
        return list(nested_strings(value))
    found: list[str] = []
    for login in value.values():
        # A login of another shape is refused by the settings; mask all of it meanwhile.
        shown = login.get("password") if isinstance(login, dict) else login
        found += nested_strings(shown)
    return found


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
