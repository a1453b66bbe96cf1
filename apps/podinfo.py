"""Two tiers: the podinfo web front end caching in Valkey, whose administration needs a password.

Exposure: podinfo 6.9.2 serves far more than its UI (pkg/api/http/server.go): `GET /panic` exits
the process, `POST /readyz/disable` takes it out of its Service, `/debug/pprof/` profiles it,
`POST /store` fills its disk, `POST|PUT|DELETE /cache/{key}` writes the cache unauthenticated,
`/env` and `/configs` print its environment and config. Only the page (`GET /`) and the read-only
call its script polls (ui/vue.html: `GET api/info` every 3 s) are routed, each `Exact`; podinfo
answers both to GET only. The page's Ping button posts to `api/echo`, which reads any body whole
into memory (echo.go: io.ReadAll): not routed, so Ping answers 404.

Valkey is a cache, configured as one: `maxmemory` well below the container's limit with LRU
eviction, so no write can grow it into an OOM kill; single values capped at 1 MiB; snapshots
(RDB) rather than an append-only log, so a restart loads one bounded snapshot instead of
replaying every write ever made (loading never evicts: valkey src/evict.c). The volume keeps the
cache warm across restarts and shows how an app's data outlives the app (docs/day2.md).

The password (`appSecrets.podinfo.valkeyPassword`, generated when not set) belongs to the `admin`
user. valkey.conf holds only its SHA-256 (`#<hex>`, valkey src/acl.c), so no character of the
password can break or inject a config line; the plaintext stays in Pulumi and in the app's Secret,
where an operator reads it. The readiness probe needs no password: it PINGs as `default`.

The front end carries no credential either: podinfo logs its whole cache URL whenever the cache is
unreachable (pkg/api/http/cache.go), so a password in that URL would end up in pod logs. Valkey's
`default` user, the one podinfo connects as, may run only PING and the four commands podinfo's
cache uses, and the NetworkPolicy admits only the front end; everything else needs `admin`.
"""

from components.appspec import (
    AppSpec,
    ConfigSetting,
    ExecProbe,
    ExposedPath,
    Exposure,
    HttpProbe,
    Resources,
    SecretFile,
    SecretSpec,
    Storage,
    TcpProbe,
    WorkloadSpec,
)

VALKEY_PORT = 6379
VALKEY_MEMORY_LIMIT_MIB = 256
VALKEY_MAXMEMORY_MIB = VALKEY_MEMORY_LIMIT_MIB // 2
"""Half the limit: the rest holds client buffers, allocator overhead and the pages a snapshot's
fork copies while writes continue."""
VALKEY_STORAGE_GIB = 1
"""At least twice `maxmemory`: a new snapshot is written beside the previous one, then renamed."""

# Every directive checked in valkey-io/valkey's valkey.conf and src/config.c at 8.0.1 and on
# unstable (after 8.1): each exists, unchanged, on both sides of the pinned 8.1.11. In valkey.conf
# "mb" is 1024*1024 bytes; proto-max-bulk-len and client-query-buffer-limit accept 1mb at least.
VALKEY_CONF = (
    "bind * -::*\n"
    f"port {VALKEY_PORT}\n"
    # The NetworkPolicy admits only the front end, and `default` may only run the cache's commands.
    "protected-mode no\n"
    "dir /data\n"
    f"maxmemory {VALKEY_MAXMEMORY_MIB}mb\n"
    "maxmemory-policy allkeys-lru\n"
    # 1 MiB is the smallest limit Valkey accepts; a larger value is refused, never stored.
    "proto-max-bulk-len 1mb\n"
    "client-query-buffer-limit 2mb\n"
    # A snapshot 5 minutes after a write, and one at shutdown (SIGTERM saves when `save` is set).
    "appendonly no\n"
    "save 300 1\n"
    # A cache keeps serving if a snapshot fails (a full disk, say).
    "stop-writes-on-bgsave-error no\n"
    "user default on nopass resetkeys ~* resetchannels -@all +ping +get +set +exists +del\n"
    "user admin on #{valkeyPassword:sha256} ~* &* +@all\n"
)

SPEC = AppSpec(
    name="podinfo",
    description="podinfo front end with a Valkey cache on a persistent volume.",
    secrets={
        "valkeyPassword": SecretSpec(length=32, description="Password of Valkey's admin user."),
    },
    secret_files={"valkey.conf": SecretFile(template=VALKEY_CONF)},
    config={
        "message": ConfigSetting(
            default="Hello from hybrid-kube", description="The heading of podinfo's page."
        ),
        "color": ConfigSetting(
            default="#34577c",
            # The page sets it as a CSS background colour (ui/vue.html): a colour and nothing else.
            pattern=r"^#[0-9a-fA-F]{6}$",
            description="The page's background colour, as #rrggbb.",
        ),
        "logLevel": ConfigSetting(
            default="info",
            # podinfo's initZap takes these and silently uses info for anything else.
            allowed=("debug", "info", "warn", "error"),
            description="podinfo's log level.",
        ),
    },
    workloads=(
        WorkloadSpec(
            name="frontend",
            image="ghcr.io/stefanprodan/podinfo:6.9.2",
            port=9898,
            args=("./podinfo", f"--cache-server=tcp://valkey:{VALKEY_PORT}"),
            # podinfo 6.9.2 reads every flag from PODINFO_<FLAG> (cmd/podinfo/main.go: viper
            # SetEnvPrefix("PODINFO"), "-" -> "_"): --ui-message, --ui-color, --level.
            config_env={
                "PODINFO_UI_MESSAGE": "message",
                "PODINFO_UI_COLOR": "color",
                "PODINFO_LEVEL": "logLevel",
            },
            writable_paths=("/tmp", "/data"),
            readiness=HttpProbe(path="/readyz"),
            liveness=HttpProbe(path="/healthz"),
            talks_to=("valkey",),
            exposure=Exposure(
                paths=(
                    ExposedPath(path="/", path_type="Exact"),
                    ExposedPath(path="/api/info", path_type="Exact"),
                )
            ),
        ),
        WorkloadSpec(
            name="valkey",
            image="valkey/valkey:8.1.11-alpine",
            port=VALKEY_PORT,
            port_name="valkey",
            args=("valkey-server", "/etc/valkey/valkey.conf"),
            secret_files={"valkey.conf": "valkey.conf"},
            secret_files_path="/etc/valkey",
            storage=Storage(size=f"{VALKEY_STORAGE_GIB}Gi", mount_path="/data"),
            resources=Resources(
                cpu_request="50m",
                memory_request=f"{VALKEY_MAXMEMORY_MIB + 64}Mi",
                cpu_limit="500m",
                memory_limit=f"{VALKEY_MEMORY_LIMIT_MIB}Mi",
            ),
            readiness=ExecProbe(
                # As `default`, which may PING: no password in the pod's environment.
                command=(
                    "sh",
                    "-c",
                    f"valkey-cli -h 127.0.0.1 -p {VALKEY_PORT} ping | grep -q PONG",
                )
            ),
            liveness=TcpProbe(),
            # One writer on one volume; replication would be a different app.
            singleton=True,
            replicas=1,
        ),
    ),
)
