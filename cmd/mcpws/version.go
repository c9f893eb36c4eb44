package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release a binary was built as, set by `make dist` with
// -ldflags "-X main.version=v0.1.0"; empty in other builds.
var version string

// currentVersion is what "mcpws version" prints and what the bridge sends
// in its User-Agent (mcpws/VERSION).
func currentVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return resolveVersion(version, info)
}

// resolveVersion picks the version: the -X value when set; else the main
// module's version, which `go install github.com/mcpws/mcpws/cmd/mcpws@v0.1.0`
// records (and go build, since Go 1.24, derives from the repository's tags
// when it stamps VCS information); else "devel", followed by the VCS
// revision (and "-dirty" for uncommitted changes) when the build recorded
// one. The result has no spaces: it is a User-Agent product version.
func resolveVersion(ldflag string, info *debug.BuildInfo) string {
	if ldflag != "" {
		return ldflag
	}
	if info == nil {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev := s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += "-" + rev
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && v != "devel" {
		v += "-dirty"
	}
	return v
}

// runVersion runs "mcpws version": the version, then the platform and the
// Go release it was built for and with.
func runVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "mcpws %s %s/%s %s\n", currentVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return 0
}

// userAgent is the User-Agent of the bridge's handshakes.
func userAgent() string { return "mcpws/" + currentVersion() }
