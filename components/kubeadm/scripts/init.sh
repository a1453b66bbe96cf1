#!/usr/bin/env bash
# init.sh: `kubeadm init` on the first control plane (create), `kubeadm reset` + cleanup (delete).
#
# Preamble variables: NODE_NAME, NODE_IP, K8S_VERSION, KUBEADM_CONFIG (Init, Cluster, Kubelet and
# KubeProxy documents; "@INSTALLED_KUBEADM_VERSION@" stands for the installed kubeadm when only a
# minor is configured), CA_CERT, CA_KEY (the cluster CA from the program, so join discovery hashes
# are known up front), ENCRYPTION_CONFIG, AUDIT_POLICY, KUBE_VIP_MANIFEST (empty: no kube-vip).
# Guarded on /etc/kubernetes/admin.conf: once the cluster exists, a re-run changes nothing.

SUPER_ADMIN_KUBECONFIG=/etc/kubernetes/super-admin.conf

# Since Kubernetes 1.29 admin.conf is not in system:masters, so during `kubeadm init` kube-vip
# must use super-admin.conf; afterwards it goes back to the less privileged admin.conf.
kube_vip_use_admin_conf() {
  if [ -f "$KUBE_VIP_MANIFEST_PATH" ] && grep -q "$SUPER_ADMIN_KUBECONFIG" "$KUBE_VIP_MANIFEST_PATH"; then
    sed -i "s#$SUPER_ADMIN_KUBECONFIG#$ADMIN_KUBECONFIG#g" "$KUBE_VIP_MANIFEST_PATH"
    log "kube-vip switched from super-admin.conf to admin.conf"
  fi
}

# Place the program's CA; refuse to replace a different one (that would orphan every node).
write_ca() {
  install -d -m 0755 /etc/kubernetes/pki
  if [ -f /etc/kubernetes/pki/ca.crt ] && ! printf '%s\n' "$CA_CERT" | cmp -s - /etc/kubernetes/pki/ca.crt; then
    die "/etc/kubernetes/pki/ca.crt exists and is not this stack's CA; run 'kubeadm reset -f' on $NODE_NAME first"
  fi
  write_file /etc/kubernetes/pki/ca.crt 0644 "$CA_CERT"
  write_file /etc/kubernetes/pki/ca.key 0600 "$CA_KEY"
}

create() {
  if [ -f "$ADMIN_KUBECONFIG" ]; then
    kube_vip_use_admin_conf
    log "control plane $NODE_NAME is already initialised; nothing to do"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed; the prepare step must run first"
  local installed config
  installed=$(kubeadm version -o short)
  version_satisfies "$installed" "$K8S_VERSION" ||
    die "installed kubeadm $installed does not match kubernetesVersion $K8S_VERSION"
  install -d -m 0700 "$STATE_DIR"
  write_ca
  write_apiserver_files
  config=${KUBEADM_CONFIG//@INSTALLED_KUBEADM_VERSION@/$installed}
  write_file "$STATE_DIR/kubeadm-init.yaml" 0600 "$config"
  if [ -n "$KUBE_VIP_MANIFEST" ]; then
    write_kube_vip_manifest "$KUBE_VIP_MANIFEST"
  fi
  log "running kubeadm init on $NODE_NAME ($NODE_IP), Kubernetes $installed"
  if ! run_logged kubeadm-init kubeadm init --config "$STATE_DIR/kubeadm-init.yaml" --upload-certs; then
    # Leave the host clean so the next `pulumi up` can simply try again.
    run_logged kubeadm-init-cleanup kubeadm reset -f || true
    rm -f "$STATE_DIR/kubeadm-init.yaml"
    die "kubeadm init failed on $NODE_NAME; the host was reset, see above and $LOG_DIR/kubeadm-init.log"
  fi
  rm -f "$STATE_DIR/kubeadm-init.yaml" # it holds the token and certificate key; nothing rereads it
  kube_vip_use_admin_conf
  log "control plane $NODE_NAME initialised"
}

delete() {
  reset_node
}

run_action "$@" </dev/null
