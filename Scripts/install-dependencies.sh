#!/usr/bin/env bash
# Installs what Corral's demo and tests need from Debian's packages and PyPI, when missing, and
# prepares a container for running libvirtd (the anchor the tests compare against).
set -euo pipefail

packages=(qemu-system-x86 qemu-utils qemu-block-extra libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu
          python3-libvirt python3-pytest python3-pytest-xdist python3-pip cpio gzip virtinst e2fsprogs util-linux libnss3-tools
          dnsmasq-base nftables iproute2 iptables iputils-ping ethtool busybox swtpm swtpm-tools ovmf
          gnutls-bin libsasl2-dev libsasl2-modules sasl2-bin openssh-server openssh-client netcat-openbsd
          qemu-system-gui xvfb x11-utils  # SDL displays (QEMU's ui-sdl module), an X server and xwininfo to see them
          tgt  # a user-space iSCSI target (tgtd) for the iSCSI disks tests
          dpdk-dev)  # dpdk-dev: dpdk-testpmd, the vhost-user backend of the tests
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# qemu.qmp (QEMU's own Python QMP library and qmp-shell) from PyPI, for the system Python that
# has python3-libvirt; the tests drive the QMP proxy with it.
if ! /usr/bin/python3 -c 'import qemu.qmp' 2>/dev/null; then
  echo "installing: qemu.qmp (PyPI)"
  /usr/bin/python3 -m pip install -q --break-system-packages 'qemu.qmp>=0.0.3' 2>&1 | grep -v -e 'Running pip as the' -e '^$' || true
  /usr/bin/python3 -c 'import qemu.qmp'
fi

# libvirtd in a container: its directories, the libvirt-qemu user Debian's build expects, and a
# qemu.conf running guests as root. An existing qemu.conf is left alone.
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p /var/log/libvirt /run/libvirt /var/lib/libvirt /etc/libvirt
  id libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu
  if [ ! -e /etc/libvirt/qemu.conf ]; then
    printf 'user = "root"\ngroup = "root"\n' > /etc/libvirt/qemu.conf
  fi
fi
