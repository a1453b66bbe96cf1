#!/usr/bin/env bash
# upgrade-node.sh: on a worker, after its drain step: new kubeadm, `kubeadm upgrade node`, the new
# minor's pause image pinned in containerd (restarted only if the pin changed), new kubelet and
# kubectl, kubelet restart. A no-op when the worker already runs K8S_VERSION, but for restarting a
# kubelet that still runs a replaced binary (a previous run whose restart failed).
#
# Preamble variables: NODE_NAME, K8S_VERSION, SANDBOX_IMAGE (the pause image of K8S_VERSION's
# kubeadm).

create() {
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed on $NODE_NAME"
  local kubeadm_now kubelet_now
  kubeadm_now=$(kubeadm version -o short)
  kubelet_now=$(kubelet_version)
  if version_satisfies "$kubeadm_now" "$K8S_VERSION" && version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    log "$NODE_NAME runs $kubelet_now; no upgrade needed"
    restart_stale_kubelet # a previous run's restart may have failed
    note_sandbox_pin
    return 0
  fi
  check_upgrade_step "$kubelet_now" "$K8S_VERSION"
  use_kubernetes_repo "$(minor_of "$K8S_VERSION")"
  version_satisfies "$kubeadm_now" "$K8S_VERSION" || install_kube_packages kubeadm
  run_logged kubeadm-upgrade-node kubeadm upgrade node
  upgrade_kubelet
  log "$NODE_NAME now runs $(kubelet_version)"
}

run_action "$@" </dev/null
