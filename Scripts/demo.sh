#!/usr/bin/env bash
# Corral's main job, on embedded defaults: build, start corrald on its default socket, and show
# an unmodified virsh and Corral's own CLI talking to it. The daemon keeps running until Ctrl-C
# (or pass --once to stop it after the showcase).
set -euo pipefail
cd "$(dirname "$0")/.."
once=no
[ "${1:-}" = "--once" ] && once=yes

bash Scripts/install-dependencies.sh
bash Scripts/build-test-guest.sh
echo "== building (release)"
swift build -c release --static-swift-stdlib 2>&1 | tail -n 1
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)

if [ "$(id -u)" -eq 0 ]; then run_dir=/run/corral; uri=corral:///system; else run_dir="${XDG_RUNTIME_DIR:-$HOME/.cache}/corral"; uri=corral:///session; fi
sock="$run_dir/corrald-sock"
virsh_uri="qemu+unix:///system?socket=$sock"

echo "== starting corrald (socket $sock)"
"$bin/corrald" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do [ -S "$sock" ] && break; kill -0 $daemon 2>/dev/null || exit 1; sleep 0.05; done

show() { echo; echo "\$ $*"; "$@"; }
show virsh -c "$virsh_uri" version --daemon
show virsh -c "$virsh_uri" hostname
show virsh -c "$virsh_uri" nodeinfo
show virsh -c "$virsh_uri" list --all
show virsh -r -c "qemu+unix:///system?socket=$sock-ro" capabilities
show "$bin/corral" version --daemon

# A demo guest: the test kernel and initramfs, with a little passthrough — an extra argument, an
# extra environment variable, a QEMU configuration-file section written as XML, a device property
# override and an alteration rule.
demo_dir="$run_dir/demo"
mkdir -p "$demo_dir"
cat > "$demo_dir/demo.xml" <<XML
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>corral-demo</name>
  <memory unit='MiB'>128</memory>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$PWD/.test-guest/vmlinuz</kernel>
    <initrd>$PWD/.test-guest/initramfs.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='file'><source path='$demo_dir/serial.log'/></serial>
    <interface type='user'><model type='virtio'/><alias name='ua-net0'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-device'/>
    <qemu:arg value='pvpanic'/>
    <qemu:env name='CORRAL_DEMO' value='1'/>
    <qemu:alter option='-rtc'><qemu:modify>driftfix=slew</qemu:modify></qemu:alter>
  </qemu:commandline>
  <qemu:override>
    <qemu:device alias='ua-net0'><qemu:frontend><qemu:property name='x-txburst' type='unsigned' value='128'/></qemu:frontend></qemu:device>
  </qemu:override>
  <qemu:object id='demo-rng'><qom-type>rng-random</qom-type><filename>/dev/urandom</filename></qemu:object>
</domain>
XML
rm -f "$demo_dir/serial.log"
virsh -q -c "$virsh_uri" destroy corral-demo >/dev/null 2>&1 || true
virsh -q -c "$virsh_uri" undefine corral-demo >/dev/null 2>&1 || true
show virsh -c "$virsh_uri" define "$demo_dir/demo.xml"
show virsh -c "$virsh_uri" start corral-demo
for _ in $(seq 1 100); do grep -q CORRAL-GUEST-BOOTED "$demo_dir/serial.log" 2>/dev/null && break; sleep 0.1; done
echo; echo "\$ cat $demo_dir/serial.log"; cat "$demo_dir/serial.log" 2>/dev/null || true
show "$bin/corral" list --all
show virsh -c "$virsh_uri" dominfo corral-demo
show virsh -c "$virsh_uri" dumpxml corral-demo
pid=$(sed -n "s/.* pid='\([0-9]*\)'.*/\1/p" "$run_dir/domains/corral-demo/status.xml")
echo; echo "QEMU's command line (pid $pid), with the passthrough applied:"; tr '\0' ' ' < "/proc/$pid/cmdline"; echo
show /usr/bin/python3 -c "import libvirt; c = libvirt.openReadOnly('$virsh_uri'); d = c.lookupByName('corral-demo'); print(c.getType(), c.getVersion(), d.name(), d.state())"

# Monitor passthrough: raw QMP and HMP on the guest's dedicated passthrough session, the guest
# agent, QMP events, and a QMP proxy that qmp-shell (QEMU's own tool) drives while virsh manages
# the same guest.
echo; echo "== monitor passthrough"
show virsh -c "$virsh_uri" qemu-monitor-command corral-demo --pretty '{"execute":"query-status"}'
show virsh -c "$virsh_uri" qemu-monitor-command corral-demo --hmp 'info name'
for _ in $(seq 1 100); do grep -q 'agent=/dev' "$demo_dir/serial.log" 2>/dev/null && break; sleep 0.1; done
show virsh -c "$virsh_uri" qemu-agent-command corral-demo '{"execute":"guest-ping"}'
"$bin/corral" -c "$uri" qemu-monitor-event corral-demo --loop --timeout 3 > "$demo_dir/events.log" &
events=$!
"$bin/corral" -c "$uri" qmp-proxy corral-demo --socket "$demo_dir/qmp.sock" > /dev/null &
proxy=$!
for _ in $(seq 1 100); do [ -S "$demo_dir/qmp.sock" ] && break; sleep 0.05; done
sleep 0.5
echo; echo "\$ printf 'stop\\nquery-status\\n' | qmp-shell $demo_dir/qmp.sock   (through corral qmp-proxy)"
printf 'stop\nquery-status\n' | /usr/bin/python3 -m qemu.qmp.qmp_shell "$demo_dir/qmp.sock" | sed -n 's/^(QEMU) //p'
show virsh -c "$virsh_uri" domstate corral-demo --reason
show virsh -c "$virsh_uri" resume corral-demo
wait $events || true
echo; echo "\$ corral qemu-monitor-event corral-demo --loop --timeout 3   (meanwhile)"; cat "$demo_dir/events.log"
kill $proxy 2>/dev/null; wait $proxy 2>/dev/null || true
show virsh -c "$virsh_uri" dominfo corral-demo

if [ "$once" = yes ]; then
  show virsh -c "$virsh_uri" shutdown corral-demo
  for _ in $(seq 1 100); do virsh -c "$virsh_uri" domstate corral-demo | grep -q "shut off" && break; sleep 0.1; done
  show virsh -c "$virsh_uri" domstate corral-demo --reason
  virsh -q -c "$virsh_uri" undefine corral-demo >/dev/null
  exit 0
fi
echo
echo "corrald and the corral-demo guest are running. Try: virsh -c '$virsh_uri' list   or   $bin/corral -c $uri shutdown corral-demo"
echo "Press Ctrl-C to stop it."
wait $daemon
