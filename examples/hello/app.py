"""The declaration of the example app, as it goes into `apps/hello.py` (docs/own-app.md).

Copy this file to `apps/hello.py`, put your own image below, and add the module to the catalog in
`apps/__init__.py`: `from . import hello, podinfo, web` and
`CATALOG = unique_app_names([web, podinfo, hello])`. It is not in the shipped catalog: the image
below is a placeholder until you push your own.
"""

from components.appspec import AppSpec, Exposure, HttpProbe, Resources, WorkloadSpec

SPEC = AppSpec(
    name="hello",
    description="A tiny web app built from examples/hello and pulled from your own registry.",
    workloads=(
        WorkloadSpec(
            # The workload's name: its Deployment, Service and ConfigMap in namespace `hello`, and
            # the key under hybrid-kube:appImages.hello.
            name="hello",
            # Your image: ghcr.io/<user>/hello, docker.io/<user>/hello or <acr>.azurecr.io/hello,
            # at an exact version. A stack picks another build with hybrid-kube:appImages.
            image="ghcr.io/octocat/hello:1.0.0",
            port=8080,  # the port hello.py listens on (EXPOSE in the Dockerfile)
            env={"GREETING": "Hello from hybrid-kube"},
            readiness=HttpProbe(path="/healthz"),
            resources=Resources(
                cpu_request="10m", memory_request="32Mi", cpu_limit="200m", memory_limit="64Mi"
            ),
            exposure=Exposure(),  # http://hello.<ingressDomain>/
        ),
    ),
)
