# podflow — every target does its own set-up, so `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

NODE_MAJOR_MIN := 22
NODE_VERSION   := 24
TOOLS          := $(CURDIR)/.tools
LOCAL_NODE_BIN := $(TOOLS)/node/node_modules/node/bin
CONFIG         ?= config.yaml

# Use the machine's node when it is new enough, else a project-local Node 24 from the npm registry.
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
ifeq ($(shell [ $(SYSTEM_NODE_MAJOR) -ge $(NODE_MAJOR_MIN) ] && echo ok),ok)
NODE_STAMP :=
else
export PATH := $(LOCAL_NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
NODE_STAMP := $(LOCAL_NODE_BIN)/node
endif
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NATIVE_STAMP := crates/flowsource/flowsource.linux-x64-gnu.node

.PHONY: build run test test-ts test-rust typecheck bench system-deps native node clean

$(LOCAL_NODE_BIN)/node:
	@echo "node $(SYSTEM_NODE_MAJOR) is older than $(NODE_MAJOR_MIN): installing Node $(NODE_VERSION) into $(TOOLS)/node"
	mkdir -p $(TOOLS)/node
	npm install --prefix $(TOOLS)/node --no-save --no-audit --no-fund node@$(NODE_VERSION) >/dev/null
	$@ --version

node: $(NODE_STAMP)

node_modules/.package-lock.json: package.json package-lock.json $(NODE_STAMP)
	npm ci --no-audit --no-fund
	@touch $@

typecheck: node_modules/.package-lock.json
	tsc -p tsconfig.json

build: node_modules/.package-lock.json typecheck native

# The Rust core (crates/flowsource), built by @napi-rs/cli into crates/flowsource/flowsource.<platform>.node.
NATIVE_SOURCES := $(shell find crates/flowsource/src -name '*.rs' 2>/dev/null) crates/flowsource/Cargo.toml
$(NATIVE_STAMP): $(NATIVE_SOURCES) node_modules/.package-lock.json
	cd crates/flowsource && napi build --platform --release --no-js
	@touch $@
native: $(NATIVE_STAMP)

test-rust:
	cd crates/flowsource && cargo test --offline --release

run: build
	bin/podflow run --config $(CONFIG)

# Debian packages the kernel, database and scraper tests use. Installed only when missing.
SYSTEM_PACKAGES := conntrack:conntrack nft:nftables bpftool:bpftool prometheus:prometheus \
  dnsmasq:dnsmasq-base tcpdump:tcpdump ip:iproute2 ping:iputils-ping
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; done; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "WARNING: missing$$missing (not root, cannot install); tests needing them will skip"; fi; fi

test: build system-deps test-rust test-ts

test-ts:
	bash test/run-ava.sh

bench: build
	@for b in bench/*/run.sh; do [ -e "$$b" ] && bash "$$b"; done; true

clean:
	rm -rf node_modules .tools target crates/flowsource/target *.node
