// Package golden owns the -update test flag and the compare-or-rewrite helper for golden files.
//
// It exists so that one command, `go test ./... -update`, regenerates every golden file in the
// module. The go tool passes -update to every test binary it builds, and a test binary that does
// not define the flag fails with "flag provided but not defined: -update". Defining the flag once
// here, and having every test package import this package (the ones without golden files use a
// blank import), makes the flag exist in every test binary and mean the same thing everywhere.
//
// It is a plain (non-test) package because _test.go files cannot be imported across packages; it
// depends only on the standard library, so importing it drags nothing (no SDK, no CDK) into a test.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is registered at init so the test binary's flag.Parse (in testing.M.Run or a TestMain)
// knows it before the command line is read.
var update = flag.Bool("update", false, "rewrite golden files (testdata/) with the values the tests produce; review the diff afterwards")

// Hint is the command that regenerates golden files, quoted in failure messages so a reader knows
// what to run after an intended change.
const Hint = "go test ./... -update"

// Update reports whether the test binary runs with -update, i.e. golden files are to be rewritten
// rather than compared. Packages that compare by meaning rather than bytes (policy.Equivalent)
// use it to decide when to write their file themselves.
func Update() bool { return *update }

// Check compares got with the golden file at path, byte for byte. With -update it writes got to
// path instead (creating missing directories), so the change shows up as a reviewable diff in
// git rather than as a test failure.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("creating directory for golden file %s: %v", path, err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("writing golden file %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file %s: %v\n(run `%s` to create it, then review the diff)", path, err, Hint)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the test produced:\n%s\nIf the change is intended, run `%s` and review the diff (git diff %s).",
			path, describe(got, want), Hint, path)
	}
}

// describe summarises how got differs from want for a failure message: the first differing line
// (1-based) with both versions, and the line counts. A whole-file dump of a large golden is
// unreadable in test output; the full diff is one -update and `git diff` away.
func describe(got, want []byte) string {
	g, w := lines(got), lines(want)
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	if i == len(g) && i == len(w) {
		return "  the lines are equal; only the final newline differs"
	}
	at := func(ls []string) string {
		if i >= len(ls) {
			return "(end of file)"
		}
		return fmt.Sprintf("%q", ls[i])
	}
	return fmt.Sprintf("  first difference at line %d\n    got:  %s\n    want: %s\n  got %d lines, golden has %d lines",
		i+1, at(g), at(w), len(g), len(w))
}

// lines splits b into its lines, a final newline ending the last line rather than starting an
// empty one.
func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
