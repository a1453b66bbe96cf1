#!/usr/bin/env bash
# join.sh: `kubeadm join` a worker or an extra control plane (create); `kubeadm reset` + cleanup
# when the host leaves the stack (delete).
#
# Preamble variables: NODE_NAME, NODE_IP, ROLE, JOIN_CONFIG (a JoinConfiguration with the token,
# the CA hash and, for a control plane, the certificate key), and for control planes only:
# ENCRYPTION_CONFIG, AUDIT_POLICY, KUBE_VIP_MANIFEST (empty: no kube-vip).
# Guarded on /etc/kubernetes/kubelet.conf: a joined host is left alone.

create() {
  if [ -f /etc/kubernetes/kubelet.conf ]; then
    log "$NODE_NAME has already joined the cluster; nothing to do"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed; the prepare step must run first"
  install -d -m 0700 "$STATE_DIR"
  if [ "$ROLE" = control-plane ]; then
    write_apiserver_files
    if [ -n "$KUBE_VIP_MANIFEST" ]; then
      write_kube_vip_manifest "$KUBE_VIP_MANIFEST"
    fi
  fi
  write_file "$STATE_DIR/kubeadm-join.yaml" 0600 "$JOIN_CONFIG"
  log "running kubeadm join on $NODE_NAME ($NODE_IP) as $ROLE"
  if ! run_logged kubeadm-join kubeadm join --config "$STATE_DIR/kubeadm-join.yaml"; then
    run_logged kubeadm-join-cleanup kubeadm reset -f || true
    rm -f "$STATE_DIR/kubeadm-join.yaml"
    die "kubeadm join failed on $NODE_NAME; the host was reset, see above and $LOG_DIR/kubeadm-join.log"
  fi
  rm -f "$STATE_DIR/kubeadm-join.yaml"
  log "$NODE_NAME joined as $ROLE"
}

delete() {
  reset_node
}

run_action "$@" </dev/null
