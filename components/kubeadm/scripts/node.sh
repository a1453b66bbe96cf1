#!/usr/bin/env bash
# node.sh: runs on the first control plane, about one node.
#
# create: wait for the Node object, label workers, and approve the node's kubelet serving
# certificate request (the kubelets run with serverTLSBootstrap, so metrics-server and
# `kubectl logs` can verify them against the cluster CA); only requests from that node's own
# identity whose names are the node's (DNS = node name, IP = node address, nothing else) are approved.
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

# normalize_ipv4 ADDRESS: canonical dotted quad (no leading zeros), or failure when ADDRESS is not
# IPv4. IPv6 is not supported by this target (the settings refuse IPv6 host addresses).
normalize_ipv4() {
  local a b c d
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  a=$((10#${BASH_REMATCH[1]})) b=$((10#${BASH_REMATCH[2]})) c=$((10#${BASH_REMATCH[3]})) d=$((10#${BASH_REMATCH[4]}))
  [ "$a" -le 255 ] && [ "$b" -le 255 ] && [ "$c" -le 255 ] && [ "$d" -le 255 ] || return 1
  printf '%d.%d.%d.%d\n' "$a" "$b" "$c" "$d"
}

# The subjectAltName entries of a CSR, one per line ("DNS:w1", "IP Address:192.168.56.21", ...).
csr_sans() {
  kc get csr "$1" -o 'jsonpath={.spec.request}' | base64 -d |
    openssl req -noout -text 2>/dev/null |
    awk '/X509v3 Subject Alternative Name/ {getline; gsub(/^[[:space:]]+|[[:space:]]+$/, ""); print; exit}' |
    sed 's/, /\n/g'
}

# True when the CSR names only this node: every DNS name is the node name, every IP address is
# NODE_IP, at least one of them is present, and there is nothing else (no URI, email, other names).
csr_addresses_ok() {
  local csr=$1 sans entry own_ip address
  sans=$(csr_sans "$csr") || return 1
  [ -n "$sans" ] || return 1
  own_ip=$(normalize_ipv4 "$NODE_IP") || return 1
  while IFS= read -r entry; do
    case "$entry" in
      "DNS:$NODE_NAME") ;;
      "IP Address:"*)
        address=$(normalize_ipv4 "${entry#IP Address:}") || return 1
        [ "$address" = "$own_ip" ] || return 1
        ;;
      *) return 1 ;; # another DNS name, URI, email, othername, directory name ...
    esac
  done <<<"$sans"
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
        warn "not approving $csr: it asks for names other than $NODE_NAME and $NODE_IP"
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
