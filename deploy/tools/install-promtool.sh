#!/usr/bin/env bash
# Builds promtool, Prometheus's rule checker, from source with Go into <repository>/.cache/bin
# and prints the binary's path. The chart tests run `promtool check rules` and
# `promtool test rules` on deploy/monitoring with it.
#
# Prometheus 3.x is published to the Go module proxy as github.com/prometheus/prometheus
# v0.3xx.y (v0.316.0 is Prometheus 3.16.0). SWB_PROMTOOL_VERSION picks another one.
set -euo pipefail

version="${SWB_PROMTOOL_VERSION:-v0.316.0}"
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs), which `promtool check
# rules` never uses and which take most of the compile time.
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" promtool \
  github.com/prometheus/prometheus/cmd/promtool "$version" "" remove_all_sd
