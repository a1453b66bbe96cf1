"""The `aks` target: `AksCluster` builds an AKS cluster and yields the `Cluster` contract."""

from .component import AKS_CAPABILITIES, AksCluster, AksClusterArgs

__all__ = ["AKS_CAPABILITIES", "AksCluster", "AksClusterArgs"]
