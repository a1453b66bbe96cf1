#!/usr/bin/env bash
# upgrade-uncordon.sh: on the bootstrap control plane, after a worker's upgrade: wait until it is
# Ready on K8S_VERSION, uncordon it and release the upgrade lock. Does nothing unless this worker
# holds the lock, so it never uncordons a node somebody cordoned by hand.
#
# Preamble variables: NODE_NAME (the worker), K8S_VERSION.

create() {
  if [ "$(upgrade_lock_holder)" != "$NODE_NAME" ]; then
    log "$NODE_NAME was not drained for an upgrade; nothing to do"
    return 0
  fi
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=600s >/dev/null ||
    die "$NODE_NAME did not become Ready after its upgrade; it stays cordoned and keeps the lock"
  local kubelet_now
  kubelet_now=$(node_kubelet_version "$NODE_NAME")
  version_satisfies "$kubelet_now" "$K8S_VERSION" ||
    die "$NODE_NAME reports kubelet $kubelet_now, not $K8S_VERSION; it stays cordoned"
  kc uncordon "$NODE_NAME" >/dev/null
  release_upgrade_lock
  log "$NODE_NAME upgraded to $kubelet_now and uncordoned"
}

run_action "$@" </dev/null
