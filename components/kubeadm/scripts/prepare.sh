#!/usr/bin/env bash
# prepare.sh: make a fresh Ubuntu 22.04/24.04 or Debian 12 host ready for kubeadm.
#
# Preamble variables: NODE_NAME, K8S_VERSION ("1.34" or "1.34.2"), CONTAINERD_IO_VERSION (apt
# version glob, installed only where containerd.io 2.x is not), SANDBOX_IMAGE (the pause image of
# K8S_VERSION's kubeadm). Safe to run again: every step checks before it changes anything.
#
# It runs again on every host at once whenever its inputs change (a new kubernetesVersion, a new
# pin), so on a host that already runs it changes nothing that would restart containerd: an
# installed containerd.io 2.x is left alone, and on a node the pause image its containerd pins is
# kept (the upgrade step moves it, node by node). Kubernetes packages are the upgrade step's too.

check_os() {
  [ -r /etc/os-release ] || die "/etc/os-release is missing; supported: Ubuntu 22.04/24.04, Debian 12"
  # shellcheck disable=SC1091
  . /etc/os-release
  case "${ID:-}:${VERSION_ID:-}" in
    ubuntu:22.04 | ubuntu:24.04 | debian:12) ;;
    *) die "unsupported OS '${PRETTY_NAME:-unknown}'; supported: Ubuntu 22.04/24.04, Debian 12" ;;
  esac
  OS_ID=$ID
  OS_CODENAME=$VERSION_CODENAME
}

CGROUP_ROOT=/sys/fs/cgroup
FAIL_CGROUP_V1_FROM=35 # Kubernetes minor whose kubelet defaults failCgroupV1 to true

# From Kubernetes 1.35 the kubelet refuses to start on cgroup v1 (KubeletConfiguration
# failCgroupV1, default true): fail here, before anything is installed, rather than at a kubelet
# that never comes up. Older minors still run on v1 and only get a warning, so that a cluster
# created then keeps working; raising kubernetesVersion to 1.35 re-runs this step on every host
# before any upgrade step, and stops the `pulumi up` here. Ubuntu 22.04/24.04 and Debian 12 boot
# with cgroup v2 unless their kernel command line says otherwise.
check_cgroup_v2() {
  local fs found fix
  fs=$(stat -fc %T "$CGROUP_ROOT" 2>/dev/null || true)
  [ "$fs" = cgroup2fs ] && return 0
  found="$NODE_NAME runs cgroup v1 ('stat -fc %T $CGROUP_ROOT' says '${fs:-nothing}', not cgroup2fs)"
  fix="boot it with cgroup v2, the default of Ubuntu 22.04/24.04 and Debian 12: remove systemd.unified_cgroup_hierarchy=0 from GRUB_CMDLINE_LINUX in /etc/default/grub (or add systemd.unified_cgroup_hierarchy=1), run update-grub and reboot"
  if [ "$(minor_number "$K8S_VERSION")" -ge "$FAIL_CGROUP_V1_FROM" ]; then
    die "$found; the kubelet of Kubernetes $K8S_VERSION refuses to start on cgroup v1 (failCgroupV1)" "$fix"
  fi
  warn "$found; the kubelet of Kubernetes 1.$FAIL_CGROUP_V1_FROM and later refuses it (failCgroupV1): $fix before raising kubernetesVersion"
}

MODULES_LOAD_DIR=/etc/modules-load.d
SYSCTL_DIR=/etc/sysctl.d
# Earlier releases wrote 99-kubernetes.conf, which sorts before 99-sysctl.conf (/etc/sysctl.conf)
# and so loses to it; k8s.conf sorts after every 99-* file (as the kubeadm docs name it).
OLD_SYSCTL_FILE=99-kubernetes.conf

configure_kernel() {
  local changed=false
  write_file "$MODULES_LOAD_DIR/k8s.conf" 0644 $'overlay\nbr_netfilter'
  modprobe overlay
  modprobe br_netfilter
  write_file "$SYSCTL_DIR/k8s.conf" 0644 \
    $'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1'
  changed=$FILE_CHANGED
  if [ -e "$SYSCTL_DIR/$OLD_SYSCTL_FILE" ]; then
    log "replacing $SYSCTL_DIR/$OLD_SYSCTL_FILE with $SYSCTL_DIR/k8s.conf"
    rm -f "$SYSCTL_DIR/$OLD_SYSCTL_FILE"
    changed=true
  fi
  if [ "$changed" = true ] || [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
    sysctl --system >/dev/null
  fi
}

disable_swap() {
  swapoff -a
  if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then
    log "commenting out swap in /etc/fstab (backup: /etc/fstab.hybrid-kube.bak)"
    sed -E -i.hybrid-kube.bak '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/# disabled by hybrid-kube: /' /etc/fstab
  fi
  systemctl mask swap.target >/dev/null 2>&1 || true
}

install_prerequisites() {
  local package missing=()
  for package in ca-certificates curl gpg; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_update
    run_logged apt-install-prerequisites apt_get install "${missing[@]}"
  fi
}

# The version of PACKAGE that dpkg has installed ("" when none: a removed package whose
# configuration files remain still has a version, but is not installed).
installed_version() {
  { dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null || true; } |
    awk '$1 == "installed" {print $2}'
}

# Docker's containerd.io, only where containerd 2.x is not installed yet. On a running node a new
# pin must not upgrade it: the package restarts containerd after every upgrade (Docker's
# packaging: dh_systemd_start --restart-after-upgrade), and that would happen on every host at
# once. So an installed 2.x stays as it is, held; updates go one node at a time (docs/onprem.md).
install_containerd_package() {
  local keyring="$APT_KEYRING_DIR/docker.asc" installed
  install -d -m 0755 "$APT_KEYRING_DIR"
  if [ ! -s "$keyring" ]; then
    # Beside the target, then renamed: an interrupted download leaves no truncated key behind.
    curl -fsSL --retry 5 "https://download.docker.com/linux/$OS_ID/gpg" -o "$keyring.tmp"
    chmod 0644 "$keyring.tmp"
    mv -f "$keyring.tmp" "$keyring"
  fi
  write_file "$APT_SOURCES_DIR/docker.list" 0644 \
    "deb [arch=$(dpkg --print-architecture) signed-by=$keyring] https://download.docker.com/linux/$OS_ID $OS_CODENAME stable"
  installed=$(installed_version containerd.io)
  if [[ $installed == 2.* ]]; then
    log "containerd.io $installed is installed: left as it is (hybrid-kube installs $CONTAINERD_IO_VERSION only on hosts without containerd 2.x; update it one node at a time, see docs/onprem.md)"
  else
    # Refresh when the repository changed or the lists do not offer the wanted version yet (also
    # after an earlier run whose update failed once the repository file was in place).
    if [ "$FILE_CHANGED" = true ] || ! apt_has_candidate containerd.io "$CONTAINERD_IO_VERSION"; then
      apt_update
    fi
    log "installing containerd.io $CONTAINERD_IO_VERSION (installed: ${installed:-none})"
    apt-mark unhold containerd.io >/dev/null 2>&1 || true
    run_logged apt-install-containerd apt_get install --allow-change-held-packages \
      "containerd.io=$CONTAINERD_IO_VERSION"
  fi
  apt-mark hold containerd.io >/dev/null
}

# The pause image to pin here: SANDBOX_IMAGE on a host that is not a node yet; on a node, the one
# its containerd pins already (the upgrade step moves it while the node is drained). Sets SANDBOX.
choose_sandbox_image() {
  SANDBOX=$SANDBOX_IMAGE
  is_node || return 0
  local pinned
  pinned=$(pinned_sandbox_image)
  if [ -n "$pinned" ] && [ "$pinned" != "$SANDBOX_IMAGE" ]; then
    log "$NODE_NAME is a node: containerd keeps the pause image $pinned; the upgrade step pins $SANDBOX_IMAGE while the node is drained"
    SANDBOX=$pinned
  fi
}

CRICTL_CONFIG=/etc/crictl.yaml

install_containerd() {
  install_containerd_package
  choose_sandbox_image
  systemctl enable containerd >/dev/null 2>&1
  apply_containerd_config "$SANDBOX"
  write_file "$CRICTL_CONFIG" 0644 'runtime-endpoint: unix:///run/containerd/containerd.sock'
}

install_kubernetes() {
  if command -v kubeadm >/dev/null 2>&1; then
    log "kubeadm $(kubeadm version -o short) is installed; version changes belong to the upgrade step"
    return 0
  fi
  use_kubernetes_repo "$(minor_of "$K8S_VERSION")"
  install_kube_packages kubelet kubeadm kubectl
  systemctl enable --now kubelet >/dev/null 2>&1
  log "installed kubeadm $(kubeadm version -o short)"
}

create() {
  wait_for_cloud_init
  check_os
  check_cgroup_v2
  configure_kernel
  disable_swap
  install_prerequisites
  install_containerd
  install_kubernetes
  log "host $NODE_NAME is prepared"
}

run_action "$@" </dev/null
