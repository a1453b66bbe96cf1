#!/usr/bin/env bash
# prepare.sh: make a fresh Ubuntu 22.04/24.04 or Debian 12 host ready for kubeadm.
#
# Preamble variables: NODE_NAME, K8S_VERSION ("1.34" or "1.34.2"), CONTAINERD_IO_VERSION (apt
# version glob), SANDBOX_IMAGE. Safe to run again: every step checks before it changes anything,
# and Kubernetes packages already installed are left to the upgrade step.

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

containerd_config() {
  cat <<TOML
# Written by hybrid-kube (prepare.sh). containerd 2.x configuration format.
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$SANDBOX_IMAGE'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
TOML
}

install_containerd() {
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
  installed=$(dpkg-query -W -f='${Version}' containerd.io 2>/dev/null || true)
  # shellcheck disable=SC2053 # CONTAINERD_IO_VERSION is a glob on purpose
  if [[ $installed != $CONTAINERD_IO_VERSION ]]; then
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
  write_file /etc/containerd/config.toml 0644 "$(containerd_config)"
  systemctl enable containerd >/dev/null 2>&1
  if [ "$FILE_CHANGED" = true ]; then
    systemctl restart containerd
  else
    systemctl start containerd
  fi
  write_file /etc/crictl.yaml 0644 'runtime-endpoint: unix:///run/containerd/containerd.sock'
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
  configure_kernel
  disable_swap
  install_prerequisites
  install_containerd
  install_kubernetes
  log "host $NODE_NAME is prepared"
}

run_action "$@" </dev/null
