#!/usr/bin/env bash
# admit.sh: on the bootstrap control plane, right before a host joins, make its credentials valid.
#
# Bootstrap tokens expire (the TTL is short on purpose) and the control-plane certificates that
# `kubeadm init --upload-certs` stored expire after two hours, so a host added weeks later would
# otherwise fail to join. This refreshes the token (and, for a control plane, re-uploads the
# certificates under the same certificate key) before each join. Idempotent by nature.
#
# Preamble variables: NODE_NAME (the joining host), NODE_IP, ROLE, JOIN_INPUTS_SHA256 (a hash of
# the join step's inputs: it changes, and so re-runs this step, whenever the join would re-run),
# ADMIT_CONFIG (an InitConfiguration with the bootstrap token and certificate key; the live
# ClusterConfiguration is appended here).

ADMIT_FILE=""

# The admit file holds the token and the certificate key: gone on any exit, success or not.
remove_admit_file() {
  if [ -n "$ADMIT_FILE" ]; then rm -f "$ADMIT_FILE"; fi
}

create() {
  [ -f "$ADMIN_KUBECONFIG" ] || die "this host has no $ADMIN_KUBECONFIG; is it the bootstrap control plane?"
  local cluster_config
  install -d -m 0700 "$STATE_DIR"
  # The cluster's own ClusterConfiguration carries its current version, also after upgrades.
  cluster_config=$(kc -n kube-system get configmap kubeadm-config -o 'jsonpath={.data.ClusterConfiguration}')
  [ -n "$cluster_config" ] || die "the kubeadm-config ConfigMap has no ClusterConfiguration"
  ADMIT_FILE="$STATE_DIR/admit-$NODE_NAME.yaml"
  trap remove_admit_file EXIT
  write_file "$ADMIT_FILE" 0600 "$ADMIT_CONFIG"$'\n---\n'"$cluster_config"
  run_logged "admit-$NODE_NAME-token" kubeadm init phase bootstrap-token \
    --config "$ADMIT_FILE" --kubeconfig "$ADMIN_KUBECONFIG"
  if [ "$ROLE" = control-plane ]; then
    run_logged "admit-$NODE_NAME-certs" kubeadm init phase upload-certs --upload-certs \
      --config "$ADMIT_FILE" --kubeconfig "$ADMIN_KUBECONFIG"
  fi
  remove_admit_file
  log "join credentials refreshed for $NODE_NAME ($ROLE, $NODE_IP; join inputs ${JOIN_INPUTS_SHA256:0:12})"
}

run_action "$@" </dev/null
