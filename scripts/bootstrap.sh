#!/usr/bin/env bash
# Installs the project's npm dependencies when they are missing or older than the lock file.
# Safe to run repeatedly: a second run with nothing to do exits at once.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "switchboard: Node.js 20 or newer is required (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# The stamp holds the hash of the lock file it was installed from, so touching the lock file
# without changing it does not reinstall.
stamp=node_modules/.switchboard-installed
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  exit 0
fi

echo "switchboard: installing npm dependencies" >&2
npm ci --no-audit --no-fund
# better-sqlite3 and uWebSockets.js ship native code; fail here, not at first use.
node -e "new (require('better-sqlite3'))(':memory:').close()"
node -e "require('uWebSockets.js/binaries/uws_' + process.platform + '_' + process.arch + '_' + process.versions.modules + '.node')"
echo "$lock_hash" >"$stamp"
