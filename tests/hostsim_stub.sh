#!/bin/bash
# hostsim stub: answers for the command it is called as. State: @STATE@, cluster: @CLUSTER@.
S=@STATE@
C=@CLUSTER@
HOST=@HOST@
ADDRESS=@ADDRESS@
BIN=/usr/local/sbin
name=${0##*/}
printf '%s\n' "$name $*" >>"$S/calls"
# What the scripts give kubectl, verbatim (kubectl's jsonpath escapes a dot inside a key as \.).
KUBELET_VERSION_JSONPATH='jsonpath={.status.nodeInfo.kubeletVersion}'
MARK_JSONPATH='jsonpath={.metadata.annotations.hybrid-kube\.io/upgrade-cordoned}'
NODES_TEMPLATE='{{range .items}}{{.metadata.name}} {{if .spec.unschedulable}}cordoned{{else}}open{{end}} '
NODES_TEMPLATE+='{{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}} '
NODES_TEMPLATE+='{{range .spec.taints}}{{.effect}},{{end}}{{"\n"}}{{end}}'
CSR_TEMPLATE='{{range .items}}{{if and (eq .spec.signerName "kubernetes.io/kubelet-serving") (not .status.conditions)}}'
CSR_TEMPLATE+='{{.metadata.name}} {{.spec.username}}{{"\n"}}{{end}}{{end}}'
ETCDCTL='etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt'
ETCDCTL+=' --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key'
config_arg() {
  while [ "$#" -gt 0 ]; do
    if [ "$1" = --config ]; then echo "$2"; return; fi
    shift
  done
}
see_config() { # keep what kubeadm was given, to check the file existed and what it held
  local file
  file=$(config_arg "$@")
  [ -n "$file" ] || return 0
  if [ ! -f "$file" ]; then echo "open $file: no such file or directory" >&2; exit 1; fi
  mkdir -p "$S/seen"
  cp "$file" "$S/seen/kubeadm-$1.yaml"
}
if [ "$name" = kubeadm ]; then # keep what kubeadm is given, even when it is made to fail
  case "$1 ${2:-}" in
    "init phase") see_config "admit-$3" "$@" ;;
    *) see_config "$1" "$@" ;;
  esac
fi
# Injected failures: lines "GLOB<TAB>CODE<TAB>MESSAGE<TAB>WHEN"; WHEN "after" lets the call do
# its work first (a command that fails after its side effects), anything else fails it at once.
fail_late() {
  local status=$?
  if [ "$status" -eq 0 ]; then printf '%s\n' "$late_message" >&2; status=$late_code; fi
  exit "$status"
}
if [ -s "$S/fail" ]; then
  while IFS=$'\t' read -r glob code message when; do
    # shellcheck disable=SC2053
    if [[ "$name $*" == $glob ]]; then
      if [ "$when" = after ]; then
        late_code=$code late_message=$message
        trap fail_late EXIT
        break
      fi
      printf '%s\n' "$message" >&2
      exit "$code"
    fi
  done <"$S/fail"
fi
installed() { awk -v p="$1" '$1 == p {print $2; exit}' "$S/installed"; }
kv() { awk -F= -v k="$2" '$1 == k {print substr($0, length(k) + 2); exit}' "$1" 2>/dev/null; }
setkv() {
  local file=$1 key=$2 value=$3
  touch "$file"
  { grep -v "^$key=" "$file" || true; printf '%s=%s\n' "$key" "$value"; } >"$file.new"
  mv "$file.new" "$file"
}
# The kubelet service: a real process, a copy of sleep run from $S/kubelet-bin. Installing the
# kubelet package replaces that file the way dpkg replaces /usr/bin/kubelet (a new file renamed
# over it), so a kubelet started before the install runs a deleted executable and the kernel
# shows its /proc/PID/exe as "$S/kubelet-bin (deleted)". tests/hostsim.py kills it at exit.
kubelet_pid() { # what `systemctl show --property MainPID --value kubelet` prints: 0 when stopped
  local pid exe
  pid=$(cat "$S/kubelet-pid" 2>/dev/null || echo 0)
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  case "$exe" in "$S/kubelet-bin" | "$S/kubelet-bin (deleted)") echo "$pid" ;; *) echo 0 ;; esac
}
kubelet_stop() {
  local pid
  pid=$(kubelet_pid)
  if [ "$pid" != 0 ]; then kill "$pid" 2>/dev/null || true; fi
  echo 0 >"$S/kubelet-pid"
}
kubelet_start() {
  [ "$(kubelet_pid)" = 0 ] || return 0
  [ -f "$S/kubelet-bin" ] || { echo "Failed to start kubelet.service: Unit kubelet.service not found." >&2; return 5; }
  (cd / && exec "$S/kubelet-bin" infinity </dev/null >/dev/null 2>&1) &
  echo "$!" >"$S/kubelet-pid"
  local tries=0 # started once it runs the binary (until its exec, /proc shows this bash)
  while [ "$(kubelet_pid)" = 0 ] && [ "$tries" -lt 100 ]; do /usr/bin/sleep 0.05; tries=$((tries + 1)); done
  # A (re)started kubelet reports the version it runs on its Node.
  if [ -f "$C/nodes/$HOST" ]; then setkv "$C/nodes/$HOST" version "v$(installed kubelet | cut -d- -f1)"; fi
}
place_kubelet_binary() {
  cp /usr/bin/sleep "$S/kubelet-bin.dpkg-new"
  mv -f "$S/kubelet-bin.dpkg-new" "$S/kubelet-bin"
}
install_package() {
  local package=${1%%=*} glob=${1#*=} version command
  version=$(awk -v p="$package" '$1 == p {print $2}' "$S/lists" | while read -r v; do
    # shellcheck disable=SC2053
    [[ $v == $glob ]] && { echo "$v"; break; }; done)
  if [ -z "$version" ]; then
    echo "E: Version '$glob' for '$package' was not found" >&2
    return 100
  fi
  if grep -qx "$package" "$S/holds" 2>/dev/null; then
    echo "E: Held packages were changed and -y was used without --allow-change-held-packages." >&2
    case " $ARGS " in *" --allow-change-held-packages "*) ;; *) return 100 ;; esac
  fi
  { grep -v "^$package " "$S/installed" || true; echo "$package $version"; } >"$S/installed.new"
  mv "$S/installed.new" "$S/installed"
  for command in $(awk -v p="$package" '$1 == p {print $2}' "$S/package-commands"); do
    ln -sf stub "$BIN/$command"
  done
  if [ "$package" = kubelet ]; then place_kubelet_binary; fi
  echo "Setting up $package ($version) ..."
}
# signed_source LIST: apt refuses a repository whose signed-by keyring is missing or empty.
signed_source() {
  local keyring
  keyring=$(sed -nE 's/.*signed-by=([^] ]+).*/\1/p' "$1")
  if [ -z "$keyring" ] || [ ! -s "$keyring" ]; then
    echo "E: The repository in $1 is not signed (signed-by keyring '${keyring}' is missing or empty)." >&2
    return 1
  fi
}
kubeconfig() { printf 'apiVersion: v1\nkind: Config\n# %s\n' "$1"; }
# check_config FILE MODE: what kubeadm would refuse in its --config (MODE init, join or admit):
# not YAML, a missing or foreign kind, a leftover @...@ placeholder, a kubernetesVersion other
# than the installed kubeadm's. Prints the taints the node registers with (kubeadm's default for
# a control plane, NoSchedule, when nodeRegistration.taints is absent; none for a worker).
check_config() {
  @PYTHON@ - "$1" "$2" "v$(installed kubeadm | cut -d- -f1)" <<'PY'
import re, sys, yaml
path, mode, version = sys.argv[1:]
def fail(message):
    print(f"kubeadm: {path}: {message}", file=sys.stderr)
    sys.exit(1)
text = open(path).read()
if found := re.search(r"@[A-Za-z_]+@", text):
    fail(f"unreplaced placeholder {found.group()}")
try:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
except yaml.YAMLError as error:
    fail(f"not YAML: {error}")
kinds = [d.get("kind") for d in docs]
want = {"init": ["InitConfiguration", "ClusterConfiguration"], "admit": ["InitConfiguration", "ClusterConfiguration"], "join": ["JoinConfiguration"]}[mode]
allowed = {"init": {"KubeletConfiguration", "KubeProxyConfiguration"}, "admit": set(), "join": set()}[mode] | set(want)
if sorted(set(kinds) & set(want)) != sorted(want) or not set(kinds) <= allowed or len(kinds) != len(set(kinds)):
    fail(f"kinds {kinds}; expected {want} (and only {sorted(allowed)})")
cluster = next((d for d in docs if d["kind"] == "ClusterConfiguration"), {})
if mode == "init" and cluster.get("kubernetesVersion") != version:
    fail(f"kubernetesVersion {cluster.get('kubernetesVersion')!r} is not the installed kubeadm's {version}")
node = docs[kinds.index("JoinConfiguration" if mode == "join" else "InitConfiguration")]
taints = (node.get("nodeRegistration") or {}).get("taints")
control_plane = mode == "init" or "controlPlane" in node
if taints is None:
    taints = [{"effect": "NoSchedule"}] if control_plane else []
print("".join(t["effect"] + "," for t in taints))
PY
}
add_node() { # add_node TAINTS
  mkdir -p "$C/nodes"
  printf 'version=v%s\ncordoned=0\nready=True\nmark=\nserving=0\ntaints=%s\n' \
    "$(installed kubelet | cut -d- -f1)" "$1" >"$C/nodes/$HOST"
  # The kubelet asks for its serving certificate (serverTLSBootstrap).
  mkdir -p "$C/csr"
  local csr="csr-$HOST"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout /dev/null -subj "/O=system:nodes/CN=system:node:$HOST" \
    -addext "subjectAltName=DNS:$HOST,IP:$ADDRESS" 2>/dev/null | base64 -w0 >"$C/csr/$csr.request"
  printf 'user=system:node:%s\napproved=0\n' "$HOST" >"$C/csr/$csr"
}
add_member() {
  local id
  id=$(printf '%s' "$HOST" | sha256sum | cut -c1-16)
  grep -q "^$id, " "$C/members" 2>/dev/null ||
    printf '%s, started, %s, https://%s:2380, https://%s:2379, false\n' "$id" "$HOST" "$ADDRESS" "$ADDRESS" >>"$C/members"
}
control_plane_files() {
  mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki/etcd
  kubeconfig admin >/etc/kubernetes/admin.conf
  kubeconfig controller-manager >/etc/kubernetes/controller-manager.conf
  kubeconfig scheduler >/etc/kubernetes/scheduler.conf
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    kubeadm: x\n  name: kube-apiserver\n  namespace: kube-system\n' \
    >/etc/kubernetes/manifests/kube-apiserver.yaml
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n' >/etc/kubernetes/manifests/etcd.yaml
  mkdir -p /var/lib/etcd
  add_member
}
case "$name" in
  sudo)
    [ "${1:-}" = -n ] || { echo "sudo: a password is required" >&2; exit 1; }
    shift
    exec "$@"
    ;;
  apt-get)
    ARGS="$*"
    for arg in "$@"; do case "$arg" in update) ACTION=update ;; install) ACTION=install ;; esac; done
    case "${ACTION:-}" in
      update)
        : >"$S/lists"
        if [ -f /etc/apt/sources.list.d/kubernetes.list ]; then
          signed_source /etc/apt/sources.list.d/kubernetes.list || exit 100
          # pkgs.k8s.io has one repository per minor: it offers that minor's packages only.
          minor=$(sed -nE 's|.*https://pkgs\.k8s\.io/core:/stable:/v([0-9]+\.[0-9]+)/deb/ /$|\1|p' /etc/apt/sources.list.d/kubernetes.list)
          if [ -z "$minor" ]; then
            echo "E: Malformed entry 1 in list file /etc/apt/sources.list.d/kubernetes.list" >&2
            exit 100
          fi
          for p in kubelet kubeadm kubectl; do
            for v in $(grep "^$minor\." "$S/k8s-versions"); do echo "$p $v" >>"$S/lists"; done
          done
          echo "cri-tools $minor.0-1.1" >>"$S/lists"
        fi
        if [ -f /etc/apt/sources.list.d/docker.list ]; then
          signed_source /etc/apt/sources.list.d/docker.list || exit 100
          echo "containerd.io $(cat "$S/containerd-version")" >>"$S/lists"
        fi
        for p in ca-certificates curl gpg; do echo "$p 1.0" >>"$S/lists"; done
        echo "Reading package lists... Done"
        ;;
      install)
        seen=0
        for arg in "$@"; do
          if [ "$seen" = 1 ] && [ "${arg#-}" = "$arg" ]; then
            case "$arg" in *=*) install_package "$arg" || exit 100 ;; *) install_package "$arg=*" || exit 100 ;; esac
          fi
          if [ "$arg" = install ]; then seen=1; fi
        done
        ;;
    esac
    ;;
  apt-cache)
    [ "$1" = madison ] || exit 0
    awk -v p="$2" '$1 == p {printf " %s | %s | https://example.invalid Packages\n", $1, $2}' "$S/lists"
    ;;
  apt-mark)
    action=$1
    shift
    for p in "$@"; do
      case "$action" in
        hold) grep -qx "$p" "$S/holds" 2>/dev/null || echo "$p" >>"$S/holds"; echo "$p set on hold." ;;
        unhold) { grep -vx "$p" "$S/holds" || true; } >"$S/holds.new"; mv "$S/holds.new" "$S/holds" ;;
      esac
    done
    ;;
  dpkg)
    [ "$1" = --print-architecture ] && echo amd64
    ;;
  dpkg-query)
    format=${2#-f=}
    version=$(installed "$3")
    if [ -z "$version" ]; then echo "dpkg-query: no packages found matching $3" >&2; exit 1; fi
    case "$format" in
      *db:Status-Status*) printf 'installed %s\n' "$version" ;;
      *) printf 'install ok installed' ;;
    esac
    ;;
  systemctl)
    case "$*" in
      "show --property MainPID --value kubelet") kubelet_pid ;;
      "restart kubelet") kubelet_stop; kubelet_start ;;
      "start kubelet" | "enable --now kubelet") kubelet_start ;;
      "stop kubelet") kubelet_stop ;;
      restart\ * | start\ * | stop\ * | enable\ * | mask\ * | daemon-reload | disable\ *) ;;
      *) echo "systemctl: unexpected $*" >&2; exit 1 ;;
    esac
    ;;
  modprobe | swapoff | sleep) ;;
  sysctl)
    case "$1" in
      -n) kv "$S/sysctl" "$2" ;;
      --system) setkv "$S/sysctl" net.ipv4.ip_forward 1 ;;
    esac
    ;;
  curl)
    out=""
    url=""
    while [ "$#" -gt 0 ]; do
      case "$1" in
        -o) out=$2; shift ;;
        --retry | --max-time) shift ;;
        -*) ;;
        *) url=$1 ;;
      esac
      shift
    done
    case "$url" in
      https://127.0.0.1:6443/readyz) exit 0 ;;
      https://pkgs.k8s.io/core:/stable:/v1.[0-9]*/deb/Release.key | https://download.docker.com/linux/ubuntu/gpg | https://download.docker.com/linux/debian/gpg)
        if [ -n "$out" ]; then printf '%s\n' "@KEY@" >"$out"; else printf '%s\n' "@KEY@"; fi ;;
      *) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;;
    esac
    ;;
  gpg)
    out=""
    while [ "$#" -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
    input=$(cat)
    case "$input" in
      *"-----BEGIN PGP PUBLIC KEY BLOCK-----"*"-----END PGP PUBLIC KEY BLOCK-----"*)
        printf 'binary-keyring\n' >"$out" ;;
      *) : >"$out"; echo "gpg: no valid OpenPGP data found." >&2; exit 2 ;;
    esac
    ;;
  ip)
    case "$*" in
      "-o addr show") cat "$S/interfaces" ;;
      "link delete "*) grep -qx "$3" "$S/links" 2>/dev/null || { echo "Cannot find device \"$3\"" >&2; exit 1; } ;;
      *) echo "ip: unexpected $*" >&2; exit 1 ;;
    esac
    ;;
  stat)
    if [ "$*" = "-fc %T /sys/fs/cgroup" ]; then cat "$S/cgroup"; else exec /usr/bin/stat "$@"; fi
    ;;
  iptables-save | ip6tables-save)
    printf '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-FIREWALL\n-A INPUT -j ACCEPT\nCOMMIT\n'
    ;;
  iptables-restore | ip6tables-restore)
    cat >"$S/$name.input"
    ;;
  kubelet)
    [ "$1" = --version ] && echo "Kubernetes v$(installed kubelet | cut -d- -f1)"
    ;;
  containerd | crictl) ;;
  kubeadm)
    case "$1 ${2:-}" in
      "version -o") echo "v$(installed kubeadm | cut -d- -f1)" ;;
      "init --config")
        taints=$(check_config "$3" init) || exit 1
        if [ -f /etc/kubernetes/admin.conf ]; then
          echo "error execution phase preflight: [preflight] Some fatal errors occurred:" >&2
          echo "	[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: already exists" >&2
          exit 1
        fi
        [ -f /etc/kubernetes/pki/ca.crt ] || printf 'kubeadm-generated CA\n' >/etc/kubernetes/pki/ca.crt
        cp /etc/kubernetes/pki/ca.crt "$C/ca.crt"
        control_plane_files
        kubeconfig super-admin >/etc/kubernetes/super-admin.conf
        kubeconfig kubelet >/etc/kubernetes/kubelet.conf
        mkdir -p /var/lib/kubelet "$C/configmaps"
        printf 'kind: ClusterConfiguration\nkubernetesVersion: %s\n' "$(kubeadm version -o short)" >"$C/configmaps/kubeadm-config"
        kubeadm version -o short >"$C/server-version"
        add_node "$taints"
        kubelet_stop && kubelet_start # kubeadm's kubelet-start phase restarts it
        echo "Your Kubernetes control-plane has initialized successfully!"
        ;;
      "join --config")
        if [ -f /etc/kubernetes/kubelet.conf ]; then
          echo "error execution phase preflight: [preflight] Some fatal errors occurred:" >&2
          echo "	[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists" >&2
          exit 1
        fi
        taints=$(check_config "$3" join) || exit 1
        control_plane=false
        if grep -q '^controlPlane:' "$3"; then control_plane=true; fi
        if [ "$control_plane" = false ] && [ -e /etc/kubernetes/pki/ca.crt ]; then
          # kubeadm's join preflight (FileAvailableCheck on the CA, for a worker only).
          echo "error execution phase preflight: [preflight] Some fatal errors occurred:" >&2
          echo "	[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists" >&2
          exit 1
        fi
        mkdir -p /etc/kubernetes/pki /var/lib/kubelet
        cp "$C/ca.crt" /etc/kubernetes/pki/ca.crt
        kubeconfig kubelet >/etc/kubernetes/kubelet.conf
        if [ "$control_plane" = true ]; then control_plane_files; fi
        add_node "$taints"
        kubelet_stop && kubelet_start # kubeadm's kubelet-start phase restarts it
        echo "This node has joined the cluster"
        ;;
      "reset -f")
        kubelet_stop # kubeadm reset stops the kubelet service first
        rm -rf /etc/kubernetes/pki /etc/kubernetes/manifests /var/lib/kubelet /var/lib/etcd
        rm -f /etc/kubernetes/*.conf
        ;;
      "init phase") check_config "$(config_arg "$@")" admit >/dev/null || exit 1 ;;
      "upgrade plan" | "upgrade node") ;;
      "upgrade apply")
        echo "$4" >"$C/server-version"
        printf 'kind: ClusterConfiguration\nkubernetesVersion: %s\n' "$4" >"$C/configmaps/kubeadm-config"
        ;;
      *) echo "kubeadm: unexpected $*" >&2; exit 1 ;;
    esac
    ;;
  kubectl)
    [ "$1" = --kubeconfig ] || { echo "kubectl: expected --kubeconfig" >&2; exit 1; }
    [ -f "$2" ] || { echo "error: stat $2: no such file or directory" >&2; exit 1; }
    shift 2
    # Each arm is the exact command line a script sends (its templates and jsonpaths verbatim, as
    # kubectl would parse them); any other line, a typo included, fails loudly.
    unexpected() { echo "unexpected kubectl invocation: $*" >&2; exit 1; }
    node=${3:-}
    case "$*" in
      "get node $node -o $KUBELET_VERSION_JSONPATH") [ "$#" = 5 ] || unexpected "$@"; kv "$C/nodes/$node" version ;;
      "get node $node -o $MARK_JSONPATH") [ "$#" = 5 ] || unexpected "$@"; kv "$C/nodes/$node" mark ;;
      "get node $node")
        [ "$#" = 3 ] || unexpected "$@"
        [ -f "$C/nodes/$node" ] || { echo "Error from server (NotFound): nodes \"$node\" not found" >&2; exit 1; }
        ;;
      "get nodes -o go-template=$NODES_TEMPLATE")
        for f in "$C"/nodes/*; do
          [ -f "$f" ] || continue
          if [ "$(kv "$f" cordoned)" = 1 ]; then state=cordoned; else state=open; fi
          printf '%s %s %s %s\n' "${f##*/}" "$state" "$(kv "$f" ready)" "$(kv "$f" taints)"
        done
        ;;
      "get --raw /version") printf '{\n  "gitVersion": "%s"\n}\n' "$(cat "$C/server-version")" ;;
      "get --raw /api/v1/nodes/"*"/proxy/healthz")
        node=${3#/api/v1/nodes/}
        node=${node%/proxy/healthz}
        [ -f "$C/nodes/$node" ] || { echo "Error from server (NotFound): nodes \"$node\" not found" >&2; exit 1; }
        [ "$(kv "$C/nodes/$node" serving)" = 1 ]
        ;;
      "get csr -o go-template=$CSR_TEMPLATE")
        for f in "$C"/csr/*; do
          case "$f" in *.request) continue ;; esac
          [ -f "$f" ] || continue
          [ "$(kv "$f" approved)" = 1 ] || printf '%s %s\n' "${f##*/}" "$(kv "$f" user)"
        done
        ;;
      "get csr $3 -o jsonpath={.spec.request}") cat "$C/csr/$3.request" ;;
      "certificate approve $3")
        [ -f "$C/csr/$3" ] || { echo "Error from server (NotFound): certificatesigningrequests \"$3\" not found" >&2; exit 1; }
        setkv "$C/csr/$3" approved 1
        setkv "$C/nodes/${3#csr-}" serving 1
        ;;
      "label node $node node-role.kubernetes.io/worker= --overwrite")
        [ -f "$C/nodes/$node" ] || { echo "Error from server (NotFound): nodes \"$node\" not found" >&2; exit 1; }
        setkv "$C/nodes/$node" label "$4"
        ;;
      "drain $2 --ignore-daemonsets --delete-emptydir-data --timeout="[0-9]*s | "cordon $2")
        [ -f "$C/nodes/$2" ] || { echo "Error from server (NotFound): nodes \"$2\" not found" >&2; exit 1; }
        setkv "$C/nodes/$2" cordoned 1
        ;;
      "uncordon $2") setkv "$C/nodes/$2" cordoned 0 ;;
      "annotate node $node --overwrite hybrid-kube.io/upgrade-cordoned="?*)
        [ "$#" = 5 ] || unexpected "$@"
        setkv "$C/nodes/$node" mark "${5#*=}" ;;
      "annotate node $node hybrid-kube.io/upgrade-cordoned-") setkv "$C/nodes/$node" mark "" ;;
      "wait --for=condition=Ready node/${3#node/} --timeout=600s") [ "$(kv "$C/nodes/${3#node/}" ready)" = True ] ;;
      "delete node $node --ignore-not-found") rm -f "$C/nodes/$node" ;;
      "-n kube-system get configmap kubeadm-config -o jsonpath={.data.ClusterConfiguration}")
        cat "$C/configmaps/kubeadm-config" ;;
      "-n kube-system create configmap hybrid-kube-upgrade-lock --from-literal=holder="*)
        mkdir -p "$C/configmaps"
        [ ! -f "$C/configmaps/$5" ] || { echo "error: configmaps \"$5\" already exists" >&2; exit 1; }
        printf 'holder=%s\ncreated=%s\n' "${6#--from-literal=holder=}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$C/configmaps/$5"
        ;;
      "-n kube-system get configmap hybrid-kube-upgrade-lock -o jsonpath={.data.holder}") kv "$C/configmaps/$5" holder ;;
      "-n kube-system get configmap hybrid-kube-upgrade-lock -o jsonpath={.metadata.creationTimestamp}") kv "$C/configmaps/$5" created ;;
      "-n kube-system delete configmap hybrid-kube-upgrade-lock --ignore-not-found") rm -f "$C/configmaps/$5" ;;
      "-n kube-system exec etcd-"*" -- $ETCDCTL member list") cat "$C/members" ;;
      "-n kube-system exec etcd-"*" -- $ETCDCTL endpoint health --cluster")
        # etcdctl: healthy endpoints on stdout, unhealthy ones on stderr and exit 1.
        awk -F', ' -v down=" $(cat "$C/down" 2>/dev/null) " '
          $5 == "" { next }
          index(down, " " $3 " ") {
            print $5 " is unhealthy: failed to commit proposal: context deadline exceeded" >"/dev/stderr"
            bad = 1
            next
          }
          { print $5 " is healthy: successfully committed proposal: took = 1.2ms" }
          END { if (bad) { print "Error: unhealthy cluster" >"/dev/stderr"; exit 1 } }
        ' "$C/members"
        ;;
      "-n kube-system exec etcd-"*" -- $ETCDCTL member remove "*)
        id=${!#}
        if ! grep -q "^$id, " "$C/members"; then echo "Error: etcdserver: member not found" >&2; exit 1; fi
        grep -v "^$id, " "$C/members" >"$C/members.new" || true
        mv "$C/members.new" "$C/members"
        ;;
      *) unexpected "$@" ;;
    esac
    ;;
  *) echo "hostsim: no stub for $name" >&2; exit 127 ;;
esac
