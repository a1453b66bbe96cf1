#!/usr/bin/env bash
# upgrade-control-plane.sh: the documented kubeadm upgrade of one control plane, one minor (or
# patch) at a time. Control planes run this one after another, the bootstrap host first (it runs
# `kubeadm upgrade apply`), then the others by name; workers wait for the last. A no-op when the
# host already runs K8S_VERSION, so it is safe on every `pulumi up`.
#
# Resumable: the node is annotated before it is drained and the annotation is removed only after
# it is Ready and uncordoned again, so a run that failed in between (kubelet restart, Ready wait)
# finishes the job on the next `pulumi up` even though the versions already match by then (a
# kubelet left running the replaced binary is restarted first: restart_stale_kubelet).
#
# The new minor's pause image is pinned in containerd while the node is drained (upgrade_kubelet),
# never by prepare on every host at once.
#
# Preamble variables: NODE_NAME, K8S_VERSION, BOOTSTRAP_HOST (the control plane that ran init),
# SANDBOX_IMAGE (the pause image of K8S_VERSION's kubeadm).

UPGRADE_MARK=hybrid-kube.io/upgrade-cordoned

server_version() {
  kc get --raw /version 2>/dev/null | awk -F'"' '/"gitVersion"/ {print $4; exit}'
}

upgrade_marked() {
  [ -n "$(kc get node "$NODE_NAME" -o "jsonpath={.metadata.annotations.hybrid-kube\.io/upgrade-cordoned}" 2>/dev/null || true)" ]
}

# Wait for the upgraded node, uncordon it and drop the mark (last, so a failure here resumes).
finish_node_upgrade() {
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=600s >/dev/null ||
    die "$NODE_NAME did not become Ready after its upgrade; it stays cordoned (run pulumi up again once it is Ready)"
  kc uncordon "$NODE_NAME" >/dev/null
  kc annotate node "$NODE_NAME" "$UPGRADE_MARK-" >/dev/null
}

create() {
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed on $NODE_NAME"
  local kubeadm_now kubelet_now target
  kubeadm_now=$(kubeadm version -o short)
  kubelet_now=$(kubelet_version)
  if version_satisfies "$kubeadm_now" "$K8S_VERSION" && version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    restart_stale_kubelet # a previous run's restart may have failed
    if upgrade_marked; then
      log "resuming the upgrade of $NODE_NAME: it runs $kubelet_now but is still cordoned"
      finish_node_upgrade
      log "control plane $NODE_NAME uncordoned"
      return 0
    fi
    log "$NODE_NAME runs $kubelet_now; no upgrade needed"
    note_sandbox_pin
    return 0
  fi
  check_upgrade_step "$kubelet_now" "$K8S_VERSION"
  log "upgrading control plane $NODE_NAME from $kubelet_now to $K8S_VERSION"
  use_kubernetes_repo "$(minor_of "$K8S_VERSION")"
  version_satisfies "$kubeadm_now" "$K8S_VERSION" || install_kube_packages kubeadm
  target=$(kubeadm version -o short)
  if [ "$NODE_NAME" = "$BOOTSTRAP_HOST" ]; then
    if [ "$(server_version)" != "$target" ]; then
      run_logged kubeadm-upgrade-plan kubeadm upgrade plan "$target"
      run_logged kubeadm-upgrade-apply kubeadm upgrade apply -y "$target"
    fi
  else
    run_logged kubeadm-upgrade-node kubeadm upgrade node
  fi
  if ! version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    kc annotate node "$NODE_NAME" --overwrite "$UPGRADE_MARK=$K8S_VERSION" >/dev/null
    drain_node "$NODE_NAME" 600s ||
      die "could not drain $NODE_NAME; fix what blocks the drain and run pulumi up again"
    upgrade_kubelet
    finish_node_upgrade
  fi
  log "control plane $NODE_NAME now runs $(kubelet_version)"
}

run_action "$@" </dev/null
