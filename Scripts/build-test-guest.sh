#!/usr/bin/env bash
# Builds the tiny Linux guest the tests and the demo boot: the kernel from Debian's
# linux-image-cloud-amd64 and an initramfs made from busybox-static. Output: .test-guest/
#   vmlinuz          the kernel
#   initramfs.gz     busybox, the ACPI button module, and an init that prints CORRAL-GUEST-BOOTED
#                    on the serial console and powers off when the ACPI power button is pressed
# Re-running is cheap: nothing is rebuilt when the outputs are newer than this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.test-guest
if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.gz" ] && [ "$out/initramfs.gz" -nt "$0" ]; then exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$image" ] || { apt-get update -qq; image=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
(cd "$work" && apt-get download -qq "$image" busybox-static 2>/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
release=$(ls "$work/root/lib/modules")

root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,lib/modules,tmp,etc}
cp "$work/root/bin/busybox" "$root/bin/busybox"
for module in drivers/input/evdev.ko drivers/acpi/button.ko; do
  cp "$work/root/lib/modules/$release/kernel/$module" "$root/lib/modules/"
done
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
insmod /lib/modules/evdev.ko 2>/dev/null
insmod /lib/modules/button.ko 2>/dev/null
sleep 0.2
button=
for e in /sys/class/input/event*; do
  if grep -q "Power Button" "$e/device/name" 2>/dev/null; then button=/dev/input/$(basename "$e"); fi
done
echo "CORRAL-GUEST-BOOTED kernel=$(uname -r) button=${button:-none}" > /dev/ttyS0
if [ -n "$button" ]; then
  head -c 1 "$button" > /dev/null
  echo "CORRAL-GUEST-POWEROFF" > /dev/ttyS0
  poweroff -f
fi
while true; do sleep 3600; done
INIT
chmod +x "$root/init"
mkdir -p "$out"
cp "$work/root/boot/vmlinuz-$release" "$out/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initramfs.gz.tmp"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
echo "test guest: $out/vmlinuz ($release), $out/initramfs.gz"
