#!/usr/bin/env bash
# Corral's main job, on embedded defaults: build, start corrald on its default socket, and show
# an unmodified virsh and Corral's own CLI talking to it. The daemon keeps running until Ctrl-C
# (or pass --once to stop it after the showcase).
set -euo pipefail
cd "$(dirname "$0")/.."
once=no
[ "${1:-}" = "--once" ] && once=yes

bash Scripts/install-dependencies.sh
echo "== building (release)"
swift build -c release 2>&1 | tail -n 1
bin=$(swift build -c release --show-bin-path)

if [ "$(id -u)" -eq 0 ]; then run_dir=/run/corral; uri=corral:///system; else run_dir="${XDG_RUNTIME_DIR:-$HOME/.cache}/corral"; uri=corral:///session; fi
sock="$run_dir/corrald-sock"
virsh_uri="qemu+unix:///system?socket=$sock"

echo "== starting corrald (socket $sock)"
"$bin/corrald" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do [ -S "$sock" ] && break; kill -0 $pid 2>/dev/null || exit 1; sleep 0.05; done

show() { echo; echo "\$ $*"; "$@"; }
show virsh -c "$virsh_uri" version --daemon
show virsh -c "$virsh_uri" hostname
show virsh -c "$virsh_uri" nodeinfo
show virsh -c "$virsh_uri" list --all
show virsh -r -c "qemu+unix:///system?socket=$sock-ro" capabilities
show "$bin/corral" version --daemon
show "$bin/corral" list --all
show /usr/bin/python3 -c "import libvirt; c = libvirt.openReadOnly('$virsh_uri'); print(c.getType(), c.getVersion(), c.getHostname(), c.listAllDomains())"

if [ "$once" = yes ]; then exit 0; fi
echo
echo "corrald is running (pid $pid). Try: virsh -c '$virsh_uri' version   or   $bin/corral -c $uri list --all"
echo "Press Ctrl-C to stop it."
wait $pid
