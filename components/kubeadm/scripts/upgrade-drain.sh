#!/usr/bin/env bash
# upgrade-drain.sh: on the bootstrap control plane, before a worker's upgrade: when the worker runs
# an older version than K8S_VERSION, wait for the cluster-wide upgrade lock (one worker at a time)
# and drain it. A no-op for an up-to-date worker, so it costs nothing on a plain `pulumi up`.
#
# Preamble variables: NODE_NAME (the worker), K8S_VERSION.

create() {
  local kubelet_now
  kubelet_now=$(node_kubelet_version "$NODE_NAME")
  if [ -z "$kubelet_now" ]; then
    log "node $NODE_NAME is not registered; nothing to drain"
    return 0
  fi
  if version_satisfies "$kubelet_now" "$K8S_VERSION"; then
    log "$NODE_NAME runs $kubelet_now; no upgrade needed"
    return 0
  fi
  check_upgrade_step "$kubelet_now" "$K8S_VERSION"
  acquire_upgrade_lock
  log "draining $NODE_NAME for its upgrade from $kubelet_now to $K8S_VERSION"
  drain_node "$NODE_NAME" 600s ||
    die "could not drain $NODE_NAME; fix what blocks the drain and run pulumi up again"
}

run_action "$@" </dev/null
