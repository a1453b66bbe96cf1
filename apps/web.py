"""A stateless web site: unprivileged nginx serving pages kept in the app's ConfigMap."""

from components.appspec import AppSpec, Exposure, HttpProbe, Resources, WorkloadSpec

INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>hybrid-kube</title></head>
<body>
  <h1>Hello from hybrid-kube</h1>
  <p>The same desired state, deployed unchanged to AKS, to kubeadm on your own machines,
     or to any existing cluster.</p>
</body>
</html>
"""

SPEC = AppSpec(
    name="web",
    description="Static site from a ConfigMap, served by unprivileged nginx.",
    workloads=(
        WorkloadSpec(
            name="web",
            image="nginxinc/nginx-unprivileged:1.30.5-alpine",
            port=8080,
            files={"index.html": INDEX_HTML},
            files_path="/usr/share/nginx/html",
            # nginx-unprivileged keeps its pid and temp files in /tmp; /var/cache/nginx is spare.
            writable_paths=("/tmp", "/var/cache/nginx"),
            readiness=HttpProbe(path="/"),
            resources=Resources(
                cpu_request="25m", memory_request="32Mi", cpu_limit="250m", memory_limit="128Mi"
            ),
            exposure=Exposure(),
        ),
    ),
)
