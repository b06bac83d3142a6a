# Gatehouse: `make run` starts a demo, `make test` installs what the tests need and runs them all.

# One target directory for every build of this checkout and its clones (CI reuses it).
CARGO_TARGET_DIR ?= /var/tmp/gatehouse-target
export CARGO_TARGET_DIR
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/release/gatehouse

SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help build run test deps lint fmt bench soak fuzz screenshots

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

lint: ## cargo fmt --check, clippy with warnings as errors, and the fuzz targets still compile
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	@# The fuzz crate is its own workspace, so nothing above builds it; CI fuzzes after the tests.
	$(CARGO) check --locked --manifest-path fuzz/Cargo.toml --bins

fmt: ## Format the code
	$(CARGO) fmt

# Fuzzing: every target in fuzz/fuzz_targets for FUZZ_SECONDS each (CI runs `make fuzz FUZZ_SECONDS=30`).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := cookies redirects paths config tokens

fuzz: ## Fuzz each target for FUZZ_SECONDS (default 300); a crash stops with the input in fuzz/artifacts
	tests/deps/install.sh fuzz
	cargo +nightly fuzz build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		cp -n fuzz/seeds/$$t/* fuzz/corpus/$$t/ 2>/dev/null || true; \
		[ $$t != config ] || cp -n tests/fixtures/config/*/*.cfg tests/fixtures/alpha/* fuzz/corpus/config/; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		cargo +nightly fuzz run $$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
			| grep -E '^(stat::number_of_executed_units|INFO: Seed|==|SUMMARY|Test unit written|thread .* panicked|Done)' ; \
		test $${PIPESTATUS[0]} -eq 0 || { echo "fuzz: $$t FAILED (input in fuzz/artifacts/$$t)"; exit 1; }; \
	done

screenshots: deps ## Sign-in page screenshots at 390 px and 1280 px (headless Chromium) into tests/screenshots/
	cargo test --test it -- --exact e2e::sign_in_page_at_phone_and_desktop_width
	mkdir -p tests/screenshots
	cp $(CARGO_TARGET_DIR)/tmp/screenshots/sign-in-390.png $(CARGO_TARGET_DIR)/tmp/screenshots/sign-in-1280.png tests/screenshots/

# BASELINE=<path to another gatehouse binary> adds its rungs 3 and 7 to the same rounds (an earlier commit's build).
bench: deps ## Benchmark Gatehouse against nginx, Apache + mod_auth_openidc and oauth2-proxy with wrk (release build, then about 5 minutes); table in README "Performance"
	$(CARGO) test --release --locked --test bench -- --full $(if $(BASELINE),--baseline $(BASELINE))

soak: deps ## Hold load and inject faults (Redis, Sentinel, provider, upstream, slow clients, SIGTERM) with wrk, counting what is lost (release build, then about 8 minutes); table in README "Reliability"
	$(CARGO) test --release --locked --test soak -- --full
