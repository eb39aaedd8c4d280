#!/bin/bash
# Build (once) the test guest: a small Debian 12 installed as VMware
# installs it, and print the path of its raw image.
#
#   tests/guest/build-image.sh            -> prints CACHE/debian12-vmware-HASH.raw
#
# The guest: 2 GiB sparse raw disk, MBR, one ext4 root partition, GRUB
# (i386-pc) with console=ttyS0, /etc/fstab naming /dev/sda1, an initramfs
# built with MODULES=list holding only what a VMware guest carries
# (pvscsi, LSI, AHCI: no virtio), /etc/network/interfaces for ens192 and a
# unit that prints, once multi-user is reached, one line on ttyS0:
#
#   V2K-GUEST root=/dev/sda1 rw=yes net=active nics=ens192
#
# The image is cached by content: the hash of this script names it, so a
# change here builds a new one.  Cache dir: $V2K_GUEST_CACHE, else
# $XDG_CACHE_HOME/v2k-test, else /var/cache/v2k-test (root) or
# ~/.cache/v2k-test.  Needs root (debootstrap, a loop device, mount),
# debootstrap and the Debian archive the host's apt uses
# ($V2K_DEBIAN_MIRROR overrides it).  Exit 77 when it cannot run here.
set -euo pipefail

self=$(readlink -f "$0")
if [ -n "${V2K_GUEST_CACHE:-}" ]; then cache=$V2K_GUEST_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/v2k-test
elif [ "$(id -u)" -eq 0 ]; then cache=/var/cache/v2k-test
else cache=$HOME/.cache/v2k-test
fi
hash=$(sha256sum "$self" | cut -c1-16)
out=$cache/debian12-vmware-$hash.raw
if [ -s "$out" ]; then echo "$out"; exit 0; fi

die () { echo "build-image: $*" >&2; exit 1; }
cannot () { echo "build-image: cannot build here: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || cannot "needs root (debootstrap, loop device, mount)"
for c in debootstrap sfdisk losetup mkfs.ext4 blkid chroot flock; do
  command -v "$c" >/dev/null || cannot "'$c' is not installed"
done

mkdir -p "$cache"
# One builder at a time; a second caller waits and then finds the image.
exec 9>"$cache/.build.lock"
flock 9
if [ -s "$out" ]; then echo "$out"; exit 0; fi

mirror=${V2K_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The archive (not the security one) the host's apt already uses.
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null \
    | grep -v security | awk '{print $2; exit}' || true)
fi
[ -n "$mirror" ] || cannot "no Debian mirror found in apt's sources (set V2K_DEBIAN_MIRROR)"

work=$(mktemp -d "$cache/build.XXXXXX")
img=$work/disk.raw
mnt=$work/mnt
loop="" part=""
cleanup () {
  set +e
  if [ -d "$mnt" ]; then
    for m in dev/pts dev proc sys ""; do
      mountpoint -q "$mnt/$m" && umount -l "$mnt/$m"
    done
  fi
  [ -n "$part" ] && losetup -d "$part"
  [ -n "$loop" ] && losetup -d "$loop"
  # Never remove a tree that still has something mounted in it.
  grep -q " $work" /proc/mounts || rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
truncate -s 2G "$img"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$img"
# Two loop devices, the whole disk (for GRUB) and the partition (by
# offset: loop partition scanning does not work in every container).
loop=$(losetup -f --show "$img")
part=$(losetup -f --show -o $((2048 * 512)) "$img")
mkfs.ext4 -q -L root "$part"
uuid=$(blkid -s UUID -o value "$part")
mkdir -p "$mnt"
mount "$part" "$mnt"

# minbase + what boots and configures it; grub-pc's own postinst wants a
# device, so its binaries come in now and grub-install runs below.
mkdir -p "$cache/debs"
debootstrap --variant=minbase --cache-dir="$cache/debs" \
  --include=linux-image-amd64,grub-pc-bin,grub2-common,initramfs-tools,systemd,systemd-sysv,udev,kmod,ifupdown,iproute2 \
  bookworm "$mnt" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || die "debootstrap failed: $(tail -n 20 "$work/debootstrap.log")"

cat > "$mnt/etc/fstab" <<'EOF'
/dev/sda1  /  ext4  errors=remount-ro  0  1
EOF
echo v2k-guest > "$mnt/etc/hostname"
# Root without a password on the console: a test guest, never networked.
chroot "$mnt" passwd -d root >/dev/null

# What an installer on VMware leaves: ens192 (vmxnet3 in PCI slot 192).
cat > "$mnt/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto ens192
iface ens192 inet manual
EOF

# Initramfs with only the drivers a VMware guest carries.
sed -i 's/^MODULES=.*/MODULES=list/' "$mnt/etc/initramfs-tools/initramfs.conf"
cat > "$mnt/etc/initramfs-tools/modules" <<'EOF'
vmw_pvscsi
mptspi
mptsas
ahci
ata_piix
sd_mod
ext4
EOF

# The marker: root device, whether / is writable, networking's state
# and the NICs present, once multi-user is reached.
cat > "$mnt/usr/local/sbin/v2k-marker" <<'EOF'
#!/bin/sh
root=$(sed -n 's/^\([^ ]*\) \/ .*/\1/p' /proc/mounts | tail -n1)
rw=no
touch /.v2k-rw-test 2>/dev/null && rw=yes && rm -f /.v2k-rw-test
net=$(systemctl is-active networking.service 2>/dev/null)
nics=$(ls /sys/class/net | grep -vx lo | tr '\n' ',' | sed 's/,$//')
echo "V2K-GUEST root=$root rw=$rw net=$net nics=$nics" > /dev/ttyS0
EOF
chmod 0755 "$mnt/usr/local/sbin/v2k-marker"
cat > "$mnt/etc/systemd/system/v2k-marker.service" <<'EOF'
[Unit]
Description=v2k test marker on the serial console
After=multi-user.target networking.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/v2k-marker

[Install]
WantedBy=default.target
EOF
# default.target pulls in multi-user.target; ordering after it needs the
# marker to be wanted by something later than it, hence its own target.
mkdir -p "$mnt/etc/systemd/system/v2k.target.wants"
cat > "$mnt/etc/systemd/system/v2k.target" <<'EOF'
[Unit]
Description=multi-user, then the v2k marker
Requires=multi-user.target
After=multi-user.target
AllowIsolate=yes
EOF
ln -sf /etc/systemd/system/v2k-marker.service "$mnt/etc/systemd/system/v2k.target.wants/"
ln -sf /etc/systemd/system/v2k.target "$mnt/etc/systemd/system/default.target"
# Quiet boot: no getty login prompt racing the marker, no fsck wait.
ln -sf /dev/null "$mnt/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$mnt/etc/systemd/system/systemd-timesyncd.service" 2>/dev/null || true

cat > "$mnt/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
GRUB_TERMINAL=console
EOF

for m in dev dev/pts proc sys; do mount --bind "/$m" "$mnt/$m"; done
chroot "$mnt" update-initramfs -u -k all > "$work/initramfs.log" 2>&1 \
  || die "update-initramfs failed: $(tail -n 20 "$work/initramfs.log")"
if chroot "$mnt" sh -c 'lsinitramfs /boot/initrd.img-* | grep -q "/virtio"'; then
  die "the initramfs carries virtio modules; MODULES=list did not apply"
fi
# GRUB as grub-install would set it up, by hand: grub-install and
# grub-mkconfig cannot map a partition loop device to its disk.  The
# guest's own grub-mkconfig (run by virt-v2v) regenerates grub.cfg.
kver=$(basename "$(ls "$mnt"/boot/vmlinuz-* | tail -n1)" | sed 's/^vmlinuz-//')
mkdir -p "$mnt/boot/grub/i386-pc"
cp "$mnt"/usr/lib/grub/i386-pc/*.mod "$mnt"/usr/lib/grub/i386-pc/*.lst \
   "$mnt"/usr/lib/grub/i386-pc/boot.img "$mnt/boot/grub/i386-pc/"
chroot "$mnt" grub-mkimage -O i386-pc -o /boot/grub/i386-pc/core.img \
  -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2 > "$work/grub.log" 2>&1 \
  || die "grub-mkimage failed: $(tail -n 20 "$work/grub.log")"
echo "(hd0) $loop" > "$mnt/boot/grub/device.map"
chroot "$mnt" /usr/lib/grub/i386-pc/grub-bios-setup -s -m /boot/grub/device.map -d /boot/grub/i386-pc \
  "$loop" >> "$work/grub.log" 2>&1 \
  || die "grub-bios-setup failed: $(tail -n 20 "$work/grub.log")"
rm -f "$mnt/boot/grub/device.map"
cat > "$mnt/boot/grub/grub.cfg" <<EOF
set default=0
set timeout=0
insmod part_msdos
insmod ext2
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class os {
	insmod part_msdos
	insmod ext2
	search --no-floppy --fs-uuid --set=root $uuid
	linux	/boot/vmlinuz-$kver root=UUID=$uuid ro console=tty0 console=ttyS0,115200
	initrd	/boot/initrd.img-$kver
}
EOF
# A slimmer image: no package lists or caches, no docs.
chroot "$mnt" apt-get clean
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/usr/share/doc/* "$mnt"/usr/share/man/*

for m in dev/pts dev proc sys; do umount "$mnt/$m"; done
# Free blocks (the replaced initramfs, package caches) back to holes.
fstrim "$mnt" 2>/dev/null || true
umount "$mnt"
fsck.ext4 -fy "$part" >/dev/null 2>&1 || true
losetup -d "$part"
losetup -d "$loop"
loop="" part=""
# Keep the image sparse: punch the zero blocks out.
fallocate -d "$img" 2>/dev/null || true
mv "$img" "$out.tmp"
mv "$out.tmp" "$out"
echo "build-image: built $out in $(( $(date +%s) - start )) s" >&2
echo "$out"
