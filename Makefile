# mcpws: MCP over WebSocket for Go.
#
#   make run    start examples/everything on 127.0.0.1:8080 (/mcp: WebSocket and HTTP);
#               ADDR=host:port to serve elsewhere
#   make bench  a short load test (about five minutes): WebSocket with the
#               released go-sdk and with the fix of bench/sdkfix, with and
#               without a 50-rule policy, and Streamable HTTP through the
#               stack, against the go-sdk's Streamable HTTP handler alone
#               and mcp-go's, in one table; see docs/performance.md
#   make dist   release archives of the mcpws command for every platform,
#               with SHA256SUMS, in dist/ (VERSION=v0.1.0 names a release)
#   make test   vet, unit tests with -race, integration tests (conformance,
#               TypeScript SDK client over WebSocket and HTTP, the MCP
#               Inspector's and Claude Code's CLIs, headless Chromium,
#               cross-process Go client, nginx, replicas on Redis, the
#               Windows build of mcpws under Wine), then a short fuzz run
#               and the checks of the go-sdk fix (bench/sdkfix); installs
#               Node 22, npm packages, Chromium, nginx, redis-server, Wine
#               and patch first

GO       ?= go
NODE_DIR := integration/node
NODE_MODS := $(NODE_DIR)/node_modules/.package-lock.json

.PHONY: run test vet node-deps system-deps unit fuzz sdkfix-check bench bench-full bench-build dist

# make run ADDR=127.0.0.1:9000 serves elsewhere; the page at http://ADDR/ is
# the allowed browser Origin.
ADDR ?= 127.0.0.1:8080
run:
	$(GO) -C examples run ./everything -addr $(ADDR) -origins http://$(ADDR),http://localhost:$(lastword $(subst :, ,$(ADDR))) -v

# The modules of the tree (go.work joins them for development): the core,
# the Redis and OpenTelemetry modules, the integration tests, the examples
# and the load generator.
MODULES := . redismcpws otelmcpws integration examples bench
# Packages with tests, in every module, for one go test run.
TESTED := ./... ./redismcpws/... ./otelmcpws/... ./integration/... ./bench/...
# Every package of every module (go.work joins them), for vet.
EVERY := ./... $(patsubst %,./%/...,$(filter-out .,$(MODULES)))
# The systems and architectures everything must build for: mcpws connect
# runs on all of them. What is Linux by design (package gateway, mcpws
# serve, the tests that run it or stop processes with SIGSTOP) leaves
# itself out with build constraints.
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

test: vet node-deps system-deps
	$(GO) test -race -count=1 -timeout 20m $(TESTED)
	$(MAKE) fuzz
	$(MAKE) sdkfix-check

# The go-sdk fix measured by make bench (bench/sdkfix, docs/upstream-json.md)
# keeps what it claims: the patch applies to the go-sdk in go.mod, the
# patched SDK passes its own JSON, JSON-RPC and mcp tests, and
# examples/everything built with it passes the conformance suite over
# WebSocket and Streamable HTTP.
sdkfix-check: node-deps system-deps
	bench/sdkfix/build.sh $(BENCH) check
	MCPWS_EVERYTHING=$(abspath $(BENCH))/everything-sdkfix $(GO) test -race -count=1 -run '^TestConformance(HTTP)?$$' -v ./integration

# A short run of every fuzz target, from the seed corpus in testdata/. The
# budgets are execution counts (about five seconds each on two cores), not
# durations: in Go 1.26 a duration's deadline races the fuzzing workers and
# fails a run that found nothing (golang/go#75804, fixed in Go 1.27).
FUZZ_DECODE ?= 10000x
FUZZ_SUBPROTOCOL ?= 150000x
FUZZ_TOKEN ?= 30000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_DECODE) ./wsmcp
	$(GO) test -run '^$$' -fuzz '^FuzzParseSubprotocols$$' -fuzztime $(FUZZ_SUBPROTOCOL) ./internal/subprotocol
	$(GO) test -run '^$$' -fuzz '^FuzzFindToken$$' -fuzztime $(FUZZ_TOKEN) ./middleware

# vet also refuses tracked files over 1 MiB (build outputs, mostly), images
# under docs/ excepted.
vet:
	@big=$$(git ls-files 2>/dev/null | grep -v '^docs/.*\.png$$' | xargs -d '\n' -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print $$2}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MiB (build outputs belong in .gitignore):"; echo "$$big"; exit 1; fi
	@fmt=$$(find . -name '*.go' -not -path './integration/node/*' | xargs gofmt -l); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	@# Every package of every module, tests included, type-checked and
	@# vetted for each platform. The first run compiles the standard library
	@# and the dependencies for each (about six minutes on two cores); with
	@# the build cache a run takes seconds.
	@for p in $(PLATFORMS); do echo "GOOS=$${p%/*} GOARCH=$${p#*/} go vet (every module)"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet $(EVERY) || exit 1; done
	@# Every module's go.mod and go.sum are tidy on their own, outside the
	@# workspace (as a user building one module sees them).
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go.mod or go.sum not tidy (cd $$m && GOWORK=off go mod tidy)"; exit 1; }; done
	@# The core module depends on neither Redis nor OpenTelemetry nor Prometheus.
	@deps=$$(GOWORK=off $(GO) list -deps ./... | grep -E '^(github.com/redis|go.opentelemetry.io|github.com/prometheus)/'); \
	if [ -n "$$deps" ]; then echo "the core module depends on:"; echo "$$deps"; exit 1; fi

# Release archives of the mcpws command for every platform, in dist/:
# mcpws_VERSION_OS_ARCH.tar.gz (.zip for Windows) holding the binary,
# README.md and CHANGELOG.md, and SHA256SUMS (docs/connect.md#install).
# Reproducible: static binaries (CGO_ENABLED=0) without local paths
# (-trimpath), archives with fixed order, owners, modes and times (the
# commit's), so that one commit built with one Go release gives the same
# bytes. VERSION=v0.1.0 names a release; it defaults to git describe. Needs
# GNU tar and touch, gzip, zip and sha256sum (Linux).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
DIST := dist
DIST_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
dist:
	@for tool in tar gzip zip sha256sum; do command -v $$tool >/dev/null || { echo "make dist needs $$tool"; exit 1; }; done
	rm -rf $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=mcpws_$(VERSION)_$${os}_$${arch}; exe=mcpws; \
		[ $$os = windows ] && exe=mcpws.exe; \
		mkdir -p $(DIST)/$$name; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o $(DIST)/$$name/$$exe ./cmd/mcpws; \
		cp README.md CHANGELOG.md $(DIST)/$$name/; \
		chmod 0755 $(DIST)/$$name $(DIST)/$$name/$$exe; chmod 0644 $(DIST)/$$name/README.md $(DIST)/$$name/CHANGELOG.md; \
		touch -d @$(DIST_EPOCH) $(DIST)/$$name $(DIST)/$$name/*; \
		if [ $$os = windows ]; then \
			(cd $(DIST) && TZ=UTC zip -qX $$name.zip $$name/$$exe $$name/README.md $$name/CHANGELOG.md); \
			echo "$(DIST)/$$name.zip"; \
		else \
			tar -C $(DIST) --sort=name --mtime=@$(DIST_EPOCH) --owner=0 --group=0 --numeric-owner -cf - $$name \
				| gzip -9n > $(DIST)/$$name.tar.gz; \
			echo "$(DIST)/$$name.tar.gz"; \
		fi; \
		rm -r $(DIST)/$$name; \
	done
	cd $(DIST) && sha256sum *.tar.gz *.zip > SHA256SUMS
	@# Check what was made: the sums hold, and this machine's binary, out of
	@# its archive, prints the version.
	cd $(DIST) && sha256sum --quiet --check SHA256SUMS
	@name=mcpws_$(VERSION)_$$($(GO) env GOOS)_$$($(GO) env GOARCH); \
	if [ -f $(DIST)/$$name.tar.gz ]; then \
		tmp=$$(mktemp -d); tar -xzf $(DIST)/$$name.tar.gz -C $$tmp; got=$$($$tmp/$$name/mcpws version); rm -r $$tmp; \
		case "$$got" in "mcpws $(VERSION) "*) echo "$$name/mcpws version: $$got";; \
		*) echo "$$name/mcpws version printed \"$$got\", want mcpws $(VERSION)"; exit 1;; esac; \
	fi

# Node 22, the MCP conformance suite, the TypeScript SDK, Claude Code and the
# MCP Inspector, pinned by integration/node/package-lock.json.
node-deps: $(NODE_MODS)

$(NODE_MODS): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	@touch $@

# Debian's Chromium (browser test), nginx (ingress test), redis-server
# (scale-out tests), 64-bit Wine (the Windows build of mcpws connect) and
# patch (bench/sdkfix). Installed when missing, as root or through sudo.
system-deps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v patch >/dev/null || missing="$$missing patch"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	[ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	[ -x /usr/lib/wine/wine64 ] || missing="$$missing wine64"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

unit:
	$(GO) test -race -count=1 ./... ./redismcpws/... ./otelmcpws/...

# Load tests (docs/performance.md): examples/everything in its own process,
# driven by bench/cmd/mcpbench over WebSocket and Streamable HTTP in turn.
BENCH := .bench
bench-build:
	mkdir -p $(BENCH)
	$(GO) -C examples build -o ../$(BENCH)/everything ./everything
	cd bench && $(GO) build -o ../$(BENCH)/mcpbench ./cmd/mcpbench && $(GO) build -o ../$(BENCH)/mcpplot ./cmd/mcpplot && $(GO) build -o ../$(BENCH)/mcpgo ./cmd/mcpgo
	bench/sdkfix/build.sh $(BENCH)

# make bench measures, in one run and with one load generator
# (mcpbench-sdkfix: the same client for every column, built with the fixed
# go-sdk so that its own decoding leaves the two cores to the server):
# mcpws over WebSocket with the released go-sdk (ws) and with the fix of
# bench/sdkfix (ws+sdkfix), the go-sdk's own Streamable HTTP handler with
# and without the fix (http, http+sdkfix) and mcp-go's (mcp-go); then
# what a 50-rule policy and the stack in front of the go-sdk's handler
# cost. It ends with the table of docs/performance.md (about five minutes).
BENCH_OUT := $(BENCH)/results.jsonl
BENCH_RUN := $(BENCH)/mcpbench-sdkfix -server $(BENCH)/everything -server-sdkfix $(BENCH)/everything-sdkfix -mcpgo $(BENCH)/mcpgo -out $(BENCH_OUT)
COLUMNS := ws,ws+sdkfix,http,http+sdkfix,mcp-go
bench: bench-build
	rm -f $(BENCH_OUT)
	$(BENCH_RUN) -scenario idle -sessions 5000 -settle 2s -transports ws,ws+sdkfix,http,mcp-go
	$(BENCH_RUN) -scenario open -sessions 1000 -rate 2000 -duration 10s -transports $(COLUMNS)
	$(BENCH_RUN) -scenario closed -sessions 50 -duration 10s -transports $(COLUMNS),ws+policy,mcpws-http,$(COLUMNS),ws+policy,mcpws-http
	$(BENCH)/mcpplot -in $(BENCH_OUT) -compare $(COLUMNS)

# The full run behind docs/performance.md and its plots (about ten minutes).
PERF := docs/performance
bench-full: bench-build
	rm -f $(PERF)/results.jsonl $(PERF)/results-2026.jsonl $(PERF)/results-gogc400.jsonl
	$(BENCH)/mcpbench -server $(BENCH)/everything -out $(PERF)/results.jsonl -scenario idle -sessions 1000,2000,5000,10000
	$(BENCH)/mcpbench -server $(BENCH)/everything -out $(PERF)/results.jsonl -scenario open -sessions 10,100,1000,5000 -rate 2000 -duration 20s
	$(BENCH)/mcpbench -server $(BENCH)/everything -out $(PERF)/results.jsonl -scenario closed -sessions 50 -duration 10s -transports ws,http,httpjson,ws,http,httpjson,ws,http,httpjson
	$(BENCH)/mcpbench -server $(BENCH)/everything -out $(PERF)/results-2026.jsonl -scenario closed -sessions 50 -duration 10s -transports ws,http,ws,http -protocol 2026-07-28
	GOGC=400 $(BENCH)/mcpbench -server $(BENCH)/everything -out $(PERF)/results-gogc400.jsonl -scenario closed -sessions 50 -duration 10s -transports ws,http,httpjson,ws,http,httpjson,ws,http,httpjson
	$(BENCH)/mcpplot -in $(PERF)/results.jsonl -dir $(PERF)
