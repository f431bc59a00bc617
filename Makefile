# Berth's two commands, `make run` and `make test`, and the steps behind them.
# Every step installs what it needs first (scripts/deps) and is safe to repeat.

SHELL := /bin/bash
TOOLS ?= $(HOME)/.cache/berth-tools
export PATH := $(HOME)/.cargo/bin:$(TOOLS)/binaryen/node_modules/.bin:$(PATH)

# How many Docker test hosts the tests run against.
TEST_HOSTS ?= 3
# Every build, cargo-leptos', the tests' and clippy's, erases Leptos' component types
# (`--cfg erase_components` in .cargo/config.toml), so they share one build of each
# dependency.

.PHONY: run test deps build release unit unit-postgres e2e api-schema lint fmt bench hosts-up hosts-down

## run: build the release and serve the dashboard on http://127.0.0.1:3000
## (each step says how long it took)
run:
	@scripts/step "tools (scripts/deps run)" scripts/deps run
	@scripts/step "a local Docker engine" scripts/hosts local
	@if scripts/fresh-release; then echo "step: release build: up to date (nothing newer than it)" >&2; \
	  else scripts/step "release build" cargo leptos build --release --split; fi
	@scripts/step "compressed copies of the dashboard's files" scripts/compress
	scripts/run

## test: every test: unit and API tests, real Docker hosts, the browser, the API
## against its own OpenAPI document
test: deps hosts-up build unit unit-postgres e2e api-schema

deps:
	@scripts/deps

# A failed build ends with the compiler's own error and the machine's disk and
# memory, not with cargo-leptos' backtrace (CI shows the last lines of a failure).
build:
	@mkdir -p target; RUST_BACKTRACE=0 CARGO_TERM_COLOR=never cargo leptos build --split 2>&1 | tee target/build.log; status=$${PIPESTATUS[0]}; \
	  if [ $$status -ne 0 ]; then \
	    echo "build: cargo leptos build failed ($$status); the errors:" >&2; \
	    grep -E -A6 '^(error|warning: build failed)|panicked|Killed|No space' target/build.log | tail -40 >&2; \
	    df -h . /tmp >&2; free -h >&2; exit $$status; \
	  fi

release:
	cargo leptos build --release --split
	scripts/compress

unit:
	@eval "$$(scripts/hosts env $(TEST_HOSTS))"; export BERTH_TEST_HOSTS BERTH_TEST_TLS BERTH_TEST_SHARED; \
	  cargo nextest run --workspace --no-fail-fast

# The store's and the API's tests again on PostgreSQL (ours, started by pid on
# 127.0.0.1), each test on a database of its own.
POSTGRES_TESTS := test(/^store::/) | binary(api) | binary(accounts) | binary(authz) \
  | binary(tenancy) | binary(services_api) | binary(pools_api) | binary(stacks_api) \
  | binary(certs_api) | binary(volume_classes_api) | binary(failover) | binary(restart)

unit-postgres:
	@scripts/postgres up
	@set -e; pg_env=$$(scripts/postgres env); eval "$$pg_env"; export BERTH_TEST_DATABASE; \
	eval "$$(scripts/hosts env $(TEST_HOSTS))"; export BERTH_TEST_HOSTS BERTH_TEST_TLS BERTH_TEST_SHARED; \
	  cargo nextest run --workspace --no-fail-fast -E '$(POSTGRES_TESTS)'

e2e:
	scripts/e2e $(TEST_HOSTS)

api-schema:
	scripts/schemathesis

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## bench: placement throughput, and convergence and self-healing against Docker Swarm
bench: deps
	scripts/bench

hosts-up:
	scripts/hosts up $(TEST_HOSTS)

hosts-down:
	scripts/hosts down
