"""A stateless web site: unprivileged nginx serving a page kept in the app's ConfigMap.

The page's message is a per-stack setting (`hybrid-kube:appConfig.web.message`), rendered into
index.html HTML-escaped, so whatever a stack sets shows as text and never as markup.
"""

from components.appspec import (
    AppSpec,
    ConfigFile,
    ConfigSetting,
    Exposure,
    HttpProbe,
    Resources,
    WorkloadSpec,
)

# A `str.format` template: `{message:html}` is the setting, escaped; write a literal brace `{{`.
INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>hybrid-kube</title></head>
<body>
  <h1>{message:html}</h1>
  <p>The same desired state, deployed unchanged to AKS, to kubeadm on your own machines,
     or to any existing cluster.</p>
</body>
</html>
"""

SPEC = AppSpec(
    name="web",
    description="Static site from a ConfigMap, served by unprivileged nginx.",
    config={
        "message": ConfigSetting(
            default="Hello from hybrid-kube",
            description="The page's heading.",
        ),
    },
    config_files={"index.html": ConfigFile(template=INDEX_HTML)},
    workloads=(
        WorkloadSpec(
            name="web",
            image="nginxinc/nginx-unprivileged:1.30.5-alpine",
            port=8080,
            config_files={"index.html": "index.html"},
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
