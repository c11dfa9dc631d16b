#!/usr/bin/env bash
# Starts, stops or reports the three engines of the cluster profile: Redis, Kafka, Cassandra.
# Usage: infra.sh up|down|status
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly ENGINES=(redis kafka cassandra)

case ${1:-} in
  up)
    # One engine at a time, because two JVMs starting together on a small machine each take
    # longer than both in turn.
    for engine in "${ENGINES[@]}"; do
      "$HERE/$engine.sh" up
    done
    ;;
  down)
    # Stop in reverse order, and try every engine even when one fails.
    status=0
    for ((i = ${#ENGINES[@]} - 1; i >= 0; i--)); do
      "$HERE/${ENGINES[i]}.sh" down || status=1
    done
    exit "$status"
    ;;
  status)
    status=0
    for engine in "${ENGINES[@]}"; do
      "$HERE/$engine.sh" status || status=3
    done
    exit "$status"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
