# mcpws: MCP over WebSocket for Go.
#
#   make run    start examples/everything on 127.0.0.1:8080 (/mcp and /mcp-http)
#   make test   vet, unit tests with -race, integration tests (conformance,
#               TypeScript SDK client, headless Chromium, cross-process Go
#               client, nginx); installs Node 22, npm packages, Chromium and nginx first

GO       ?= go
NODE_DIR := integration/node
NODE_MODS := $(NODE_DIR)/node_modules/.package-lock.json

.PHONY: run test vet node-deps system-deps unit

run:
	$(GO) run ./examples/everything -addr 127.0.0.1:8080 -origins http://127.0.0.1:8080,http://localhost:8080 -v

test: vet node-deps system-deps
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	@fmt=$$(find . -name '*.go' -not -path './integration/node/*' | xargs gofmt -l); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

# Node 22, the MCP conformance suite and the TypeScript SDK, pinned by
# integration/node/package-lock.json.
node-deps: $(NODE_MODS)

$(NODE_MODS): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	@touch $@

# Debian's Chromium (browser test) and nginx (ingress test). Installed when
# missing, as root or through sudo.
system-deps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

unit:
	$(GO) test -race -count=1 ./wsmcp/...
