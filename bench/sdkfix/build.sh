#!/bin/sh
# build.sh OUT [check]
#
# Builds examples/everything against a copy of the go-sdk with
# internal-json.patch applied, for measuring the fix beside the released
# SDK (make bench). Nothing of the SDK is committed and the repository's
# go.mod files are not touched: the copy is made from the module cache
# into OUT/go-sdk, and each build uses a temporary go.mod (OUT/NAME.mod:
# the module's go.mod plus a replace of the go-sdk by the copy) through
# -modfile, outside the workspace.
#
# Writes OUT/everything-sdkfix, and OUT/mcpbench-sdkfix, the load
# generator on the same copy (its client decodes with the fix, leaving more
# of the machine to the server under test). With "check", also runs the
# patched SDK's own tests (internal/json, jsonrpc2 and mcp: case
# sensitivity, the depth limit, trailing data, the decoder's agreement
# with the released one).
set -eu

out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The go-sdk the examples are built with, from the module cache (fetched
# into it if need be).
sdk=$(cd "$root/examples" && GOWORK=off go mod download -json github.com/modelcontextprotocol/go-sdk | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
version=$(cd "$root/examples" && GOWORK=off go list -m -f '{{.Version}}' github.com/modelcontextprotocol/go-sdk)
if [ ! -f "$sdk/go.mod" ]; then
	echo "build.sh: cannot find go-sdk $version in the module cache" >&2
	exit 1
fi

command -v patch >/dev/null || { echo "build.sh: needs patch (make system-deps installs it)" >&2; exit 1; }
rm -rf "$out/go-sdk"
cp -R "$sdk" "$out/go-sdk"
chmod -R u+w "$out/go-sdk"
# Exactly as written (no fuzz), never interactively, never reversed.
if ! patch --batch --forward --fuzz=0 -s -p1 -d "$out/go-sdk" <"$root/bench/sdkfix/internal-json.patch"; then
	echo "build.sh: internal-json.patch does not apply to go-sdk $version: update the patch" >&2
	exit 1
fi

# modfile MODULE NAME writes OUT/NAME.mod, the go.mod of the repository's
# MODULE with the go-sdk replaced by the copy, and its go.sum.
modfile() {
	mod="$out/$2.mod"
	cp "$root/$1/go.mod" "$mod"
	# Outside the workspace a module needs the sums of every module in it.
	cat "$root/go.sum" "$root/go.work.sum" "$root"/*/go.sum | sort -u >"${mod%.mod}.sum"
	go mod edit -replace "github.com/modelcontextprotocol/go-sdk=$out/go-sdk" "$mod"
}

# build MODULE PACKAGE NAME builds PACKAGE of the repository's MODULE
# against the copy, as OUT/NAME.
build() {
	modfile "$1" "$3"
	(cd "$root/$1" && GOWORK=off go build -modfile="$out/$3.mod" -o "$out/$3" "$2")
	# The binary must carry the copy, not the released module.
	if ! go version -m "$out/$3" | grep -qF "=>	$out/go-sdk	"; then
		echo "build.sh: $out/$3 was not built with the patched go-sdk" >&2
		exit 1
	fi
}
build examples ./everything everything-sdkfix
build bench ./cmd/mcpbench mcpbench-sdkfix
# For the library's own benchmarks on the copy (make bench-micro):
#	GOWORK=off go test -modfile=OUT/mcpws-sdkfix.mod -bench . ./wsmcp
modfile . mcpws-sdkfix
echo "built $out/everything-sdkfix and $out/mcpbench-sdkfix (go-sdk $version + internal-json.patch)"

# The SDK's tests run on the SDK's own go.mod, which may name older
# versions of its dependencies than the builds above resolve to.
if [ "${2:-}" = check ]; then
	(cd "$out/go-sdk" && GOWORK=off go test -count=1 ./internal/json ./internal/jsonrpc2 ./mcp)
fi
