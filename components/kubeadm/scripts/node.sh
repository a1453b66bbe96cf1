#!/usr/bin/env bash
# node.sh: runs on the first control plane, about one node.
#
# create: wait for the Node object, label workers, and approve the node's kubelet serving
# certificate request (the kubelets run with serverTLSBootstrap, so metrics-server and
# `kubectl logs` can verify them against the cluster CA); only requests from that node's own
# identity whose IP addresses are the node's are approved.
# delete: drain the node and delete it from the cluster (its join step's delete then resets the
# host). Tolerates a node that is already gone.
#
# Preamble variables: NODE_NAME, NODE_IP, ROLE, FIRST_CONTROL_PLANE (true for the init host).

wait_for_node() {
  local waited=0
  until kc get node "$NODE_NAME" >/dev/null 2>&1; do
    [ "$waited" -lt 600 ] || die "node $NODE_NAME did not register within 10 minutes"
    sleep 5
    waited=$((waited + 5))
  done
}

# True when every IP address the CSR asks for is the node's own.
csr_addresses_ok() {
  local csr=$1 requested address
  requested=$(kc get csr "$csr" -o 'jsonpath={.spec.request}' | base64 -d |
    openssl req -noout -text 2>/dev/null | grep -o 'IP Address:[^,]*' | sed 's/IP Address://') || return 1
  for address in $requested; do
    [ "$address" = "$NODE_IP" ] || return 1
  done
}

# Pending kubelet-serving requests made by this node's own identity.
pending_serving_csrs() {
  kc get csr -o go-template='{{range .items}}{{if and (eq .spec.signerName "kubernetes.io/kubelet-serving") (not .status.conditions)}}{{.metadata.name}} {{.spec.username}}{{"\n"}}{{end}}{{end}}' |
    awk -v user="system:node:$NODE_NAME" '$2 == user {print $1}'
}

# True once the kubelet serves TLS: with serverTLSBootstrap it has no certificate of its own, so
# the API server reaching it through the node proxy means its serving certificate was issued.
has_serving_certificate() {
  kc get --raw "/api/v1/nodes/$NODE_NAME/proxy/healthz" >/dev/null 2>&1
}

approve_serving_csrs() {
  local waited=0 csr
  while [ "$waited" -lt 120 ]; do
    has_serving_certificate && return 0
    for csr in $(pending_serving_csrs); do
      if csr_addresses_ok "$csr"; then
        kc certificate approve "$csr" >/dev/null
        log "approved kubelet serving certificate request $csr for $NODE_NAME"
      else
        warn "not approving $csr: it asks for addresses other than $NODE_IP"
      fi
    done
    sleep 5
    waited=$((waited + 5))
  done
  warn "no approvable kubelet serving certificate request from $NODE_NAME yet; approve it with 'kubectl certificate approve'"
}

create() {
  wait_for_node
  if [ "$ROLE" = worker ]; then
    kc label node "$NODE_NAME" node-role.kubernetes.io/worker= --overwrite >/dev/null
  fi
  approve_serving_csrs
  log "node $NODE_NAME is registered"
}

delete() {
  if [ "$FIRST_CONTROL_PLANE" = true ]; then
    log "$NODE_NAME is the first control plane; the cluster goes with it (its init step resets it)"
    return 0
  fi
  if [ ! -f "$ADMIN_KUBECONFIG" ] || ! kc get node "$NODE_NAME" >/dev/null 2>&1; then
    log "node $NODE_NAME is not in the cluster; nothing to drain"
    return 0
  fi
  log "draining $NODE_NAME"
  kc drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout=300s ||
    warn "drain of $NODE_NAME did not finish in 5 minutes (PodDisruptionBudgets?); deleting the node anyway"
  kc delete node "$NODE_NAME" --ignore-not-found >/dev/null
  log "node $NODE_NAME removed from the cluster"
}

run_action "$@" </dev/null
