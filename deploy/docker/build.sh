#!/usr/bin/env bash
# Builds the five Switchboard images from deploy/docker/Dockerfile.
#
#   deploy/docker/build.sh [TAG]            # TAG defaults to the root package.json version
#   SWB_IMAGE_PREFIX=registry.example.com/switchboard/ deploy/docker/build.sh 0.1.0
#
# Each image is named <prefix>switchboard-<service>:<tag>, the names the Helm chart's values
# use. Needs Docker with BuildKit (Docker 23 or newer uses it by default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-$(node -p "require('$root/package.json').version")}"
prefix="${SWB_IMAGE_PREFIX:-}"

for service in router api chat-node persister push-worker; do
  image="${prefix}switchboard-${service}:${tag}"
  printf 'building %s\n' "$image" >&2
  docker build -f "$root/deploy/docker/Dockerfile" --build-arg "SERVICE=$service" -t "$image" "$root"
done
