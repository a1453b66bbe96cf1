#!/usr/bin/env bash
# join.sh: `kubeadm join` a worker or an extra control plane (create); `kubeadm reset` + cleanup
# when the host leaves the stack (delete).
#
# Preamble variables: NODE_NAME, NODE_IP, ROLE, JOIN_CONFIG (a JoinConfiguration with the token,
# the CA hash and, for a control plane, the certificate key), ADMIT_URN (the admit step that
# refreshes those credentials, named in the hint when they were refused), and for control planes
# only: ENCRYPTION_CONFIG, AUDIT_POLICY, KUBE_VIP_MANIFEST (empty: no kube-vip).
# Guarded on /etc/kubernetes/kubelet.conf: a joined host only gets the program's files refreshed
# (written before the guard; the API server is restarted when one of its files changed). A host
# holding another cluster's CA is refused first, whether it has joined that cluster or not.

# True when kubeadm's (redacted) log says the join credentials were refused: an expired or deleted
# bootstrap token, or uploaded control-plane certificates that expired (both live two hours).
join_credentials_rejected() {
  grep -Eiq "couldn.t validate the identity of the API Server|JWS signature|is invalid for this cluster or it has expired|error downloading (the )?certs|kubeadm-certs|might have expired|message authentication failed|Unauthorized" "$1"
}

credentials_hint() {
  warn "kubeadm join was refused its credentials: the bootstrap token and the uploaded certificates expire 2 hours after the admit step ran, and admit runs again only when this host's join inputs change."
  warn "refresh them, then join again:"
  warn "  pulumi up --target-replace '$ADMIT_URN'"
  warn "  pulumi up"
}

# ca_public_key_hash CERT: kubeadm's CA pin of CERT, `sha256:` + the hex SHA-256 of its DER
# SubjectPublicKeyInfo (what caCertHashes holds); fails when CERT is not a certificate.
ca_public_key_hash() {
  local hex
  hex=$(openssl x509 -pubkey -noout -in "$1" 2>/dev/null | openssl pkey -pubin -outform der 2>/dev/null |
    sha256sum | awk '{print $1}') || return 1
  printf 'sha256:%s\n' "$hex"
}

# A host whose /etc/kubernetes/pki/ca.crt is not this cluster's CA belongs to another cluster:
# "already joined" would be wrong, and `kubeadm join` would fail on it and its cleanup
# (`kubeadm reset`) wipe that cluster's node. Refuse before anything changes, as init.sh does.
check_cluster_ca() {
  local ca=/etc/kubernetes/pki/ca.crt found wanted="" config
  [ -f "$ca" ] || return 0
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed on $NODE_NAME; it comes with ca-certificates, which the prepare step installs"
  config=${JOIN_CONFIG#*caCertHashes:} # in memory only: the secret never leaves this process
  while [[ $config =~ sha256:[0-9a-f]{64} ]]; do
    wanted+="${wanted:+ }${BASH_REMATCH[0]}"
    config=${config#*"${BASH_REMATCH[0]}"}
  done
  [ -n "$wanted" ] || die "the join configuration for $NODE_NAME has no caCertHashes (sha256:<hex>)"
  found=$(ca_public_key_hash "$ca") || found="none ($ca is not a certificate openssl can read)"
  case " $wanted " in *" $found "*) return 0 ;; esac
  die "$NODE_NAME belongs to another cluster: its $ca has the public-key hash $found, this cluster's CA has $wanted; nothing was changed" \
    "if $NODE_NAME should join this cluster, run 'kubeadm reset -f' on it first (it leaves the other cluster), then pulumi up again"
}

create() {
  # First: a refusal leaves the host as it was.
  check_cluster_ca
  install -d -m 0700 "$STATE_DIR"
  # Before the guard, so a changed value reaches a control plane that has already joined too.
  if [ "$ROLE" = control-plane ]; then
    write_apiserver_files
    if [ -n "$KUBE_VIP_MANIFEST" ]; then
      write_kube_vip_manifest "$KUBE_VIP_MANIFEST"
      if [ "$FILE_CHANGED" = true ]; then log "kube-vip manifest written on $NODE_NAME"; fi
    fi
  fi
  if is_node; then
    if [ "$ROLE" = control-plane ]; then reload_apiserver_files; fi
    log "$NODE_NAME has already joined the cluster"
    return 0
  fi
  command -v kubeadm >/dev/null 2>&1 || die "kubeadm is not installed; the prepare step must run first"
  write_file "$STATE_DIR/kubeadm-join.yaml" 0600 "$JOIN_CONFIG"
  log "running kubeadm join on $NODE_NAME ($NODE_IP) as $ROLE"
  if ! run_logged kubeadm-join kubeadm join --config "$STATE_DIR/kubeadm-join.yaml"; then
    local refused=false
    if join_credentials_rejected "$LOG_DIR/kubeadm-join.log"; then refused=true; fi
    run_logged kubeadm-join-cleanup kubeadm reset -f || true
    rm -f "$STATE_DIR/kubeadm-join.yaml"
    if [ "$refused" = true ]; then credentials_hint; fi
    die "kubeadm join failed on $NODE_NAME; the host was reset, see above and $LOG_DIR/kubeadm-join.log"
  fi
  rm -f "$STATE_DIR/kubeadm-join.yaml"
  log "$NODE_NAME joined as $ROLE"
}

delete() {
  reset_node
}

run_action "$@" </dev/null
