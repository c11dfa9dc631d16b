#!/usr/bin/env bash
# Builds helm from source with Go into <repository>/.cache/bin and prints the binary's path.
#
# Helm's release binaries come from a download site, while the Go module proxy serves helm's
# source, so a machine that reaches only package registries can still build it. A first build
# took 518 s on 2 busy cores; a second run finds the binary and only prints its path.
# SWB_HELM_VERSION picks another module version of helm.sh/helm/v4.
set -euo pipefail

version="${SWB_HELM_VERSION:-v4.3.2}"
# `go install` alone leaves `helm version` at a placeholder; the release build sets it so.
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" helm helm.sh/helm/v4/cmd/helm "$version" \
  "-X helm.sh/helm/v4/internal/version.version=$version"
