"""hybrid-kube components: settings, targets, platform and workloads (see README.md)."""
