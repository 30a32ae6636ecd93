package main

import (
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"

	// Defines -update, so `go test ./... -update` runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// A mistyped -delegated-admin or CT_REGION is named before any check runs; before, the doctor
// checked it as given and told the operator to register account "12345" as a delegated
// administrator, or that the forwarding stack for a region of another partition would see no events.
func TestFlagProblemsAreNamed(t *testing.T) {
	decl, err := config.Load("../../../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := flagProblems(decl, "", ""); len(got) != 0 {
		t.Errorf("no flags: %v", got)
	}
	if got := flagProblems(decl, "123456789012", "eu-west-1"); len(got) != 0 {
		t.Errorf("good flags: %v", got)
	}
	for _, c := range []struct{ delegated, ct, want string }{
		{"12345", "", `-delegated-admin "12345": want the 12-digit account id`},
		{"", "europe", `-control-tower-home-region (CT_REGION) "europe": want a region name`},
		{"", "cn-north-1", `"cn-north-1": a region of partition aws-cn, but the declaration's hub.partition is aws`},
	} {
		got := flagProblems(decl, c.delegated, c.ct)
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("-delegated-admin %q -control-tower-home-region %q: %v, want one problem saying %q", c.delegated, c.ct, got, c.want)
		}
	}
	if got := flagProblems(decl, "x", "y"); len(got) != 2 {
		t.Errorf("both wrong: %v, want both named", got)
	}
}
