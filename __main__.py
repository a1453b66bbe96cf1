"""hybrid-kube: read the stack's settings, build its cluster, add the platform, deploy the apps."""

import pulumi

try:
    from apps import CATALOG, settings_catalog
except ValueError as error:  # a bad AppSpec or two apps of one name: one line, not a traceback
    raise pulumi.RunError(f"the app catalog (apps/) cannot be loaded: {error}") from None
from components.platform import Platform, PlatformArgs
from components.registries import (
    docker_config_json,
    exempt_hosts,
    image_registry,
    unused_login_warnings,
)
from components.settings import (
    SettingsError,
    load_settings,
    read_secret_keys,
    read_stack_config,
)
from components.targets import create_cluster
from components.workload import App, AppArgs

try:
    settings = load_settings(
        read_stack_config(), settings_catalog(), secret_keys=read_secret_keys()
    )
except SettingsError as error:
    # RunError ends the program with this message alone: no traceback from inside the SDK.
    raise pulumi.RunError(str(error)) from None

specs = settings.deployed_apps(CATALOG)
images = [w.image for spec in specs.values() for w in spec.workloads]

for warning in [*settings.warnings, *unused_login_warnings(settings, images)]:
    pulumi.log.warn(warning)

cluster = create_cluster(settings)
platform = Platform(
    "platform",
    PlatformArgs.for_cluster(cluster, settings),
    opts=pulumi.ResourceOptions(providers=[cluster.provider]),
)
# Registries whose images the nodes pull without a pull Secret (the stack's own ACR on AKS).
exempt = exempt_hosts(settings)
apps = {
    name: App(
        name,
        AppArgs(
            spec=spec,
            secrets=settings.app_secrets.get(name, {}),
            ingress=platform.ingress,
            config=settings.app_config.get(name, {}),
            registry_auths=docker_config_json(
                {image_registry(w.image) for w in spec.workloads} - exempt, settings.registries
            ),
        ),
        opts=pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[platform]),
    )
    for name, spec in specs.items()
}

pulumi.export("target", settings.target)
pulumi.export("kubernetesVersion", settings.kubernetes_version)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export(
    "apps",
    {
        name: {"namespace": app.namespace.metadata.name, "hosts": app.hosts}
        for name, app in apps.items()
    },
)
