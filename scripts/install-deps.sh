#!/usr/bin/env bash
# Installs every Debian package exchange needs to build, test and run its demo.
# Safe to run again; does nothing for packages already present. Needs root or sudo.
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      libsodium-dev libssl-dev openssl libsqlcipher-dev libcurl4-openssl-dev libcsv-dev
      libutf8proc-dev libyaml-dev libjansson-dev libmicrohttpd-dev libcmocka-dev
      scdoc)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
