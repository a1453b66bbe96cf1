"""Mutation testing on our own code: does the test suite notice a plausible careless change?

Each mutation below is one edit (file, exact old text, new text) and why someone might make it.
They are applied one at a time to a private copy of the working tree (never the tree itself), the
test suite is run against the copy, and the mutant is *killed* when a test fails, *survived* when
the suite passes. A mutation whose `old` text is not found exactly once is an *error* (the code
moved on: fix the list), never skipped.

    .venv/bin/python bench/mutate.py              # every mutation, then the score
    .venv/bin/python bench/mutate.py -k lib.sh    # only mutations whose id contains "lib.sh"
    .venv/bin/python bench/mutate.py --list       # the list, nothing run

Speed: a mutation may name `tests` that exercise it; those run first (`-x`), and only a mutant
they do not kill gets the whole suite (`pytest -x -q -p no:randomly -n 2`). A mutant is thus
reported survived only after the whole suite passed against it. Not part of the default pytest
run (it lives under bench/, outside `testpaths`).

EQUIVALENT lists mutants that cannot be killed because they change no behaviour, with the reason;
they are not in MUTATIONS and not in the score.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "render", "*.egg-info"
)
SUITE = [
    "-m",
    "pytest",
    "-x",
    "-q",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
    "-n",
    "2",
    # It checks that each mutation's text is in the tree, so it fails on every mutant.
    "--ignore=tests/test_mutation_list.py",
]


@dataclass(frozen=True)
class Mutation:
    file: str
    old: str
    new: str
    why: str
    tests: tuple[str, ...] = ()
    name: str = field(default="")

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name or self.why[:50]}"


S = "components/kubeadm/scripts/"
HOST = ("tests/test_host_scripts.py",)
SCRIPTS = ("tests/test_kubeadm_scripts.py", "tests/test_kubeadm_host_steps.py")
SECURITY = ("tests/test_security_defaults.py",)

MUTATIONS: tuple[Mutation, ...] = (
    # -- host scripts: shell options ---------------------------------------------------------------
    Mutation(S + "lib.sh", "set -Eeuo pipefail", "set -Eu", "errexit and pipefail dropped", HOST),
    Mutation(S + "lib.sh", "set -Eeuo pipefail", "set -Eeu", "pipefail dropped", HOST),
    Mutation(S + "lib.sh", "set -Eeuo pipefail", "set -Eeo pipefail", "nounset dropped", HOST),
    Mutation(S + "lib.sh", "set -Eeuo pipefail", "set -Euo pipefail", "errexit dropped", HOST),
    # -- host scripts: guards ----------------------------------------------------------------------
    Mutation(
        S + "init.sh",
        "    die \"/etc/kubernetes/pki/ca.crt exists and is not this stack's CA;",
        "    warn \"/etc/kubernetes/pki/ca.crt exists and is not this stack's CA;",
        "the foreign-CA refusal becomes a log line",
        HOST,
    ),
    Mutation(
        S + "init.sh",
        '  rm -f "$STATE_DIR/kubeadm-init.yaml" # it holds the token',
        '  : "$STATE_DIR/kubeadm-init.yaml" # it holds the token',
        "the init configuration (token, certificate key) stays after a successful init",
        HOST,
    ),
    Mutation(
        S + "init.sh",
        '    run_logged kubeadm-init-cleanup kubeadm reset -f || true\n    rm -f "$STATE_DIR/kubeadm-init.yaml"\n',  # noqa: E501
        "    run_logged kubeadm-init-cleanup kubeadm reset -f || true\n",
        "the init configuration stays after a failed init",
        HOST,
    ),
    Mutation(
        S + "join.sh",
        '  rm -f "$STATE_DIR/kubeadm-join.yaml"\n  log "$NODE_NAME joined as $ROLE"',
        '  log "$NODE_NAME joined as $ROLE"',
        "the join configuration (token, certificate key) stays after a successful join",
        HOST,
    ),
    Mutation(
        S + "join.sh",
        '    run_logged kubeadm-join-cleanup kubeadm reset -f || true\n    rm -f "$STATE_DIR/kubeadm-join.yaml"\n',  # noqa: E501
        "    run_logged kubeadm-join-cleanup kubeadm reset -f || true\n",
        "the join configuration stays after a failed join",
        HOST + SCRIPTS,
    ),
    Mutation(
        S + "join.sh",
        '    log "$NODE_NAME has already joined the cluster"\n    return 0\n',
        '    log "$NODE_NAME has already joined the cluster"\n',
        "the already-joined guard no longer returns (a joined host is joined, then reset)",
        HOST,
    ),
    Mutation(
        S + "lib.sh",
        'is_node() { [ -f "$KUBELET_KUBECONFIG" ]; }',
        'is_node() { [ -f "$ADMIN_KUBECONFIG" ]; }',
        "a node is recognised by admin.conf, which workers never have",
        HOST,
    ),
    Mutation(
        S + "admit.sh",
        "  trap remove_admit_file EXIT\n",
        "",
        "the admit file (token, certificate key) stays when kubeadm fails",
        SCRIPTS,
    ),
    Mutation(
        S + "init.sh",
        "    die \"kubeadm.cni is '$CNI', but this cluster runs",
        "    warn \"kubeadm.cni is '$CNI', but this cluster runs",
        "a changed pod network is only warned about",
        ("tests/test_kubeadm_day2.py",),
    ),
    Mutation(
        S + "init.sh",
        "    die \"this host initialised the cluster as '$name'",
        "    warn \"this host initialised the cluster as '$name'",
        "a renamed bootstrap host is only warned about",
        ("tests/test_kubeadm_day2.py",),
    ),
    Mutation(
        S + "lib.sh",
        "    systemctl start containerd\n",
        "    systemctl restart containerd\n",
        "containerd restarted on every prepare run, on every host at once",
        HOST,
    ),
    Mutation(
        S + "lib.sh",
        '  apt-mark hold "$@" >/dev/null\n',
        "",
        "Kubernetes packages left unheld (an apt upgrade moves the kubelet)",
        HOST,
    ),
    Mutation(
        S + "prepare.sh",
        "  apt-mark hold containerd.io >/dev/null\n",
        "",
        "containerd.io left unheld",
        HOST,
    ),
    Mutation(
        S + "prepare.sh",
        "disable_swap() {\n  swapoff -a\n",
        "disable_swap() {\n",
        "swap stays on until the next reboot",
        HOST,
    ),
    Mutation(
        S + "lib.sh",
        '  (umask 077 && : >"$logfile")\n',
        '  : >"$logfile"\n',
        "the kubeadm logs become world-readable",
        SCRIPTS,
    ),
    Mutation(
        S + "lib.sh",
        "s/[a-z0-9]{6}\\.[a-z0-9]{16}/<redacted-token>/g; ",
        "",
        "bootstrap tokens are no longer redacted",
        SCRIPTS,
    ),
    Mutation(
        S + "lib.sh",
        '  chmod "$mode" "$tmp"\n',
        '  chmod 0644 "$tmp"\n',
        "files with secrets written world-readable",
        SCRIPTS,
    ),
    Mutation(
        S + "node.sh",
        '        [ "$address" = "$own_ip" ] || return 1\n',
        '        [ "$address" = "$own_ip" ] || :\n',
        "a serving certificate for any address is approved (still ShellCheck-clean)",
        SCRIPTS,
    ),
    Mutation(
        S + "node.sh",
        "    die \"refusing to remove $NODE_NAME's etcd member",
        "    warn \"refusing to remove $NODE_NAME's etcd member",
        "a removal that costs etcd its quorum goes ahead",
        ("tests/test_kubeadm_day2.py",),
    ),
    Mutation(
        S + "node.sh",
        '  if [ "$NODE_NAME" = "$BOOTSTRAP_HOST" ]; then\n    log "$NODE_NAME is the bootstrap',
        '  if false; then\n    log "$NODE_NAME is the bootstrap',
        "the bootstrap host's node step drains and deletes it",
        HOST,
    ),
    Mutation(
        S + "upgrade-uncordon.sh",
        '  if [ "$(upgrade_lock_holder)" != "$NODE_NAME" ]; then',
        "  if false; then",
        "uncordons a node it did not drain (a hand-cordoned one)",
        HOST,
    ),
    Mutation(
        S + "lib.sh",
        '  others=$(other_schedulable_nodes "$node" 2>/dev/null) || others=unknown\n',
        '  others=$(other_schedulable_nodes "$node" 2>/dev/null) || others=0\n',
        "a failed node listing is taken as 'no other node' (cordon only, no drain)",
        HOST + SCRIPTS,
    ),
    # -- the program around the scripts ------------------------------------------------------------
    Mutation(
        "components/kubeadm/commands.py",
        'preamble = "".join(f"{key}={shlex.quote(str(value))}\\n" for key, value in values.items())',  # noqa: E501
        'preamble = "".join(f"{key}=\'{value}\'\\n" for key, value in values.items())',
        "values no longer shell-quoted",
        SCRIPTS,
    ),
    Mutation(
        "components/kubeadm/commands.py",
        "logging=remote.Logging.NONE if carries_secrets else remote.Logging.STDOUT_AND_STDERR,",
        "logging=remote.Logging.STDOUT_AND_STDERR,",
        "steps that carry secrets log their output",
        ("tests/test_kubeadm_cluster.py",),
    ),
    Mutation(
        "components/kubeadm/commands.py",
        "delete_before_replace=destructive,",
        "delete_before_replace=False,",
        "a replaced host is joined again before the old one is reset",
        ("tests/test_kubeadm_cluster.py", "tests/test_kubeadm_day2.py"),
    ),
    Mutation(
        "components/kubeadm/bootstrap.py",
        "        carries_secrets=True,\n        protect=True,\n",
        "        carries_secrets=True,\n        protect=False,\n",
        "the init step (whose delete ends the cluster) is not protected",
        ("tests/test_kubeadm_day2.py",),
    ),
    Mutation(
        "components/kubeadm/bootstrap.py",
        "parent=ctx.parent, protect=True, replace_on_changes",
        "parent=ctx.parent, protect=False, replace_on_changes",
        "the bootstrap identity is not protected",
        ("tests/test_kubeadm_day2.py",),
    ),
    Mutation(
        "components/kubeadm/join.py",
        "        # one (delete first) and join again.\n        triggers=[host.address, host.role],",
        "        # one (delete first) and join again.\n        triggers=[host.address],",
        "a role change does not re-join the host",
        ("tests/test_kubeadm_day2.py", "tests/test_kubeadm_cluster.py"),
    ),
    Mutation(
        "components/kubeadm/documents.py",
        '{"secretbox": {"keys": [{"name": "hybrid-kube-1", "secret": key_base64}]}},\n'
        '                    {"identity": {}},',
        '{"identity": {}},\n'
        '                    {"secretbox": {"keys": [{"name": "hybrid-kube-1", "secret": key_base64}]}},',  # noqa: E501
        "Secrets written unencrypted (identity first)",
        ("tests/test_kubeadm_documents.py", "tests/test_kubeadm_cluster.py"),
    ),
    # -- settings rules ----------------------------------------------------------------------------
    Mutation(
        "components/settings/kubeadm.py",
        "            if len(control_planes) % 2 == 0:",
        "            if len(control_planes) % 2 == 0 and len(control_planes) > 2:",
        "two control planes (no quorum after one failure) accepted",
        ("tests/test_kubeadm_settings.py", "tests/test_settings.py"),
    ),
    Mutation(
        "components/settings/kubeadm.py",
        "        if pod.overlaps(service):",
        "        if pod == service:",
        "overlapping pod and service networks accepted",
        ("tests/test_kubeadm_settings.py", "tests/test_settings.py"),
    ),
    Mutation(
        "components/settings/kubeadm.py",
        '        yield from _duplicates(list(enumerate(self.hosts)), "address")\n',
        "",
        "two hosts with one address accepted",
        ("tests/test_kubeadm_settings.py", "tests/test_settings.py"),
    ),
    # -- security defaults of the workloads --------------------------------------------------------
    Mutation(
        "components/workload.py",
        "default_mode=0o440,",
        "default_mode=0o444,",
        "mounted secret files world-readable",
        SECURITY,
    ),
    Mutation(
        "components/workload.py",
        "                    allow_privilege_escalation=False,",
        "                    allow_privilege_escalation=True,",
        "containers may gain privileges",
        ("tests/test_workload.py", "tests/test_stacks.py"),
    ),
    Mutation(
        "components/workload.py",
        '                    capabilities=CapabilitiesArgs(drop=["ALL"]),',
        "                    capabilities=CapabilitiesArgs(drop=[]),",
        "capabilities kept",
        ("tests/test_workload.py", "tests/test_stacks.py"),
    ),
    Mutation(
        "components/workload.py",
        "        automount_service_account_token=False,\n        enable_service_links=False,",
        "        automount_service_account_token=True,\n        enable_service_links=False,",
        "every pod gets an API token",
        ("tests/test_workload.py", "tests/test_stacks.py"),
    ),
    Mutation(
        "components/appspec.py",
        '    if tag.lower() in _MOVING_TAGS or tag.split("-", 1)[0].lower() in _MOVING_TAGS:',
        '    if tag.lower() == "latest":',
        "only `latest` counts as a moving tag (nginx:stable passes)",
        SECURITY,
    ),
    Mutation(
        "components/appspec.py",
        '    if tag is None:\n        raise ValueError(f"image {value!r} has no tag; {_PIN_ADVICE}")',  # noqa: E501
        "    if tag is None:\n        return value",
        "an image without a tag (latest) passes",
        SECURITY,
    ),
    Mutation(
        "components/appspec.py",
        r'_EXACT_RELEASE = re.compile(r"^v?\d+\.\d+\.\d+(?:[-_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")',
        r'_EXACT_RELEASE = re.compile(r"^v?\d+\.\d+(?:\.\d+)?(?:[-_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")',  # noqa: E501
        "a release line (nginx:1.27) counts as exact",
        SECURITY,
    ),
    Mutation(
        "components/appspec.py",
        '_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")',
        '_DIGEST = re.compile(r"sha256:.*")',
        "a malformed digest passes",
        SECURITY,
    ),
    Mutation(
        "components/secrets.py",
        "    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()",
        "    return hashlib.sha256(message).hexdigest()",
        "the Secret's rollout checksum becomes an unkeyed sha256 (offline password guessing)",
        SECURITY,
    ),
    # -- render ------------------------------------------------------------------------------------
    Mutation(
        "components/cli.py",
        "    mask = _secret_strings(stack)\n",
        "    mask: set[str] = set()\n",
        "render no longer masks configured secret values",
        ("tests/test_render_safety.py",),
    ),
    Mutation(
        "components/cli.py",
        '        print(f"error: {errors[0]}", file=sys.stderr)\n        return EXIT_INVALID',
        '        print(f"error: {errors[0]}", file=sys.stderr)\n        return EXIT_OK',
        "render exits 0 after the program failed",
        ("tests/test_render_safety.py",),
    ),
    # Known survivors: real hosts would show them, the harness cannot (yet).
    Mutation(
        S + "lib.sh",
        "export LC_ALL=C\n",
        "",
        "the C locale is dropped: on a host whose sshd/pam_env and sudo pass LANG through, tools "
        "print translated messages the scripts may parse; the harness runs steps with an empty "
        "environment, so it cannot see it",
        HOST,
        name="lib.sh: export LC_ALL=C removed",
    ),
    Mutation(
        S + "lib.sh",
        "umask 022\n",
        "umask 002\n",
        "files created by the programs the scripts run (kubeadm, dpkg maintainer scripts) become "
        "group-writable; the scripts' own files get explicit modes, and the stubs create none "
        "with the inherited umask, so the harness cannot see it",
        HOST,
        name="lib.sh: umask 022 -> 002",
    ),
    # -- own apps, per-stack settings and registry logins (issues 12 and 15) --
    Mutation(
        "components/registries.py",
        '    return pulumi.Output.secret(json.dumps({"auths": auths}, sort_keys=True))',
        '    return pulumi.Output.from_input(json.dumps({"auths": auths}, sort_keys=True))',
        "the pull Secret's document (registry passwords) is no longer a Pulumi secret",
        ("tests/test_registries.py", "tests/test_app_images.py"),
    ),
    Mutation(
        "components/workload.py",
        "        image_pull_secrets=[LocalObjectReferenceArgs(name=PULL_SECRET)] if pull_secret else None,",  # noqa: E501
        "        image_pull_secrets=None,",
        "pods stop naming the pull Secret (a private image never pulls)",
        ("tests/test_app_images.py", "tests/test_registries.py"),
    ),
    Mutation(
        "components/cli.py",
        "            strings = registry_passwords(text)",
        "            strings = config_strings(text)",
        "render masks registry user names (garbling image references) instead of only passwords",
        ("tests/test_cli.py",),
    ),
    Mutation(
        "components/settings/apps.py",
        "    return [key for key in _PLAIN_KEYS if key in raw and key in secret_keys]",
        "    return []",
        "an encrypted appConfig value is validated and echoed in an error message",
        ("tests/test_app_config.py",),
    ),
    Mutation(
        "components/settings/base.py",
        "        if spec.name in found:",
        "        if False:",
        "a copied app file that keeps name=web silently replaces the real web app",
        ("tests/test_mistakes.py",),
    ),
)

# Mutants that change no behaviour, so no test can kill them (not in MUTATIONS, not scored).
EQUIVALENT: tuple[tuple[str, str], ...] = (
    (
        "lib.sh: set -Eeuo pipefail -> set -euo pipefail (drop -E, errtrace)",
        "-E only makes an ERR trap apply inside functions and subshells; no script sets an ERR "
        "trap (admit.sh uses an EXIT trap), so nothing changes.",
    ),
)


def copy_tree(destination: Path) -> None:
    shutil.copytree(ROOT, destination, ignore=IGNORED, symlinks=True)


def apply(copy: Path, mutation: Mutation) -> str:
    """Apply to the copy; return the original text, or raise ValueError when `old` is not
    found exactly once."""
    path = copy / mutation.file
    text = path.read_text(encoding="utf-8")
    count = text.count(mutation.old)
    if count != 1:
        raise ValueError(f"`old` found {count} times in {mutation.file}")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
    return text


def pytest(copy: Path, *args: str, deselect: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """Run pytest in the copy; the exit code and the ids of the tests that failed."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [str(PYTHON), *SUITE, "-rfE", *args, *(f"--deselect={d}" for d in deselect)],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    failed = [
        line.split(" ", 1)[1].split(" - ", 1)[0]
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    if result.returncode not in (0, 1, 2) or (result.returncode and not failed):
        # Exit 2 is also what `-x` under xdist returns for a real failure, hence the FAILED lines:
        # a run that failed without naming a test (bad path, nothing collected, a crash) is not a
        # kill.
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        raise ValueError(f"pytest exited {result.returncode} without a failing test: {tail}")
    return result.returncode, failed


def run_one(
    copy: Path, mutation: Mutation, quick: bool = False, deselect: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """("killed" or "survived", the tests that failed)."""
    original = apply(copy, mutation)
    try:
        if mutation.tests:
            code, failed = pytest(copy, *mutation.tests, deselect=deselect)
            if code != 0:
                return "killed", failed
        if quick:
            return "survived", []
        code, failed = pytest(copy, deselect=deselect)
        return ("killed" if code != 0 else "survived"), failed
    finally:
        (copy / mutation.file).write_text(original, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only mutations whose id contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutations, run nothing")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run only each mutation's own tests (a survivor here is not a survivor of the suite)",
    )
    args = parser.parse_args(argv)
    # Stopped with SIGTERM: leave through the `with` below, so the copy is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    chosen = [m for m in MUTATIONS if args.k in m.id]
    if args.list:
        for m in chosen:
            text = (ROOT / m.file).read_text(encoding="utf-8")
            found = "" if text.count(m.old) == 1 else f"  [ERROR: old found {text.count(m.old)}x]"
            print(f"{m.id}{found}\n    why: {m.why}")
        print(f"{len(chosen)} mutations; equivalent (not scored): {len(EQUIVALENT)}")
        return 0
    results: dict[str, list[str]] = {"killed": [], "survived": [], "error": []}
    with tempfile.TemporaryDirectory(prefix="hybrid-kube-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        copy_tree(copy)
        baseline_failures: tuple[str, ...] = ()
        if not (args.no_baseline or args.quick):
            # The unmutated copy first, without -x: tests that already fail (someone's work in
            # progress in the tree) are left out of every mutant's run, and listed.
            started = time.perf_counter()
            code, failed = pytest(copy, "--maxfail=1000000")
            baseline_failures = tuple(failed)
            took = time.perf_counter() - started
            print(f"baseline: exit {code}, {len(failed)} failing ({took:.0f}s)")
            for name in failed:
                print(f"  already failing, left out: {name}")
            if code not in (0, 1):
                print("the unmutated suite cannot run on the copy; fix that first", file=sys.stderr)
                return 2
        for index, mutation in enumerate(chosen, 1):
            started = time.perf_counter()
            failed: list[str] = []
            try:
                outcome, failed = run_one(copy, mutation, args.quick, baseline_failures)
            except ValueError as error:
                outcome = "error"
                print(f"  error: {error}")
            results[outcome].append(mutation.id)
            took = time.perf_counter() - started
            by = f"  (by {failed[0]})" if failed else ""
            print(
                f"[{index}/{len(chosen)}] {outcome:<8} {took:5.0f}s  {mutation.id}{by}", flush=True
            )
    scored = len(results["killed"]) + len(results["survived"])
    score = 100 * len(results["killed"]) / scored if scored else 0.0
    print(
        f"\nkilled {len(results['killed'])} of {scored} ({score:.1f} %); "
        f"errors {len(results['error'])}; equivalent (not scored) {len(EQUIVALENT)}"
    )
    for name in results["survived"]:
        print(f"  survived: {name}")
    for name in results["error"]:
        print(f"  error:    {name}")
    for name, reason in EQUIVALENT:
        print(f"  equivalent: {name}: {reason}")
    return 1 if results["survived"] or results["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
