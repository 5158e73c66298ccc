# broker: two commands on a fresh clone — `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export BROKER_HOME ?= $(CURDIR)/.broker

.PHONY: run demo test install install-test interop-deps lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Serve on 127.0.0.1:8000 with the embedded SQLite store in $(BROKER_HOME).
run: install
	$(BIN)/broker serve --host $(HOST) --port $(PORT)

IDP_PORT  ?= 9000
SAML_IDP_PORT ?= 8100
DEMO_HOME ?= $(CURDIR)/.broker-demo

## The demo configuration: broker on $(PORT) plus the fixture OIDC IdP on $(IDP_PORT), a provider and the role
## demo-ci registered, a token kept fresh in $(DEMO_HOME)/token.jwt; then `source .broker-demo/demo.env` and
## `aws sts get-caller-identity` in another shell (README "Try it: OIDC to AWS credentials"). Also the fixture
## SAML IdP on $(SAML_IDP_PORT), registered as SAML provider `fixture` with the role demo-saml (README "Try it").
demo: install
	$(BIN)/python -m idp_fixtures.oidc.demo --host $(HOST) --port $(PORT) --idp-port $(IDP_PORT) \
		--saml-idp-port $(SAML_IDP_PORT) --home $(DEMO_HOME)

OIDC_INTEROP := tests/interop/oidc_provider

## The independent OIDC provider (npm oidc-provider, pinned by its lock file) used by tests/interop.
interop-deps:
	@if command -v npm >/dev/null 2>&1 && [ "$(OIDC_INTEROP)/package-lock.json" -nt "$(OIDC_INTEROP)/node_modules/.package-lock.json" ]; then \
	  npm ci --prefix "$(OIDC_INTEROP)" --no-audit --no-fund --silent; fi

## Install the test dependencies and run the whole suite (SQLite and PostgreSQL).
test: install-test interop-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile
	$(BIN)/lint-imports

lint: install-test
	$(BIN)/ruff check broker tests
	$(BIN)/mypy broker

## Every benchmark; each prints its figures beside a peer or floor measured in the same run (benchmarks/README.md).
bench: install-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.policy_eval
	$(BIN)/python -m benchmarks.authorize
	$(BIN)/python -m benchmarks.web_identity
	$(BIN)/python -m benchmarks.saml
	$(BIN)/python -m benchmarks.query_codec

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
