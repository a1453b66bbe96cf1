#!/usr/bin/env bash
# init.sh: `kubeadm init` on the bootstrap control plane (create), `kubeadm reset` + cleanup
# (delete).
#
# Preamble variables: NODE_NAME, NODE_IP, K8S_VERSION, CNI (kubeadm.cni), KUBEADM_CONFIG (Init,
# Cluster, Kubelet and KubeProxy documents; "@INSTALLED_KUBEADM_VERSION@" stands for the installed
# kubeadm when only a minor is configured), CA_CERT, CA_KEY (the cluster CA from the program, so
# join discovery hashes are known up front), ENCRYPTION_CONFIG, AUDIT_POLICY, KUBE_VIP_MANIFEST
# (empty: no kube-vip).
# Guarded on /etc/kubernetes/admin.conf: once the cluster exists, a re-run only refreshes the
# files the program owns (encryption configuration, audit policy, kube-vip manifest) and restarts
# the API server when one of its files changed. Before that, and before changing anything, it
# refuses to go on when this host is not the one that ran `kubeadm init` (the stack's bootstrap
# host changed) or when `kubeadm.cni` is not the pod network the cluster was built with.

# The host paths the kube-vip manifest mounts (its hostPath), as the program writes them.
SUPER_ADMIN_KUBECONFIG=/etc/kubernetes/super-admin.conf
KUBE_VIP_KUBECONFIG=/etc/kubernetes/admin.conf

# `kubeadm init` writes super-admin.conf (since 1.29); `kubeadm join --control-plane` writes only
# admin.conf, controller-manager.conf and scheduler.conf (kubernetes/kubernetes
# cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go, CreateJoinControlPlaneKubeConfigFiles).
INIT_ONLY_FILE=/etc/kubernetes/super-admin.conf
CNI_CONF_DIR=/etc/cni/net.d
CNIS="calico cilium flannel"
DOCS="docs/onprem.md"

# What this host records about the cluster it initialised (root-only, removed by a reset):
# "$STATE_DIR/initialised" holds `node=NAME` and `address=IP`; "$STATE_DIR/cni" the pod network.
marker_field() {
  awk -F= -v key="$1" '$1 == key { print substr($0, length(key) + 2); exit }' "$STATE_DIR/initialised"
}

record_initialised() {
  write_file "$STATE_DIR/initialised" 0644 "node=$NODE_NAME"$'\n'"address=$NODE_IP"
}

# Refuse a host that did not initialise this cluster: it joined it as a control plane, so the
# stack's bootstrap host changed (another bootstrapHost, a new control plane whose name sorts
# first, a renamed or re-addressed host). Pulumi refuses those edits in its preview (the init
# step and the bootstrap identity are protected); this is the line on the host itself, for a
# stack from before that protection or a `pulumi up --skip-preview`.
check_bootstrap_host() {
  local name address
  if [ ! -f "$STATE_DIR/initialised" ]; then
    if [ ! -f "$INIT_ONLY_FILE" ]; then
      die "$NODE_NAME joined this cluster as a control plane; it did not initialise it, so it cannot be the bootstrap host." \
        "The stack's bootstrap host changed (kubeadm.bootstrapHost, or by default the control plane whose name sorts first)." \
        "Set kubeadm.bootstrapHost to the host that ran kubeadm init (the one with $STATE_DIR/initialised or $INIT_ONLY_FILE) and run pulumi up again; nothing was changed." \
        "If $NODE_NAME did run kubeadm init and $INIT_ONLY_FILE was moved away, record it there, as root: printf 'node=$NODE_NAME\naddress=$NODE_IP\n' >$STATE_DIR/initialised"
    fi
    # A cluster initialised before this record existed: kubeadm init left its mark.
    record_initialised
    log "recorded that $NODE_NAME initialised this cluster (it has $INIT_ONLY_FILE)"
    return 0
  fi
  name=$(marker_field node)
  address=$(marker_field address)
  if [ "$name" != "$NODE_NAME" ]; then
    die "this host initialised the cluster as '$name', and the stack now calls it '$NODE_NAME'; hosts cannot be renamed." \
      "Put the name back (kubeadm.hosts, kubeadm.bootstrapHost) and run pulumi up again; nothing was changed."
  fi
  if [ "$address" != "$NODE_IP" ]; then
    die "$NODE_NAME initialised the cluster at $address, and the stack now gives it $NODE_IP; the address of the bootstrap control plane is in every certificate and etcd peer URL and cannot change." \
      "Put the address back and run pulumi up again; nothing was changed. To move the cluster, rebuild it ($DOCS, 'Tearing down')."
  fi
}

# The pod networks whose configuration is in CNI_CONF_DIR, sorted, space-separated: Calico writes
# 10-calico.conflist, Cilium 05-cilium.conflist, Flannel 10-flannel.conflist.
installed_cnis() {
  local file name found=""
  for file in "$CNI_CONF_DIR"/*.conf "$CNI_CONF_DIR"/*.conflist; do
    [ -f "$file" ] || continue
    for name in $CNIS; do
      case "${file##*/}" in *"$name"*) found="$found $name" ;; esac
    done
  done
  # shellcheck disable=SC2086 # one word per line on purpose
  printf '%s\n' $found | sort -u | paste -sd' ' -
}

# Refuse a change of kubeadm.cni: the nodes keep the old network's configuration, interfaces,
# iptables rules and IP allocations, so swapping the Helm release would break pod networking.
# The pod network the cluster was built with is the one recorded at `kubeadm init`; for a
# cluster from before that record, the one whose configuration is on this host.
check_cni() {
  local record="$STATE_DIR/cni" installed where
  if [ -f "$record" ]; then
    installed=$(cat "$record")
    where="recorded in $record at kubeadm init"
  else
    installed=$(installed_cnis)
    where="its configuration is in $CNI_CONF_DIR"
    if [ -z "$installed" ]; then
      write_file "$record" 0644 "$CNI" # no pod network yet: the stack's choice stands
      return 0
    fi
  fi
  if [ "$installed" != "$CNI" ]; then
    die "kubeadm.cni is '$CNI', but this cluster runs '$installed' ($where). A pod network cannot be swapped under running nodes: they keep the old one's files, interfaces, rules and addresses." \
      "Set kubeadm.cni back to '$installed' and run pulumi up again; nothing was changed. To move to '$CNI', rebuild the cluster ($DOCS, 'Changing the pod network')." \
      "If no pod network was ever installed (the first pulumi up stopped before it), remove $record on $NODE_NAME and run pulumi up again."
  fi
  [ -f "$record" ] || write_file "$record" 0644 "$CNI"
}

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
  if [ -f "$ADMIN_KUBECONFIG" ]; then
    # Before anything is written: a refusal leaves the host as it was.
    check_bootstrap_host
    check_cni
  fi
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
  record_initialised
  write_file "$STATE_DIR/cni" 0644 "$CNI"
  rm -f "$STATE_DIR/kubeadm-init.yaml" # it holds the token and certificate key; nothing rereads it
  kube_vip_use_admin_conf
  log "control plane $NODE_NAME initialised"
}

delete() {
  reset_node
}

run_action "$@" </dev/null
