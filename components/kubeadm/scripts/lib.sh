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
LOG_DIR=/var/log/hybrid-kube
ADMIN_KUBECONFIG=/etc/kubernetes/admin.conf
APISERVER_DIR=/etc/kubernetes/apiserver
KUBE_VIP_MANIFEST_PATH=/etc/kubernetes/manifests/kube-vip.yaml
FILE_CHANGED=false

log() { printf '[hybrid-kube] %s\n' "$*"; }
warn() { printf '[hybrid-kube] warning: %s\n' "$*" >&2; }
die() {
  printf '[hybrid-kube] error: %s\n' "$*" >&2
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
  if [ "$status" -ne 0 ]; then
    printf '[hybrid-kube] %s failed (exit %s); last lines of %s:\n' "$name" "$status" "$logfile" >&2
    tail -n 40 "$logfile" >&2
  fi
  return "$status"
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
}

kubelet_version() {
  if command -v kubelet >/dev/null 2>&1; then
    kubelet --version 2>/dev/null | awk '{print $2}'
  fi
}

# -- packages -----------------------------------------------------------------------------------

# Point apt at pkgs.k8s.io for one minor (the repositories are per minor).
use_kubernetes_repo() {
  local minor=$1 keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
  local url="https://pkgs.k8s.io/core:/stable:/v$minor/deb/"
  install -d -m 0755 /etc/apt/keyrings
  write_file /etc/apt/sources.list.d/kubernetes.list 0644 "deb [signed-by=$keyring] $url /"
  if [ "$FILE_CHANGED" = true ] || [ ! -s "$keyring" ]; then
    log "using the Kubernetes v$minor package repository"
    curl -fsSL --retry 5 "${url}Release.key" | gpg --dearmor --yes -o "$keyring"
    chmod 0644 "$keyring"
    run_logged apt-update apt_get update
  fi
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

# -- node lifecycle ------------------------------------------------------------------------------

# Put the kube-vip static pod in place (CONTENT has @VIP_INTERFACE@ for the NIC holding NODE_IP).
write_kube_vip_manifest() {
  local content=$1 interface
  interface=$(ip -o addr show | awk -v ip="$NODE_IP" '{split($4, a, "/"); if (a[1] == ip) {print $2; exit}}')
  [ -n "$interface" ] || die "no network interface holds $NODE_IP; cannot place the virtual IP"
  install -d -m 0755 /etc/kubernetes/manifests
  write_file "$KUBE_VIP_MANIFEST_PATH" 0600 "${content//@VIP_INTERFACE@/$interface}"
}

# Files the API server reads on every control plane: Secrets encryption and the audit policy.
write_apiserver_files() {
  install -d -m 0700 "$APISERVER_DIR"
  write_file "$APISERVER_DIR/encryption-config.yaml" 0600 "$ENCRYPTION_CONFIG"
  write_file "$APISERVER_DIR/audit-policy.yaml" 0600 "$AUDIT_POLICY"
  install -d -m 0700 /var/log/kubernetes/audit
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

# Upgrade this host's kubelet and kubectl to K8S_VERSION and restart the kubelet.
upgrade_kubelet() {
  install_kube_packages kubelet kubectl
  systemctl daemon-reload
  systemctl restart kubelet
}
