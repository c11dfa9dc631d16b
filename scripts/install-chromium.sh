#!/usr/bin/env bash
# Installs Debian's chromium for the web client's browser tests and screenshots.
# Safe to run repeatedly: when /usr/bin/chromium already runs, it exits at once.
set -euo pipefail

if [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "switchboard: chromium is missing and installing it needs root; run: apt-get install -y chromium" >&2
  exit 1
fi
run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "switchboard: installing chromium from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update
run_as_root apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
