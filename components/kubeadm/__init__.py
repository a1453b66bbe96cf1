"""The on-prem target: kubeadm over SSH on the user's hosts (see cluster.py for the pipeline)."""

from .cluster import KUBEADM_CAPABILITIES, KubeadmCluster, KubeadmClusterArgs, kubeadm_capabilities

__all__ = ["KUBEADM_CAPABILITIES", "KubeadmCluster", "KubeadmClusterArgs", "kubeadm_capabilities"]
