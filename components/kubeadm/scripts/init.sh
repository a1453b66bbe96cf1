#!/usr/bin/env bash
# init.sh: `kubeadm init` on the first control plane (create), `kubeadm reset` + cleanup (delete).
#
# Preamble variables: NODE_NAME, NODE_IP, K8S_VERSION, KUBEADM_CONFIG (Init, Cluster, Kubelet and
# KubeProxy documents; "@INSTALLED_KUBEADM_VERSION@" stands for the installed kubeadm when only a
# minor is configured), CA_CERT, CA_KEY (the cluster CA from the program, so join discovery hashes
# are known up front), ENCRYPTION_CONFIG, AUDIT_POLICY, KUBE_VIP_MANIFEST (empty: no kube-vip).
# Guarded on /etc/kubernetes/admin.conf: once the cluster exists, a re-run only refreshes the
# files the program owns (encryption configuration, audit policy, kube-vip manifest), written
# before the guard, and restarts the API server when one of its files changed.

# The host paths the kube-vip manifest mounts (its hostPath), as the program writes them.
SUPER_ADMIN_KUBECONFIG=/etc/kubernetes/super-admin.conf
KUBE_VIP_KUBECONFIG=/etc/kubernetes/admin.conf

# Since Kubernetes 1.29 admin.conf is not in system:masters, so during `kubeadm init` kube-vip
# must use super-admin.conf; afterwards it goes back to the less privileged admin.conf. Written
# with write_file (dot-temp file, renamed): the kubelet never reads a half-written manifest.
kube_vip_use_admin_conf() {
  local content
  [ -f "$KUBE_VIP_MANIFEST_PATH" ] || return 0
  content=$(cat "$KUBE_VIP_MANIFEST_PATH")
  case "$content" in
    *"$SUPER_ADMIN_KUBECONFIG"*) ;;
    *) return 0 ;;
  esac
  write_file "$KUBE_VIP_MANIFEST_PATH" 0600 "${content//"$SUPER_ADMIN_KUBECONFIG"/"$KUBE_VIP_KUBECONFIG"}"
  log "kube-vip switched from super-admin.conf to admin.conf"
}

# On an initialised control plane: bring the program's files up to date and apply them.
refresh_initialised() {
  if [ -n "$KUBE_VIP_MANIFEST" ]; then
    # The program sends the manifest for `kubeadm init` (super-admin.conf); after init it is admin.conf.
    write_kube_vip_manifest "${KUBE_VIP_MANIFEST//"$SUPER_ADMIN_KUBECONFIG"/"$KUBE_VIP_KUBECONFIG"}"
    if [ "$FILE_CHANGED" = true ]; then log "kube-vip manifest updated on $NODE_NAME"; fi
  fi
  kube_vip_use_admin_conf
  reload_apiserver_files
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
  install -d -m 0700 "$STATE_DIR"
  # Before the guard, so a changed value reaches an initialised control plane too.
  write_apiserver_files
  if [ -f "$ADMIN_KUBECONFIG" ]; then
    refresh_initialised
    log "control plane $NODE_NAME is already initialised"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed; the prepare step must run first"
  local installed config
  installed=$(kubeadm version -o short)
  version_satisfies "$installed" "$K8S_VERSION" ||
    die "installed kubeadm $installed does not match kubernetesVersion $K8S_VERSION"
  write_ca
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
