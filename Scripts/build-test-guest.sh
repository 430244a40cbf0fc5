#!/usr/bin/env bash
# Builds the tiny Linux guest the tests and the demo boot: the kernel from Debian's
# linux-image-cloud-amd64 and an initramfs made from busybox-static. Output: .test-guest/
#   vmlinuz          the kernel
#   initramfs.gz     busybox (with a DHCP client script), the ACPI button and virtio modules (console, disk, balloon, net), the QEMU guest agent (qemu-ga,
#                    with the libraries it links), and an init that starts the agent on the
#                    org.qemu.guest_agent.0 port when the guest has one, prints CORRAL-GUEST-BOOTED
#                    on the serial console, keeps a shell on it and on a virtio console (hvc0) when
#                    there is one (for console tests), brings up the
#                    loopback interface (which the agent then reports), and powers off
#                    when the ACPI power button is pressed; with corral.counter, a counter on
#                    the serial console and in the sectors of the first virtio disk; with
#                    corral.virtiofs=TAG, the virtiofs share TAG mounted, read and written;
#                    with corral.noload=NAME, the module NAME not loaded; with corral.scsi,
#                    the SCSI modules (virtio-scsi, disks, generic devices) loaded
# Re-running is cheap: nothing is rebuilt when the outputs are newer than this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.test-guest
built() { [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.gz" ] && [ "$out/initramfs.gz" -nt "$0" ]; }
if built; then exit 0; fi
# Test workers may run this at once: one builds, the others wait for it and find it built.
mkdir -p "$out"
exec 9>"$out/.build-lock"
flock 9
if built; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$image" ] || { apt-get update -qq; image=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
(cd "$work" && apt-get download -qq "$image" busybox-static qemu-guest-agent 2>/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
release=$(ls "$work/root/lib/modules")

root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,lib/modules,tmp,etc}
cp "$work/root/bin/busybox" "$root/bin/busybox"
# In load order: input for the power button, then virtio PCI, the console (virtio-serial),
# disks, the balloon and NICs (for hotplug tests).
modules="drivers/input/evdev.ko drivers/acpi/button.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
  drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko
  drivers/char/virtio_console.ko drivers/block/virtio_blk.ko drivers/virtio/virtio_balloon.ko
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko fs/fuse/fuse.ko fs/fuse/virtiofs.ko"
for module in $modules; do
  cp "$work/root/lib/modules/$release/kernel/$module" "$root/lib/modules/"
done
echo "$modules" | tr ' ' '\n' | sed -n 's|.*/||p' > "$root/lib/modules/order"
# SCSI (virtio-scsi, disks and generic devices), loaded only with corral.scsi.
scsi_modules="drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko drivers/scsi/sd_mod.ko drivers/scsi/sg.ko drivers/scsi/virtio_scsi.ko"
for module in $scsi_modules; do
  cp "$work/root/lib/modules/$release/kernel/$module" "$root/lib/modules/"
done
echo "$scsi_modules" | tr ' ' '\n' | sed -n 's|.*/||p' > "$root/lib/modules/scsi-order"

# The guest agent and the shared libraries it links (resolved by the host's loader: Debian's
# QEMU packages bring the same libraries to the host).
cp "$work/root/usr/sbin/qemu-ga" "$root/bin/qemu-ga"
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
if ldd "$root/bin/qemu-ga" | grep -q 'not found'; then
  echo "qemu-ga needs libraries this host lacks:" >&2; ldd "$root/bin/qemu-ga" | grep 'not found' >&2; exit 1
fi
for lib in $(ldd "$root/bin/qemu-ga" | awk '/=> \//{print $3}'); do cp -L "$lib" "$root/lib/x86_64-linux-gnu/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
# A DHCP client script for busybox's udhcpc: configures the leased address and default route.
mkdir -p "$root/etc"
cat > "$root/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
case "$1" in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      route del default 2>/dev/null
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    echo "CORRAL-GUEST-DHCP $interface $ip" > /dev/ttyS0 ;;
  deconfig) ifconfig "$interface" 0.0.0.0 ;;
esac
DHCP
chmod +x "$root/etc/udhcpc.script"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# corral.noload=NAME leaves the module NAME out (a device the guest must not drive).
for module in $(cat /lib/modules/order); do
  case " $(cat /proc/cmdline) " in *" corral.noload=$(basename "$module" .ko) "*) continue;; esac
  insmod /lib/modules/$module 2>/dev/null
done
case " $(cat /proc/cmdline) " in
  *" corral.scsi "*) for module in $(cat /lib/modules/scsi-order); do insmod /lib/modules/$module 2>/dev/null; done;;
esac
ifconfig lo 127.0.0.1 up
# Each network interface asks for an address by DHCP, in the background (guests without one,
# or on networks without DHCP, boot as before).
for dev in /sys/class/net/eth*; do
  [ -e "$dev" ] && udhcpc -i "$(basename "$dev")" -s /etc/udhcpc.script -b -x hostname:corral-guest >/dev/null 2>&1
done
sleep 0.2
agent=none
for port in /sys/class/virtio-ports/*; do
  if [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
    agent=/dev/$(basename "$port")
    mkdir -p /var/run /tmp/qga
    /bin/qemu-ga -m virtio-serial -p "$agent" -t /tmp/qga -d -f /var/run/qemu-ga.pid
  fi
done
button=
for e in /sys/class/input/event*; do
  if grep -q "Power Button" "$e/device/name" 2>/dev/null; then button=/dev/input/$(basename "$e"); fi
done
# The button's device is opened before the boot is announced: evdev gives a reader only the
# presses made after it opened, and a test presses the button as soon as it reads the line.
[ -n "$button" ] && exec 3< "$button"
echo "CORRAL-GUEST-BOOTED kernel=$(uname -r) agent=$agent button=${button:-none}" > /dev/ttyS0
# With corral.counter on the kernel command line, a counter on the serial console ten times a
# second: the migration tests check it goes on without a gap or a restart on the destination.
# With a first virtio disk, each count is also written to its own 512-byte sector (sector N
# holds "COUNTER N"), synced: storage-copy tests read the destination's image.
if grep -q corral.counter /proc/cmdline; then
  (i=0; while true; do
     echo "COUNTER $i" > /dev/ttyS0
     [ -b /dev/vda ] && echo "COUNTER $i" | dd of=/dev/vda bs=512 seek=$i count=1 conv=sync,fsync 2>/dev/null
     i=$((i+1)); sleep 0.1
   done) &
fi
# With corral.virtiofs=TAG on the kernel command line, the virtiofs share TAG is mounted on
# /mnt: the guest prints its file hello.txt and writes from-guest.txt into it.
tag=$(sed -n 's/.*corral\.virtiofs=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$tag" ]; then
  mkdir -p /mnt
  if mount -t virtiofs "$tag" /mnt; then
    echo "CORRAL-VIRTIOFS-READ $(cat /mnt/hello.txt)" > /dev/ttyS0
    echo "written by the guest" > /mnt/from-guest.txt && sync
    echo "CORRAL-VIRTIOFS-WROTE" > /dev/ttyS0
  else
    echo "CORRAL-VIRTIOFS-FAILED" > /dev/ttyS0
  fi
fi
# A shell on the serial console, started again whenever it exits.
(while true; do setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'; sleep 1; done) &
# And on the virtio console, when the guest has one.
if [ -e /dev/hvc0 ]; then
  echo "CORRAL-GUEST-BOOTED on hvc0" > /dev/hvc0
  (while true; do setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1'; sleep 1; done) &
fi
if [ -n "$button" ]; then
  head -c 1 <&3 > /dev/null
  echo "CORRAL-GUEST-POWEROFF" > /dev/ttyS0
  poweroff -f
fi
while true; do sleep 3600; done
INIT
chmod +x "$root/init"
cp "$work/root/boot/vmlinuz-$release" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initramfs.gz.tmp"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
echo "test guest: $out/vmlinuz ($release), $out/initramfs.gz"
