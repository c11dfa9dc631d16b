#!/usr/bin/env bash
# Builds Centrifugo from source with `go install` into .cache/bin (gitignored), once.
#
# Usage: loadtests/peers/centrifugo/install.sh
# Variables: CENTRIFUGO_VERSION (default v6.9.1), SWB_CACHE_BIN (default <repo>/.cache/bin).
# Needs Go 1.24 or newer and the Go module proxy. Prints the path of the binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
version="${CENTRIFUGO_VERSION:-v6.9.1}"
bin_dir="${SWB_CACHE_BIN:-$root/.cache/bin}"
binary="$bin_dir/centrifugo-$version"

if [[ -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "centrifugo install: go is not on PATH; install Go 1.24 or newer" >&2
  exit 1
fi

mkdir -p "$bin_dir"
build_dir="$(mktemp -d)"
trap 'rm -rf "$build_dir"' EXIT
# `go install pkg@version` ignores any go.mod around it and builds exactly that release. The
# release builds stamp their version the same way; without it the binary reports 0.0.0.
GOBIN="$build_dir" CGO_ENABLED=0 go install \
  -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=${version#v}" \
  "github.com/centrifugal/centrifugo/v6@$version" >&2
mv "$build_dir/centrifugo" "$binary"
"$binary" version >&2
echo "$binary"
