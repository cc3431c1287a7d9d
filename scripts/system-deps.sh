#!/usr/bin/env bash
# Install the Debian packages the tests need, when missing. Needs root for apt-get;
# as another user it says what is missing and carries on (those tests then skip
# with a reason naming the package).
set -euo pipefail
# command -> Debian package
declare -A need=(
  [/usr/sbin/sshd]=openssh-server
  [/usr/bin/ssh-keygen]=openssh-client
  [/usr/bin/setpriv]=util-linux
  [/usr/bin/chromium]=chromium
  [/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf]=fonts-liberation
  [/usr/sbin/setcap]=libcap2-bin
  [/usr/bin/setfacl]=acl
  [/usr/bin/getfattr]=attr
  [/usr/bin/systemd-analyze]=systemd
  [/usr/bin/udevadm]=udev
  [/usr/bin/adb]=adb
  [/usr/bin/apksigner]=apksigner
  [/usr/share/doc/libusb-1.0-0/copyright]=libusb-1.0-0
)
missing=()
for cmd in "${!need[@]}"; do
  [ -e "$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (run 'sudo apt-get install ${missing[*]}')" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
