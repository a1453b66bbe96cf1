#!/usr/bin/env bash
# upgrade-control-plane.sh: the documented kubeadm upgrade of one control plane, one minor (or
# patch) at a time. Control planes run this one after another, the first one first; workers wait
# for the last. A no-op when the host already runs K8S_VERSION, so it is safe on every `pulumi up`.
#
# Preamble variables: NODE_NAME, K8S_VERSION, FIRST_CONTROL_PLANE ("true" on the init host).

server_version() {
  kc get --raw /version 2>/dev/null | awk -F'"' '/"gitVersion"/ {print $4; exit}'
}

create() {
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed on $NODE_NAME"
  local kubeadm_now kubelet_now target
  kubeadm_now=$(kubeadm version -o short)
  kubelet_now=$(kubelet_version)
  if version_satisfies "$kubeadm_now" "$K8S_VERSION" && version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    log "$NODE_NAME runs $kubelet_now; no upgrade needed"
    return 0
  fi
  check_upgrade_step "$kubelet_now" "$K8S_VERSION"
  log "upgrading control plane $NODE_NAME from $kubelet_now to $K8S_VERSION"
  use_kubernetes_repo "$(minor_of "$K8S_VERSION")"
  version_satisfies "$kubeadm_now" "$K8S_VERSION" || install_kube_packages kubeadm
  target=$(kubeadm version -o short)
  if [ "$FIRST_CONTROL_PLANE" = true ]; then
    if [ "$(server_version)" != "$target" ]; then
      run_logged kubeadm-upgrade-plan kubeadm upgrade plan "$target"
      run_logged kubeadm-upgrade-apply kubeadm upgrade apply -y "$target"
    fi
  else
    run_logged kubeadm-upgrade-node kubeadm upgrade node
  fi
  if ! version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    kc drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout=600s >/dev/null ||
      die "could not drain $NODE_NAME; fix what blocks the drain and run pulumi up again"
    upgrade_kubelet
    kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=600s >/dev/null
    kc uncordon "$NODE_NAME" >/dev/null
  fi
  log "control plane $NODE_NAME now runs $(kubelet_version)"
}

run_action "$@" </dev/null
