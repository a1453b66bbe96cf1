#!/usr/bin/env bash
# node.sh: runs on the bootstrap control plane, about one node.
#
# create: wait for the Node object, label workers, and approve the node's kubelet serving
# certificate request (the kubelets run with serverTLSBootstrap, so metrics-server and
# `kubectl logs` can verify them against the cluster CA); only requests from that node's own
# identity whose names are the node's (DNS = node name, IP = node address, nothing else) are approved.
# delete: drain the node; for a control plane, remove its etcd member (refused, before anything is
# touched, when the members left would not keep etcd's quorum); delete the Node. Its join step's
# delete then resets the host: `kubeadm reset` cannot remove the member itself once the Node is
# gone (it reads its configuration through the Node), so it must leave etcd here, first.
# Tolerates a node or member that is already gone.
#
# Preamble variables: NODE_NAME, NODE_IP, ROLE, BOOTSTRAP_HOST (the control plane this runs on).

# etcd client certificates inside kubeadm's etcd static pod (it mounts /etc/kubernetes/pki/etcd).
ETCD_CA=/etc/kubernetes/pki/etcd/ca.crt
ETCD_CERT=/etc/kubernetes/pki/etcd/server.crt
ETCD_KEY=/etc/kubernetes/pki/etcd/server.key
ETCD_MEMBER_ID=""

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

# -- leaving etcd ----------------------------------------------------------------------------------

# etcdctl inside the bootstrap host's etcd static pod (the kubelet names it etcd-<node name>; the
# registry.k8s.io/etcd image ships etcdctl), against that member's own client endpoint.
etcdctl_bootstrap() {
  kc -n kube-system exec "etcd-$BOOTSTRAP_HOST" -- etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert="$ETCD_CA" --cert="$ETCD_CERT" --key="$ETCD_KEY" "$@"
}

# etcd_member_of_node MEMBERS: the ID (hex) of this node's member in `member list` output (etcdctl's
# simple format: "ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER", several addresses
# joined by ","). kubeadm adds a node's member with the peer URL https://<node address>:2380 and
# names it after the node; a member that never started has no name yet, hence both.
etcd_member_of_node() {
  awk -F', ' -v name="$NODE_NAME" -v peer="https://$NODE_IP:2380" '
    $1 ~ /^[0-9a-f]+$/ && ($2 == "started" || $2 == "unstarted") {
      mine = ($3 == name)
      n = split($4, peers, ",")
      for (i = 1; i <= n; i++) if (peers[i] == peer) mine = 1
      if (mine) { print $1; exit }
    }' <<<"$1"
}

# etcd_quorum_problem MEMBERS HEALTH ID: nothing (success) when the voting members other than ID
# have a healthy majority among themselves, so etcd keeps its quorum once ID is gone; otherwise
# prints why not and fails. HEALTH is `endpoint health --cluster` output, both streams: etcdctl
# prints "<client URL> is healthy: ..." (stdout) or "<client URL> is unhealthy: ..." (stderr).
# Learners do not vote and are not counted; lines that are not members (a kubectl warning) neither.
etcd_quorum_problem() {
  awk -F', ' -v id="$3" '
    FNR == NR {
      if ($0 ~ / is healthy: /) { split($0, words, " "); healthy[words[1]] = 1 }
      next
    }
    $1 ~ /^[0-9a-f]+$/ && ($2 == "started" || $2 == "unstarted") && $1 != id && $6 != "true" {
      voters++
      ok = 0
      n = split($5, urls, ",")
      for (i = 1; i <= n; i++) if (urls[i] in healthy) ok = 1
      label = ($3 != "" ? $3 : $1)
      if (ok) good++
      else bad = bad (bad != "" ? ", " : "") label
    }
    END {
      need = int(voters / 2) + 1
      if (good < need) {
        printf "after the removal %d voting members would remain and %d of them must be healthy for quorum, but %d are (unhealthy or unreachable: %s)\n", voters, need, good, (bad != "" ? bad : "none")
        exit 1
      }
    }' <(printf '%s\n' "$2") <(printf '%s\n' "$1")
}

# Sets ETCD_MEMBER_ID to this node's member ("" when it has none), or dies when removing it would
# cost etcd its quorum. Changes nothing.
find_etcd_member() {
  local members health problem
  members=$(etcdctl_bootstrap member list 2>&1) ||
    die "could not list etcd's members through etcd-$BOOTSTRAP_HOST, so $NODE_NAME's member cannot be removed safely: $members" \
      "Check the bootstrap control plane's etcd (kubectl -n kube-system get pod etcd-$BOOTSTRAP_HOST), then run pulumi up again."
  ETCD_MEMBER_ID=$(etcd_member_of_node "$members")
  [ -n "$ETCD_MEMBER_ID" ] || return 0
  health=$(etcdctl_bootstrap endpoint health --cluster 2>&1) || true # fails when any member is unhealthy
  if ! problem=$(etcd_quorum_problem "$members" "$health" "$ETCD_MEMBER_ID"); then
    die "refusing to remove $NODE_NAME's etcd member $ETCD_MEMBER_ID: $problem; nothing was changed." \
      "Bring the unhealthy members back (kubectl -n kube-system get pods -l component=etcd), then run pulumi up again." \
      "A member whose host is gone for good: remove that control plane from the stack first, alone, in a pulumi up of its own."
  fi
}

# remove_etcd_member ID: `member remove`, tolerating a member someone else removed meanwhile.
remove_etcd_member() {
  local output
  if output=$(etcdctl_bootstrap member remove "$1" 2>&1); then
    log "etcd member $1 of $NODE_NAME removed"
  elif grep -q 'member not found' <<<"$output"; then
    log "etcd member $1 of $NODE_NAME was already removed"
  else
    die "could not remove etcd member $1 of $NODE_NAME: $output" \
      "The node was drained but is still in the cluster; fix the cause and run pulumi up again."
  fi
}

# Delete the Node object, retrying: right after a control plane leaves etcd its API server stops,
# and the endpoint (kube-vip's address may have been on that host) takes a few seconds to move.
delete_node_object() {
  local tries=0
  until kc delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 24 ] || die "could not delete node $NODE_NAME for 2 minutes; is the API server reachable?"
    sleep 5
  done
}

delete() {
  if [ "$NODE_NAME" = "$BOOTSTRAP_HOST" ]; then
    log "$NODE_NAME is the bootstrap control plane; the cluster goes with it (its init step resets it)"
    return 0
  fi
  if [ ! -f "$ADMIN_KUBECONFIG" ]; then
    log "this host has no $ADMIN_KUBECONFIG: the cluster is gone, nothing to remove $NODE_NAME from"
    return 0
  fi
  if [ "$ROLE" = control-plane ]; then
    find_etcd_member # first: a refusal must come before the drain
  fi
  if kc get node "$NODE_NAME" >/dev/null 2>&1; then
    log "draining $NODE_NAME"
    kc drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout=300s ||
      warn "drain of $NODE_NAME did not finish in 5 minutes (PodDisruptionBudgets?); removing the node anyway"
  else
    log "node $NODE_NAME is not in the cluster; nothing to drain"
  fi
  if [ -n "$ETCD_MEMBER_ID" ]; then
    remove_etcd_member "$ETCD_MEMBER_ID"
  elif [ "$ROLE" = control-plane ]; then
    log "$NODE_NAME has no etcd member (already removed)"
  fi
  delete_node_object
  log "node $NODE_NAME removed from the cluster"
}

run_action "$@" </dev/null
