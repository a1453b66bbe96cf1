"""Running a script from `scripts/` on a host: one `pulumi_command.remote.Command` per step.

Every command is `sudo -n bash -s -- create` (or `-- delete`), and its standard input is
`preamble + lib.sh + <step>.sh`, where the preamble assigns the step's variables, each quoted with
`shlex.quote`. So:

- secrets (tokens, keys) travel only on stdin, never on a command line or in the environment
  (sshd drops environment variables unless AcceptEnv allows them);
- the stdin is an input of the resource: a changed script or value re-runs `create` (scripts are
  idempotent), and an unchanged program runs nothing;
- pulumi-command keeps the stdin in the state and hands it to `delete` as well, so a step's
  delete action is its script's `delete` function, run with the values it was created with.

Scripts are read once per process (`functools.cache`).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi
from pulumi_command import remote

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
LIBRARY = "lib.sh"
CREATE = "sudo -n bash -s -- create"
DELETE = "sudo -n bash -s -- delete"

SECRET_OUTPUTS = ["stdout", "stderr"]


@functools.cache
def script_text(name: str) -> str:
    """The text of `scripts/<name>`, read once."""
    return (SCRIPTS_DIR / name).read_text(encoding="utf-8")


def script_names() -> list[str]:
    return sorted(p.name for p in SCRIPTS_DIR.glob("*.sh"))


def render_stdin(script: str, values: Mapping[str, str]) -> str:
    """Preamble of quoted assignments, then the shared library, then the step's script."""
    for key in values:
        if not key.isidentifier() or key.upper() != key:
            raise ValueError(f"script variable {key!r} must be an UPPER_CASE shell name")
    preamble = "".join(f"{key}={shlex.quote(str(value))}\n" for key, value in values.items())
    return f"# hybrid-kube step: {script}\n{preamble}{script_text(LIBRARY)}\n{script_text(script)}"


def script_stdin(script: str, variables: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """`render_stdin` once every variable is known; secret if any variable is."""
    script_text(script)  # fail now, not inside an apply, if the script does not exist
    return pulumi.Output.all(**variables).apply(lambda values: render_stdin(script, values))


def host_command(
    name: str,
    *,
    connection: remote.ConnectionArgs,
    script: str,
    variables: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    destructive: bool = False,
    carries_secrets: bool = False,
    triggers: pulumi.Input[Sequence[str]] | None = None,
    protect: bool = False,
) -> remote.Command:
    """One step on one host.

    `destructive`: the script's `delete` action runs when the resource is deleted (kubeadm reset,
    drain), and a replacement deletes the old one first (`delete_before_replace`).
    `carries_secrets`: the stdin holds secrets; output is not logged and stored only as secret
    (the scripts redact anyway, this is the second line of defence).
    `protect`: Pulumi refuses to delete or replace the step (preview fails) until it is
    unprotected in the state; for the step whose delete would end the cluster.
    """
    return remote.Command(
        name,
        connection=connection,
        create=CREATE,
        delete=DELETE if destructive else None,
        stdin=script_stdin(script, variables),
        logging=remote.Logging.NONE if carries_secrets else remote.Logging.STDOUT_AND_STDERR,
        triggers=triggers,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            delete_before_replace=destructive,
            protect=protect,
            additional_secret_outputs=SECRET_OUTPUTS if carries_secrets else None,
        ),
    )
