# Gatehouse: `make run` starts a demo, `make test` installs what the tests need and runs them all.

# One target directory for every build of this checkout and its clones (CI reuses it).
CARGO_TARGET_DIR ?= /var/tmp/gatehouse-target
export CARGO_TARGET_DIR
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/release/gatehouse

.DEFAULT_GOAL := help
.PHONY: help build run test deps lint fmt bench

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-8s %s\n", $$1, $$2}'

build: ## Build the release binary
	$(CARGO) build --release --locked

run: build ## Start the demo: Gatehouse, a development issuer and an echo app, on loopback
	@echo
	@echo "  Gatehouse demo: open http://127.0.0.1:4180/ and sign in with any name."
	@echo "  The echo app then shows the identity headers Gatehouse sent it. Ctrl-C stops everything."
	@echo
	$(BIN) --config deploy/demo.cfg

deps: ## Install every missing test dependency (idempotent)
	tests/deps/install.sh

test: deps lint ## Install test dependencies, check formatting and lints, run every test
	$(CARGO) test --locked --all-targets

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt

bench: ## Benchmarks (not written yet: see README "Status")
	@echo "make bench: no benchmark yet; the performance work adds it (README, Status)"
