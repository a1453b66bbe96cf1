#!/usr/bin/env bash
# Helpers shared by every hybrid-kube host script.
#
# How the scripts run: the program sends `sudo -n bash -s -- <action>` over SSH with standard input
# = a preamble of shell-quoted variable assignments (some of them secret) + this file + one phase
# script, which ends with `run_action "$@" </dev/null`. Secrets therefore live only in this bash
# process's memory and in root-only files; they never appear on a command line, in the
# environment, or in what the script prints. Never add `set -x` here.
set -Eeuo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

STATE_DIR=/etc/kubernetes/hybrid-kube
APT_KEYRING_DIR=/etc/apt/keyrings
APT_SOURCES_DIR=/etc/apt/sources.list.d
LOG_DIR=/var/log/hybrid-kube
ADMIN_KUBECONFIG=/etc/kubernetes/admin.conf
# Written by `kubeadm init` and `kubeadm join`: its presence means this host is a node.
KUBELET_KUBECONFIG=/etc/kubernetes/kubelet.conf
CONTAINERD_CONFIG=/etc/containerd/config.toml
APISERVER_DIR=/etc/kubernetes/apiserver
KUBE_VIP_MANIFEST_PATH=/etc/kubernetes/manifests/kube-vip.yaml
APISERVER_MANIFEST=/etc/kubernetes/manifests/kube-apiserver.yaml
APISERVER_FILES_ANNOTATION=hybrid-kube.io/apiserver-files
AUDIT_LOG_DIR=/var/log/kubernetes/audit
FILE_CHANGED=false
APISERVER_FILES_CHANGED=false

log() { printf '[hybrid-kube] %s\n' "$*"; }
# True on a host that `kubeadm init` or `kubeadm join` made a node.
is_node() { [ -f "$KUBELET_KUBECONFIG" ]; }
warn() { printf '[hybrid-kube] warning: %s\n' "$*" >&2; }
# die MESSAGE [MORE...]: the error, then each further argument on a line of its own (what to do).
die() {
  printf '[hybrid-kube] error: %s\n' "$1" >&2
  shift
  if [ "$#" -gt 0 ]; then printf '[hybrid-kube]   %s\n' "$@" >&2; fi
  exit 1
}

# Entry point every phase script calls last: dispatch to its `create` or `delete` function.
run_action() {
  [ "$(id -u)" -eq 0 ] || die "must run as root: the program uses 'sudo -n bash -s' (NOPASSWD sudo)"
  local action=${1:-create}
  case "$action" in
    create | delete)
      declare -F "$action" >/dev/null || die "this script has no '$action' action"
      "$action"
      ;;
    *) die "unknown action '$action' (expected create or delete)" ;;
  esac
}

# Replace anything shaped like a bootstrap token or a certificate key before output leaves the host.
redact() {
  sed -E 's/[a-z0-9]{6}\.[a-z0-9]{16}/<redacted-token>/g; s/[0-9a-f]{64}/<redacted-key>/g'
}

# run_logged NAME COMMAND...: run with all output, redacted, in a root-only log; on failure print
# the log's tail and return the command's status. kubeadm prints tokens and certificate keys; they
# never reach a file or the program's output.
run_logged() {
  local name=$1 logfile status
  shift
  install -d -m 0700 "$LOG_DIR"
  logfile="$LOG_DIR/$name.log"
  (umask 077 && : >"$logfile")
  set +e
  "$@" 2>&1 </dev/null | redact >"$logfile"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ] && [ "${RUN_LOGGED_QUIET:-false}" != true ]; then
    print_log_tail "$name" "$status"
  fi
  return "$status"
}

print_log_tail() {
  local name=$1 status=$2 logfile="$LOG_DIR/$1.log"
  printf '[hybrid-kube] %s failed (exit %s); last lines of %s:\n' "$name" "$status" "$logfile" >&2
  tail -n 40 "$logfile" >&2
}

# write_file PATH MODE CONTENT: replace PATH only when CONTENT differs; sets FILE_CHANGED.
# The temporary file is created 0600 beside PATH with a leading dot (the kubelet ignores dot files
# in its static pod directory), so a secret is never world-readable and no half file is read.
write_file() {
  local path=$1 mode=$2 content=$3 dir tmp
  FILE_CHANGED=false
  dir=$(dirname "$path")
  [ -d "$dir" ] || install -d -m 0755 "$dir"
  tmp=$(mktemp "$dir/.$(basename "$path").XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
    return 0
  fi
  mv -f "$tmp" "$path"
  FILE_CHANGED=true
}

# Non-interactive apt: wait for other apt runs (cloud-init, unattended-upgrades) instead of
# failing, and keep our edited configuration files when a package ships a new default.
apt_get() {
  apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -y -q "$@"
}

# `apt-get update` takes /var/lib/apt/lists/lock without honouring DPkg::Lock::Timeout, so it
# fails at once while cloud-init or unattended-upgrades refresh the lists. Retry for up to
# APT_LOCK_WAIT seconds while the failure is that lock; any other failure is reported at once.
APT_LOCK_WAIT=600
apt_update() {
  local waited=0 status
  while true; do
    status=0
    RUN_LOGGED_QUIET=true run_logged apt-update apt_get update || status=$?
    [ "$status" -ne 0 ] || return 0
    if grep -Eq 'Could not get lock|Unable to lock( the)? directory|is held by process' "$LOG_DIR/apt-update.log" &&
      [ "$waited" -lt "$APT_LOCK_WAIT" ]; then
      if [ $((waited % 60)) -eq 0 ]; then log "apt's package lists are locked by another apt run; waiting"; fi
      sleep 10
      waited=$((waited + 10))
      continue
    fi
    print_log_tail apt-update "$status"
    return "$status"
  done
}

# apt_has_candidate PACKAGE GLOB: true when the package lists offer PACKAGE in a version matching
# GLOB (e.g. 1.34.3-*), i.e. an install of it can succeed without another `apt-get update`.
apt_has_candidate() {
  local package=$1 glob=$2 version
  while read -r version; do
    # shellcheck disable=SC2053 # GLOB is a pattern on purpose
    [[ $version == $glob ]] && return 0
  done < <(apt-cache madison "$package" 2>/dev/null | awk -F'|' '{gsub(/[[:space:]]/, "", $2); print $2}')
  return 1
}

wait_for_cloud_init() {
  if command -v cloud-init >/dev/null 2>&1; then
    log "waiting for cloud-init to finish"
    cloud-init status --wait >/dev/null 2>&1 || warn "cloud-init reported errors; continuing"
  fi
}

kc() { kubectl --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# -- versions: K8S_VERSION is "1.34" (a minor) or "1.34.2" (a patch) ----------------------------

minor_of() {
  local version=${1#v} rest
  rest=${version#*.}
  printf '%s.%s\n' "${version%%.*}" "${rest%%.*}"
}

has_patch() { [[ ${1#v} =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; }

# The apt version glob for K8S_VERSION: 1.34.2-* or 1.34.*
package_glob() {
  if has_patch "$1"; then printf '%s-*\n' "${1#v}"; else printf '%s.*\n' "${1#v}"; fi
}

# version_satisfies INSTALLED TARGET: v1.34.2 satisfies 1.34 and 1.34.2, not 1.35 or 1.34.3.
version_satisfies() {
  local installed=${1#v} target=${2#v}
  installed=${installed%%-*}
  if has_patch "$target"; then
    [ "$installed" = "$target" ]
  else
    [ "$(minor_of "$installed")" = "$target" ]
  fi
}

# minor_number 1.34 -> 34
minor_number() {
  local minor
  minor=$(minor_of "$1")
  printf '%s\n' "${minor#*.}"
}

# Fail unless going from INSTALLED to TARGET is no change or one minor up (kubeadm's rule).
check_upgrade_step() {
  local installed=$1 target=$2 from to
  [ -n "$installed" ] || die "no kubelet is installed on ${NODE_NAME:-this host}; was it prepared?"
  from=$(minor_number "$installed")
  to=$(minor_number "$target")
  if [ "$to" -lt "$from" ]; then
    die "kubernetesVersion $target is older than the installed $installed; downgrades are not supported"
  fi
  if [ "$to" -gt $((from + 1)) ]; then
    die "kubernetesVersion $target skips a minor (installed: $installed); raise it one minor at a time"
  fi
  if [ "$to" -eq "$from" ] && has_patch "$target" && [ "$(patch_number "$target")" -lt "$(patch_number "$installed")" ]; then
    die "kubernetesVersion $target is older than the installed $installed; patch downgrades are not supported (pin $(strip_version "$installed") or newer)"
  fi
}

# strip_version v1.34.2 / 1.34.2-1.1 -> 1.34.2
strip_version() {
  local version=${1#v}
  printf '%s\n' "${version%%-*}"
}

# patch_number 1.34.2 -> 2 (0 for a bare minor)
patch_number() {
  local version
  version=$(strip_version "$1")
  if has_patch "$version"; then printf '%s\n' "${version##*.}"; else printf '0\n'; fi
}

kubelet_version() {
  if command -v kubelet >/dev/null 2>&1; then
    kubelet --version 2>/dev/null | awk '{print $2}'
  fi
}

# -- packages -----------------------------------------------------------------------------------

# Point apt at pkgs.k8s.io for one minor (the repositories are per minor) and make sure the lists
# offer K8S_VERSION. The lists are refreshed when the repository changed *or* when they have no
# candidate for the wanted version: a new patch in the same minor repository, or a previous run
# whose `apt-get update` failed after the repository file was written, is retried every run.
use_kubernetes_repo() {
  local minor=$1 keyring="$APT_KEYRING_DIR/kubernetes-apt-keyring.gpg" glob package missing=false
  local url="https://pkgs.k8s.io/core:/stable:/v$minor/deb/"
  glob=$(package_glob "${K8S_VERSION:-$minor}")
  install -d -m 0755 "$APT_KEYRING_DIR"
  write_file "$APT_SOURCES_DIR/kubernetes.list" 0644 "deb [signed-by=$keyring] $url /"
  for package in kubelet kubeadm kubectl; do
    apt_has_candidate "$package" "$glob" || missing=true
  done
  if [ "$FILE_CHANGED" = true ] || [ ! -s "$keyring" ] || [ "$missing" = true ]; then
    log "refreshing the Kubernetes v$minor package repository (wanted: $glob)"
    fetch_keyring "${url}Release.key" "$keyring"
    apt_update
  fi
}

# fetch_keyring URL PATH: download and dearmor a repository key, replacing PATH atomically so an
# interrupted download never leaves a truncated keyring behind.
fetch_keyring() {
  local url=$1 keyring=$2 tmp
  tmp=$(mktemp "$(dirname "$keyring")/.$(basename "$keyring").XXXXXX")
  if ! curl -fsSL --retry 5 "$url" | gpg --dearmor --yes -o "$tmp"; then
    rm -f "$tmp"
    die "could not download the package signing key $url"
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$keyring"
}

# install_kube_packages PACKAGE...: install K8S_VERSION's packages and hold them.
install_kube_packages() {
  local glob package args=()
  glob=$(package_glob "$K8S_VERSION")
  for package in "$@"; do args+=("$package=$glob"); done
  apt-mark unhold "$@" >/dev/null 2>&1 || true
  run_logged apt-install-kubernetes apt_get install --allow-change-held-packages "${args[@]}"
  apt-mark hold "$@" >/dev/null
}

# -- containerd ----------------------------------------------------------------------------------

# containerd_config SANDBOX: the whole of containerd's configuration, pinning the pause image
# SANDBOX (containerd uses the pinned `sandbox` image for every new pod sandbox, pulling it when
# missing, and never garbage-collects it). containerd 2.x format; 2.3 migrates version 3 on load.
# Keep the text byte for byte (the header too): any change rewrites the file on every host at the
# next prepare run and restarts containerd everywhere at once.
containerd_config() {
  cat <<TOML
# Written by hybrid-kube (prepare.sh). containerd 2.x configuration format.
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$1'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
TOML
}

# The pause image pinned in this host's containerd configuration ("" when there is none).
pinned_sandbox_image() {
  [ -f "$CONTAINERD_CONFIG" ] || return 0
  awk -F"'" '/^[[:space:]]*sandbox[[:space:]]*=/ {print $2; exit}' "$CONTAINERD_CONFIG"
}

# apply_containerd_config SANDBOX: write the configuration; restart containerd only when it
# changed. A restart stops the daemon alone: the unit's KillMode=process leaves the shims and the
# containers they run untouched, and containerd reconnects to them when it starts (containerd's
# docs/ops.md); what fails meanwhile is starting or stopping containers, which the kubelet retries.
apply_containerd_config() {
  write_file "$CONTAINERD_CONFIG" 0644 "$(containerd_config "$1")"
  if [ "$FILE_CHANGED" = true ]; then
    log "containerd configuration written on ${NODE_NAME:-this host} (pause image $1); restarting containerd"
    systemctl restart containerd
  else
    systemctl start containerd
  fi
}

# During an upgrade, with the node drained or cordoned: pin the new minor's pause image. Only
# here and in prepare.sh on a host that is not a node yet, so a version change never restarts
# containerd on every node at once.
pin_sandbox_image() {
  [ -n "${SANDBOX_IMAGE:-}" ] || return 0
  apply_containerd_config "$SANDBOX_IMAGE"
}

# In an upgrade step that has nothing to do: say so when the pin differs, and leave it (moving it
# restarts containerd, which is for a drained node during an upgrade).
note_sandbox_pin() {
  local pinned
  [ -n "${SANDBOX_IMAGE:-}" ] || return 0
  pinned=$(pinned_sandbox_image)
  if [ -n "$pinned" ] && [ "$pinned" != "$SANDBOX_IMAGE" ]; then
    log "containerd on ${NODE_NAME:-this host} pins $pinned, not $SANDBOX_IMAGE; left as is until this node's next upgrade (docs/onprem.md, containerd)"
  fi
}

# -- node lifecycle ------------------------------------------------------------------------------

# Put the kube-vip static pod in place (CONTENT has @VIP_INTERFACE@ for the NIC holding NODE_IP).
write_kube_vip_manifest() {
  local content=$1 interface
  interface=$(ip -o addr show | awk -v ip="$NODE_IP" '{split($4, a, "/"); if (a[1] == ip) {print $2; exit}}')
  [ -n "$interface" ] || die "no network interface holds $NODE_IP; cannot place the virtual IP"
  install -d -m 0755 "$(dirname "$KUBE_VIP_MANIFEST_PATH")"
  write_file "$KUBE_VIP_MANIFEST_PATH" 0600 "${content//@VIP_INTERFACE@/$interface}"
}

# Files the API server reads on every control plane: Secrets encryption and the audit policy.
# Sets APISERVER_FILES_CHANGED when either file was (re)written.
write_apiserver_files() {
  APISERVER_FILES_CHANGED=false
  install -d -m 0700 "$APISERVER_DIR"
  write_file "$APISERVER_DIR/encryption-config.yaml" 0600 "$ENCRYPTION_CONFIG"
  if [ "$FILE_CHANGED" = true ]; then APISERVER_FILES_CHANGED=true; fi
  write_file "$APISERVER_DIR/audit-policy.yaml" 0600 "$AUDIT_POLICY"
  if [ "$FILE_CHANGED" = true ]; then APISERVER_FILES_CHANGED=true; fi
  install -d -m 0700 "$AUDIT_LOG_DIR"
}

# On a running control plane, after write_apiserver_files changed a file: make the API server
# read it (it reads the encryption configuration and the audit policy only when it starts).
# Touching the manifest is not enough: the kubelet restarts a static pod only when the pod in its
# manifest changes. So the manifest gets an annotation holding a hash of the files, written
# through write_file (a dot-temp file, renamed), and the API server comes back with the new files.
reload_apiserver_files() {
  [ "$APISERVER_FILES_CHANGED" = true ] || return 0
  if [ ! -f "$APISERVER_MANIFEST" ]; then
    warn "$APISERVER_MANIFEST is missing; the API server will read the new files when it next starts"
    return 0
  fi
  local hash manifest has_annotations=0 waited=0
  hash=$(cat "$APISERVER_DIR/encryption-config.yaml" "$APISERVER_DIR/audit-policy.yaml" | sha256sum | awk '{print $1}')
  manifest=$(cat "$APISERVER_MANIFEST")
  if grep -qx '  annotations:' <<<"$manifest"; then has_annotations=1; fi
  write_file "$APISERVER_MANIFEST" 0600 "$(awk -v key="$APISERVER_FILES_ANNOTATION" -v value="$hash" -v has="$has_annotations" '
    index($0, "    " key ":") == 1 { next }
    { print }
    !done && has == 1 && $0 == "  annotations:" { print "    " key ": \"" value "\""; done = 1 }
    !done && has == 0 && $0 == "metadata:" { print "  annotations:"; print "    " key ": \"" value "\""; done = 1 }
  ' <<<"$manifest")"
  [ "$FILE_CHANGED" = true ] || return 0
  log "the encryption configuration or audit policy changed: restarting the API server on ${NODE_NAME:-this host} to read them"
  sleep 20 # the kubelet notices the manifest, stops the old pod and starts the new one
  until curl -ksf --max-time 5 https://127.0.0.1:6443/readyz >/dev/null 2>&1; do
    if [ "$waited" -ge 300 ]; then
      warn "the API server on ${NODE_NAME:-this host} is not ready 5 minutes after its restart; check 'crictl ps -a'"
      return 0
    fi
    sleep 5
    waited=$((waited + 5))
  done
  log "the API server on ${NODE_NAME:-this host} is back with the new files"
}

remove_kube_rules() {
  local tool=$1
  command -v "$tool-save" >/dev/null 2>&1 || return 0
  "$tool-save" | grep -vE 'KUBE-|cali-|cali:|CILIUM|cilium|FLANNEL|flannel' | "$tool-restore" ||
    warn "could not remove the Kubernetes $tool rules"
}

# kubeadm reset plus what it leaves behind (CNI config, interfaces, iptables rules, kubeconfigs).
reset_node() {
  if command -v kubeadm >/dev/null 2>&1; then
    run_logged kubeadm-reset kubeadm reset -f || warn "kubeadm reset reported errors; cleaning up anyway"
  fi
  systemctl stop kubelet >/dev/null 2>&1 || true
  rm -rf /etc/cni/net.d /var/lib/cni /root/.kube "$STATE_DIR" "$APISERVER_DIR" "$KUBE_VIP_MANIFEST_PATH"
  local link
  for link in cni0 flannel.1 vxlan.calico cilium_host cilium_net cilium_vxlan kube-ipvs0; do
    ip link delete "$link" >/dev/null 2>&1 || true
  done
  remove_kube_rules iptables
  remove_kube_rules ip6tables
  if command -v ipvsadm >/dev/null 2>&1; then ipvsadm --clear || true; fi
  log "node reset: kubeadm state, CNI configuration and Kubernetes iptables rules removed"
}

# -- upgrades -----------------------------------------------------------------------------------

UPGRADE_LOCK=hybrid-kube-upgrade-lock

node_kubelet_version() {
  kc get node "$1" -o 'jsonpath={.status.nodeInfo.kubeletVersion}' 2>/dev/null || true
}

upgrade_lock_holder() {
  kc -n kube-system get configmap "$UPGRADE_LOCK" -o 'jsonpath={.data.holder}' 2>/dev/null || true
}

# Workers upgrade one at a time: the drain step of each takes this cluster-wide lock (a ConfigMap,
# created atomically) and the uncordon step releases it. A lock older than an hour is stale.
acquire_upgrade_lock() {
  local waited=0 holder created age
  while true; do
    if kc -n kube-system create configmap "$UPGRADE_LOCK" --from-literal=holder="$NODE_NAME" >/dev/null 2>&1; then
      return 0
    fi
    holder=$(upgrade_lock_holder)
    [ "$holder" = "$NODE_NAME" ] && return 0
    created=$(kc -n kube-system get configmap "$UPGRADE_LOCK" -o 'jsonpath={.metadata.creationTimestamp}' 2>/dev/null || true)
    if [ -n "$created" ]; then
      age=$(($(date +%s) - $(date -d "$created" +%s)))
      if [ "$age" -gt 3600 ]; then
        warn "taking over the upgrade lock from ${holder:-nobody} (held for ${age}s)"
        kc -n kube-system delete configmap "$UPGRADE_LOCK" --ignore-not-found >/dev/null
        continue
      fi
    fi
    [ "$waited" -lt 43200 ] || die "waited 12 hours for the upgrade lock (held by ${holder:-nobody})"
    if [ $((waited % 120)) -eq 0 ]; then log "$NODE_NAME waits while ${holder:-another node} upgrades"; fi
    sleep 10
    waited=$((waited + 10))
  done
}

release_upgrade_lock() {
  if [ "$(upgrade_lock_holder)" = "$NODE_NAME" ]; then
    kc -n kube-system delete configmap "$UPGRADE_LOCK" --ignore-not-found >/dev/null
  fi
}

# other_schedulable_nodes NODE: how many other nodes could take NODE's evicted pods (Ready, not
# cordoned, no NoSchedule/NoExecute taint).
other_schedulable_nodes() {
  local template
  template='{{range .items}}{{.metadata.name}} {{if .spec.unschedulable}}cordoned{{else}}open{{end}} '
  template+='{{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}} '
  template+='{{range .spec.taints}}{{.effect}},{{end}}{{"\n"}}{{end}}'
  kc get nodes -o go-template="$template" |
    awk -v node="$1" '$1 != node && $2 == "open" && $3 == "True" && $4 !~ /(^|,)(NoSchedule|NoExecute),/ {n++} END {print n + 0}'
}

# drain_node NODE TIMEOUT: drain NODE for an upgrade. When no other node can take its pods, a drain
# would wait forever on PodDisruptionBudgets (evictions never succeed): cordon it only, say so.
drain_node() {
  local node=$1 timeout=$2 others
  others=$(other_schedulable_nodes "$node" 2>/dev/null) || others=unknown
  if [ "$others" = 0 ]; then
    log "no other Ready, schedulable node can take the pods of $node; cordoning it only (no drain)"
    kc cordon "$node" >/dev/null
    return 0
  fi
  kc drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="$timeout" >/dev/null
}

# Upgrade this host's kubelet and kubectl to K8S_VERSION and restart the kubelet; first pin the
# new minor's pause image (the node is drained or cordoned). A run that fails before the package
# install repeats all of it. One that fails after it (the restart) leaves `kubelet --version`
# new, so the next run takes the no-upgrade path, where restart_stale_kubelet restarts the
# kubelet still running the replaced binary.
upgrade_kubelet() {
  pin_sandbox_image
  install_kube_packages kubelet kubectl
  systemctl daemon-reload
  systemctl restart kubelet
}

# In an upgrade step with nothing to upgrade: restart the kubelet when it is not running, or when
# the running one is stale, i.e. its executable was replaced after it started (a package install
# whose restart failed): the kernel then shows /proc/PID/exe as "PATH (deleted)". Otherwise
# nothing. `systemctl show --value` needs systemd 230 (Ubuntu 22.04 has 249, Debian 12 252).
restart_stale_kubelet() {
  local pid exe why
  pid=$(systemctl show --property MainPID --value kubelet)
  if [ -z "$pid" ] || [ "$pid" = 0 ]; then
    why="the kubelet is not running"
  else
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    case "$exe" in
      *" (deleted)") why="the running kubelet (pid $pid) is stale: its binary was replaced by a package upgrade after it started (${exe%" (deleted)"})" ;;
      *) return 0 ;;
    esac
  fi
  log "$why on ${NODE_NAME:-this host}; restarting the kubelet"
  systemctl daemon-reload
  systemctl restart kubelet
}
