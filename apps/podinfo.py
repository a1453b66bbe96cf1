"""Two tiers: the podinfo web front end caching in Valkey, whose administration needs a password.

The password is one of the app's secrets (`appSecrets.podinfo.valkeyPassword`, generated when not
set). It reaches Valkey only inside its config file, rendered into the app's Secret, and the
readiness probe through REDISCLI_AUTH / VALKEYCLI_AUTH (the variables valkey-cli reads).

The front end deliberately carries no credential: podinfo logs its whole cache URL whenever the
cache is unreachable (pkg/api/http/cache.go), so a password in that URL would end up in pod logs.
Instead Valkey's `default` user, the one podinfo connects as, may run only the five commands
podinfo's cache uses, and the NetworkPolicy admits only the front end; everything else needs the
`admin` user and the password.
"""

from components.appspec import (
    AppSpec,
    ExecProbe,
    Exposure,
    HttpProbe,
    SecretFile,
    SecretSpec,
    Storage,
    TcpProbe,
    WorkloadSpec,
)

VALKEY_PORT = 6379

SPEC = AppSpec(
    name="podinfo",
    description="podinfo front end with a Valkey cache on a persistent volume.",
    secrets={
        "valkeyPassword": SecretSpec(length=32, description="Password of Valkey's admin user."),
    },
    secret_files={
        "valkey.conf": SecretFile(
            template=(
                "bind * -::*\n"
                f"port {VALKEY_PORT}\n"
                "dir /data\n"
                "appendonly yes\n"
                "user default on nopass resetkeys ~* resetchannels -@all "
                "+ping +get +set +exists +del\n"
                "user admin on >{valkeyPassword} ~* &* +@all\n"
            )
        ),
    },
    workloads=(
        WorkloadSpec(
            name="frontend",
            image="ghcr.io/stefanprodan/podinfo:6.9.2",
            port=9898,
            args=("./podinfo", f"--cache-server=tcp://valkey:{VALKEY_PORT}"),
            env={
                "PODINFO_UI_MESSAGE": "Hello from hybrid-kube",
                "PODINFO_UI_COLOR": "#34577c",
                "PODINFO_LEVEL": "info",
            },
            writable_paths=("/tmp", "/data"),
            readiness=HttpProbe(path="/readyz"),
            liveness=HttpProbe(path="/healthz"),
            talks_to=("valkey",),
            exposure=Exposure(),
        ),
        WorkloadSpec(
            name="valkey",
            image="valkey/valkey:8.1-alpine",
            port=VALKEY_PORT,
            port_name="valkey",
            args=("valkey-server", "/etc/valkey/valkey.conf"),
            secret_env={"REDISCLI_AUTH": "valkeyPassword", "VALKEYCLI_AUTH": "valkeyPassword"},
            secret_files={"valkey.conf": "valkey.conf"},
            secret_files_path="/etc/valkey",
            storage=Storage(size="1Gi", mount_path="/data"),
            readiness=ExecProbe(
                # As the admin user: proves the password in the config is the one in the Secret.
                command=("sh", "-c", "valkey-cli --user admin -h 127.0.0.1 ping | grep -q PONG")
            ),
            liveness=TcpProbe(),
            # One writer on one volume; replication would be a different app.
            singleton=True,
            replicas=1,
        ),
    ),
)
