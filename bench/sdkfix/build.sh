#!/bin/sh
# build.sh OUT [check]
#
# Builds examples/everything against a copy of the go-sdk with
# internal-json.patch applied, for measuring the fix beside the released
# SDK (make bench). Nothing of the SDK is committed and the repository's
# go.mod files are not touched: the copy is made from the module cache
# into OUT/go-sdk, and the build uses a temporary go.mod (OUT/sdkfix.mod,
# examples/go.mod plus a replace of the go-sdk by the copy) through
# -modfile, outside the workspace.
#
# Writes OUT/everything-sdkfix. With "check", also runs the patched SDK's
# own tests (internal/json, jsonrpc2 and mcp: case sensitivity, the depth
# limit, trailing data, the decoder's agreement with the released one).
set -eu

out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The go-sdk the examples are built with, from the module cache.
sdk=$(cd "$root/examples" && go list -m -f '{{.Dir}}' github.com/modelcontextprotocol/go-sdk)
version=$(cd "$root/examples" && go list -m -f '{{.Version}}' github.com/modelcontextprotocol/go-sdk)
if [ -z "$sdk" ]; then
	echo "build.sh: the go-sdk is not in the module cache (go mod download in examples/)" >&2
	exit 1
fi

rm -rf "$out/go-sdk"
cp -R "$sdk" "$out/go-sdk"
chmod -R u+w "$out/go-sdk"
if ! patch -s -p1 -d "$out/go-sdk" <"$root/bench/sdkfix/internal-json.patch"; then
	echo "build.sh: internal-json.patch does not apply to go-sdk $version: update the patch" >&2
	exit 1
fi

cp "$root/examples/go.mod" "$out/sdkfix.mod"
# Outside the workspace the examples need the sums of every module in it.
cat "$root/go.sum" "$root/go.work.sum" "$root"/*/go.sum | sort -u >"$out/sdkfix.sum"
go mod edit -modfile="$out/sdkfix.mod" -replace "github.com/modelcontextprotocol/go-sdk=$out/go-sdk"
(cd "$root/examples" && GOWORK=off go build -modfile="$out/sdkfix.mod" -o "$out/everything-sdkfix" ./everything)

# The binary must carry the copy, not the released module.
if ! go version -m "$out/everything-sdkfix" | grep -q "=>[[:space:]]*$out/go-sdk[[:space:]]"; then
	echo "build.sh: $out/everything-sdkfix was not built with the patched go-sdk" >&2
	exit 1
fi
echo "built $out/everything-sdkfix (go-sdk $version + internal-json.patch)"

if [ "${2:-}" = check ]; then
	(cd "$out/go-sdk" && GOWORK=off GOFLAGS=-mod=mod go test -count=1 ./internal/json ./internal/jsonrpc2 ./mcp)
fi
