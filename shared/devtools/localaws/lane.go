package localaws

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
)

// The fast lane: `go test -short ./...` (make test-short) runs every test
// that needs nothing but Go, in well under a minute, without Python, Node or
// the CDK. The tests that need the local AWS (moto via Python), the real
// binaries under the local runtime, or the CDK (jsii via Node) skip there with
// Need or NeedCDK and run in `make test`; outside -short nothing skips.

// ErrShort is what Start answers under -short: the fast lane starts no
// local AWS, so a test that forgot Need fails loudly instead of quietly
// needing Python.
var ErrShort = errors.New("localaws: the local AWS is not started under go test -short (the fast lane); call localaws.Need(t) first, the test runs in make test")

// Main runs a test binary whose tests share one local AWS, started into
// *srv before them and stopped after. Under -short it starts nothing and
// *srv stays nil: the tests that use it call Need first.
func Main(m *testing.M, srv **Server) {
	os.Exit(runMain(m, srv))
}

func runMain(m *testing.M, srv **Server) int {
	if short() {
		return m.Run()
	}
	s, err := Start(context.Background(), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local AWS:", err)
		return 1
	}
	*srv = s
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local AWS:", err)
		}
	}()
	return m.Run()
}

// Need skips t in the fast lane: it needs the local AWS.
func Need(t testing.TB) {
	t.Helper()
	if short() {
		t.Skip("needs the local AWS (moto via Python): skipped under -short, runs in make test")
	}
}

// NeedCDK skips t in the fast lane: it needs the CDK (jsii via Node).
func NeedCDK(t testing.TB) {
	t.Helper()
	NeedNode(t, "the CDK (jsii)")
}

// NeedNode skips t in the fast lane: it needs what, which runs on Node.
func NeedNode(t testing.TB, what string) {
	t.Helper()
	if short() {
		t.Skip("needs " + what + " on Node: skipped under -short, runs in make test")
	}
}

// Short reports whether this is a test binary run with -short. It is safe
// before flag.Parse (TestMain) and outside tests (false).
func Short() bool { return short() }

func short() bool {
	if !testing.Testing() {
		return false
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}
