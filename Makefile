# Switchboard developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install start cluster chat lint typecheck test unit test-cluster bench bench-groups bench-push capacity clean infra-up infra-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## Install npm dependencies (idempotent)
	@scripts/bootstrap.sh

start: install ## Start the embedded cluster: router, API and two chat nodes
	@npx tsx services/launcher/src/main.ts

cluster: install ## Start Redis, Kafka, Cassandra, then router, API, three chat nodes, persister, push worker
	@npx tsx services/launcher/src/cluster-main.ts

lint: install ## Check formatting and lint rules
	npx prettier --check .
	npx eslint .

typecheck: install ## Type-check every package and the k6 scripts
	npx tsc -p tsconfig.json
	npx tsc -p loadtests/k6/tsconfig.json
	npx tsc -p services/web/tsconfig.json

unit: install ## Run the vitest suites only (adapter suites skip engines that are not running)
	npx vitest run

test-cluster: install infra-up ## Run the integration and fault suites on the cluster profile
	SWB_TEST_PROFILE=cluster SWB_REQUIRE_ENGINES=1 npx vitest run services/launcher --maxWorkers=1

test: lint typecheck infra-up ## Run every check and test, on both profiles, against real engines
	@# Installed here, once, so that browser test files running in parallel never race on apt.
	@scripts/install-chromium.sh
	SWB_REQUIRE_ENGINES=1 npx vitest run
	SWB_TEST_PROFILE=cluster SWB_REQUIRE_ENGINES=1 npx vitest run services/launcher --maxWorkers=1

bench: install ## Compare 1:1 throughput, latency and idle memory with peers (SWB_BENCH_QUICK=1: smoke run)
	npx tsx loadtests/bench.ts

bench-groups: install ## Measure fan-out to a 1,000-member group and a 100,000-member channel
	npx tsx loadtests/bench-groups.ts

bench-push: install ## Measure push jobs per second through the push worker against loopback push services
	npx tsx loadtests/bench-push.ts

capacity: install ## Write the 500M-DAU fleet table into docs/capacity.md from docs/benchmarks.json
	npx tsx loadtests/capacity.ts

clean: ## Remove local data of the embedded profile
	rm -rf .data

infra-up: ## Start Redis, Kafka and Cassandra on 127.0.0.1 for the cluster profile (idempotent)
	@deploy/local/infra.sh up

infra-down: ## Stop the local Redis, Kafka and Cassandra started by infra-up
	@deploy/local/infra.sh down
