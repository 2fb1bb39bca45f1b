#!/usr/bin/env bash
# install-syslog-ng.sh DIR: unpack Debian's syslog-ng (syslog-ng-core and
# syslog-ng-mod-http, and syslog-ng-scl for elasticsearch-http()) into DIR without installing it. Debian's syslog-ng-core
# and rsyslog conflict (both provide system-log-daemon), and the benchmark
# needs both on one machine, so rsyslog is installed as a package and
# syslog-ng is unpacked here; its shared-library dependencies (which do not
# conflict) are installed normally.
set -euo pipefail
dir=${1:?usage: install-syslog-ng.sh DIR}
if [ -x "$dir/usr/sbin/syslog-ng" ]; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
deps=(libcap2 libcurl4 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libsystemd0 libwrap0)
missing=()
for p in "${deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
tmp=$(mktemp -d)
chmod 755 "$tmp" # apt-get download runs as _apt
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq syslog-ng-core syslog-ng-mod-http syslog-ng-scl >/dev/null)
mkdir -p "$dir"
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
echo "syslog-ng unpacked into $dir"
