# Switchboard developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install start chat lint typecheck test unit bench clean infra-up infra-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## Install npm dependencies (idempotent)
	@scripts/bootstrap.sh

start: install ## Start the embedded cluster: router, API and two chat nodes
	@npx tsx services/launcher/src/main.ts

lint: install ## Check formatting and lint rules
	npx prettier --check .
	npx eslint .

typecheck: install ## Type-check every package
	npx tsc -p tsconfig.json

unit: install ## Run the vitest suites only
	npx vitest run

test: lint typecheck unit ## Run every check and test

bench: install ## Measure 1:1 throughput and latency on the embedded profile
	npx tsx loadtests/bench-embedded.ts

clean: ## Remove local data of the embedded profile
	rm -rf .data

infra-up: ## Start Redis, Kafka and Cassandra on 127.0.0.1 for the cluster profile (idempotent)
	@deploy/local/infra.sh up

infra-down: ## Stop the local Redis, Kafka and Cassandra started by infra-up
	@deploy/local/infra.sh down
