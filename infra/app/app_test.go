package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// One synthesis of the example declaration is shared by every assertion in this package: a CDK
// synth costs seconds, an assertion milliseconds.
var (
	built    *Result
	outdir   string
	hubUS    assertions.Template
	hubEU    assertions.Template
	mgmt     assertions.Template
	membersT assertions.Template
	member   assertions.Template
)

const testDecl = "testdata/declaration.json"

// newAssetRoot makes placeholder function assets (a bootstrap file and the declaration) in a
// temporary directory, as `make build` would.
func newAssetRoot(declPath string) (string, error) {
	raw, err := os.ReadFile(declPath)
	if err != nil {
		return "", err
	}
	root, err := os.MkdirTemp("", "ecr-warden-assets-")
	if err != nil {
		return "", err
	}
	for _, fn := range FunctionNames {
		dir := filepath.Join(root, fn)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), elfHeader(MachineAArch64), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "declaration.json"), raw, 0o644); err != nil {
			return "", err
		}
	}
	return root, nil
}

// elfHeader is a placeholder bootstrap: a 64-bit little-endian ELF header for machine m and
// nothing else (the asset checks read only the header; nothing runs it).
func elfHeader(m Machine) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1 // ELFCLASS64, little-endian, version 1
	h[16] = 2                  // ET_EXEC
	h[18], h[19] = byte(m), byte(m>>8)
	return h
}

func TestMain(m *testing.M) {
	flag.Parse()
	if localaws.Short() {
		// The fast lane synthesizes nothing: jsii needs Node. The tests that
		// read the templates skip (localaws.NeedCDK); the rest run.
		os.Exit(m.Run())
	}
	code := func() int {
		assets, err := newAssetRoot(testDecl)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(assets)
		outdir, err = os.MkdirTemp("", "ecr-warden-cdkout-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(outdir)
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
		built, err = Build(app, Options{DeclarationPath: testDecl, AssetRoot: assets, StackSetCallAs: "SELF"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		app.Synth(nil)
		hubUS = assertions.Template_FromStack(built.Hubs["us-east-1"].Stack, nil)
		hubEU = assertions.Template_FromStack(built.Hubs["eu-west-1"].Stack, nil)
		mgmt = assertions.Template_FromStack(built.Management[0].Stack, nil)
		membersT = assertions.Template_FromStack(built.Members.Stack, nil)
		member = assertions.Template_FromJSON(&built.Members.Template, nil)
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

// resources returns the template's resources of type typ by logical id.
func resourcesOf(tmpl assertions.Template, typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, r := range *tmpl.FindResources(jsii.String(typ), nil) {
		out[id] = *r
	}
	return out
}

func props(r map[string]interface{}) map[string]interface{} {
	p, _ := r["Properties"].(map[string]interface{})
	return p
}

// canonical re-encodes v so that equal JSON compares equal whatever the Go types.
func canonical(t *testing.T, v interface{}) interface{} {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenFile compares v with testdata/golden/<name>.json (rewritten with -update, see package
// golden), so a change to a policy is a reviewable diff.
func goldenFile(t *testing.T, name string, v interface{}) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden.Check(t, filepath.Join("testdata", "golden", name+".json"), got)
}

func mustEqual(t *testing.T, what string, got, want interface{}) {
	t.Helper()
	if g, w := canonical(t, got), canonical(t, want); !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\n got %s\nwant %s", what, gj, wj)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func contains(list interface{}, s string) bool {
	for _, v := range list.([]interface{}) {
		if v == s {
			return true
		}
	}
	return false
}

// The Members stack deploys after the primary hub stack, whose custom resource invokes the
// deploy-time backfill: the backfill queues the retirements of members the declaration no longer
// configures before the StackSet update removes their execution role. No hub stack waits for
// Members (that would be a cycle).
func TestMembersDeployAfterThePrimaryHubsBackfill(t *testing.T) {
	localaws.NeedCDK(t)
	names := func(s awscdk.Stack) []string {
		var out []string
		for _, d := range *s.Dependencies() {
			out = append(out, *d.StackName())
		}
		return out
	}
	primary := built.Hubs[built.Decl.PrimaryRegion()]
	if primary.Backfill == nil {
		t.Fatal("the primary hub stack has no deploy-time backfill")
	}
	if deps := names(built.Members.Stack); !slices.Contains(deps, *primary.StackName()) {
		t.Errorf("Members depends on %v, want %s (its backfill retires members before the StackSet update)", deps, *primary.StackName())
	}
	for region, h := range built.Hubs {
		if deps := names(h.Stack); slices.Contains(deps, *built.Members.StackName()) {
			t.Errorf("hub %s waits for Members (%v)", region, deps)
		}
	}
}
