"""Two tiers: the podinfo web front end caching in Valkey, which requires a password.

The password is one of the app's secrets (`appSecrets.podinfo.valkeyPassword`, generated when not
set). It reaches both tiers only as files rendered into the app's Secret: Valkey's config
(`requirepass`) and podinfo's config (`cache-server` URL). The probe reads it from REDISCLI_AUTH /
VALKEYCLI_AUTH, the variables valkey-cli documents for exactly this.
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
    description="podinfo front end with a password-protected Valkey cache on a persistent volume.",
    secrets={
        "valkeyPassword": SecretSpec(length=32, description="Valkey `requirepass`."),
    },
    secret_files={
        "valkey.conf": SecretFile(
            template=(
                "bind * -::*\n"
                f"port {VALKEY_PORT}\n"
                "dir /data\n"
                "appendonly yes\n"
                "requirepass {valkeyPassword}\n"
            )
        ),
        "podinfo.yaml": SecretFile(
            template=f"cache-server: tcp://:{{valkeyPassword}}@valkey:{VALKEY_PORT}\n"
        ),
    },
    workloads=(
        WorkloadSpec(
            name="frontend",
            image="ghcr.io/stefanprodan/podinfo:6.9.2",
            port=9898,
            args=("./podinfo", "--config-path=/etc/podinfo", "--config=config.yaml"),
            env={
                "PODINFO_UI_MESSAGE": "Hello from hybrid-kube",
                "PODINFO_UI_COLOR": "#34577c",
                "PODINFO_LEVEL": "info",
            },
            secret_files={"config.yaml": "podinfo.yaml"},
            secret_files_path="/etc/podinfo",
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
                command=("sh", "-c", "valkey-cli -h 127.0.0.1 ping | grep -q PONG")
            ),
            liveness=TcpProbe(),
            # One writer on one volume; replication would be a different app.
            singleton=True,
            replicas=1,
        ),
    ),
)
