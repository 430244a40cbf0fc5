#!/usr/bin/env bash
# Starts or stops a libvirtd for the tests without disturbing one that is already running.
#   test-libvirtd.sh start   prints "started" (and remembers the pid) or "existing"
#   test-libvirtd.sh stop    stops it only if this script started it
set -euo pipefail
pidfile=/run/corral-test-libvirtd.pid
sock=/run/libvirt/libvirt-sock
case "${1:-}" in
  start)
    # libvirtd hands guest logs to virtlogd; start one if none runs, also beside a libvirtd
    # that was already running (its virtlogd may have gone). A socket file alone proves
    # nothing: one killed leaves it behind.
    ensure_virtlogd() {
      if [ "$(id -u)" -eq 0 ] && ! pgrep -x virtlogd >/dev/null; then
        mkdir -p /var/log/libvirt /run/libvirt
        rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
        virtlogd -d -p /run/corral-test-virtlogd.pid
      fi
    }
    if [ -S "$sock" ] && virsh -c qemu:///system -q version >/dev/null 2>&1; then ensure_virtlogd; echo existing; exit 0; fi
    [ "$(id -u)" -eq 0 ] || { echo "libvirtd needs root here" >&2; exit 1; }
    mkdir -p /var/log/libvirt /run/libvirt
    ensure_virtlogd
    libvirtd -d -p "$pidfile"
    for _ in $(seq 1 100); do
      if virsh -c qemu:///system -q version >/dev/null 2>&1; then echo started; exit 0; fi
      sleep 0.1
    done
    echo "libvirtd did not start" >&2; exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
    fi
    if [ -f /run/corral-test-virtlogd.pid ]; then
      kill "$(cat /run/corral-test-virtlogd.pid)" 2>/dev/null || true
      rm -f /run/corral-test-virtlogd.pid
    fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
