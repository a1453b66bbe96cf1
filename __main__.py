"""hybrid-kube: read the stack's settings, build its cluster, add the platform, deploy the apps."""

import pulumi

from apps import CATALOG, secret_catalog
from components.platform import Platform, PlatformArgs
from components.settings import (
    SettingsError,
    load_settings,
    read_secret_keys,
    read_stack_config,
)
from components.targets import create_cluster
from components.workload import App, AppArgs

try:
    settings = load_settings(read_stack_config(), secret_catalog(), secret_keys=read_secret_keys())
except SettingsError as error:
    # RunError ends the program with this message alone: no traceback from inside the SDK.
    raise pulumi.RunError(str(error)) from None

for warning in settings.warnings:
    pulumi.log.warn(warning)

cluster = create_cluster(settings)
platform = Platform(
    "platform",
    PlatformArgs.for_cluster(cluster, settings),
    opts=pulumi.ResourceOptions(providers=[cluster.provider]),
)
apps = {
    name: App(
        name,
        AppArgs(
            spec=CATALOG[name],
            secrets=settings.app_secrets.get(name, {}),
            ingress=platform.ingress,
        ),
        opts=pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[platform]),
    )
    for name in settings.selected_apps(CATALOG)
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
