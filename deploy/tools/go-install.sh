#!/usr/bin/env bash
# Builds one Go command from its module with `go install` into <repository>/.cache/bin and
# prints the binary's path. install-helm.sh and install-promtool.sh call it.
#
#   go-install.sh NAME PACKAGE VERSION [LDFLAGS] [TAGS]
#
# NAME is the binary's name, PACKAGE the command's import path (module path plus /cmd/...),
# VERSION the module version, TAGS Go build tags (comma-separated). A binary already built
# from that module version is reused, so a second run only prints the path. Progress goes to stderr, so that
# `bin="$(deploy/tools/install-helm.sh)"` captures the path alone. SWB_TOOLS_BIN_DIR replaces
# the directory.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: go-install.sh NAME PACKAGE VERSION [LDFLAGS] [TAGS]" >&2
  exit 2
fi
name="$1"
package="$2"
version="$3"
ldflags="-s -w ${4:-}"
tags="${5:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="${SWB_TOOLS_BIN_DIR:-$root/.cache/bin}"
binary="$bin_dir/$name"

log() { printf '%s: %s\n' "install-$name" "$*" >&2; }

# Prints the module and version a Go binary was built from, such as
# "helm.sh/helm/v4 v4.3.2", or nothing.
built_from() {
  go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2, $3 }'
}

is_current() {
  [[ -x "$binary" ]] || return 1
  local module_and_version
  module_and_version="$(built_from "$binary")"
  [[ -n "$module_and_version" && "${module_and_version##* }" == "$version" && "$package" == "${module_and_version% *}"* ]]
}

if ! command -v go >/dev/null 2>&1; then
  log "go is not installed; install Go 1.24 or newer (for example Debian's golang package) and run this again"
  exit 1
fi

if is_current; then
  printf '%s\n' "$binary"
  exit 0
fi

mkdir -p "$bin_dir"
# Test workers may start this at once; the lock makes the later ones wait for the first build.
exec 9>"$bin_dir/.install-$name.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 2400 9 || {
    log "timed out after 2400 s waiting for another build of $name to finish"
    exit 1
  }
  if is_current; then
    printf '%s\n' "$binary"
    exit 0
  fi
fi

staging="$(mktemp -d "$bin_dir/.build-$name.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

log "building $package@$version with $(go env GOVERSION); a first build downloads its modules and compiles for several minutes"
start=$SECONDS
# CGO off, as the projects' own release builds do, for a static binary.
if ! CGO_ENABLED=0 GOBIN="$staging" go install -trimpath -tags "$tags" -ldflags "$ldflags" "$package@$version"; then
  log "go install $package@$version failed; check that the Go module proxy is reachable (go env GOPROXY)"
  exit 1
fi
mv -f "$staging/$name" "$binary"
log "built $name $version in $((SECONDS - start)) s"
printf '%s\n' "$binary"
