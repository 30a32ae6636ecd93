package rehearsal

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestDeployRehearsal is `make deploy-local` as a test: every stack is created on the local AWS in
// order, each as its own account; the deployed functions, run from their deployed code with their
// deployed environment and role, converge a repository event, an account event and the deploy-time
// backfill; destroy retains the audit table, the same names are then refused, and a reinstall with
// a new prefix succeeds. Its log (with the resource types the local AWS skipped) is written to
// build/deploy-local.log, which `make test` prints.
func TestDeployRehearsal(t *testing.T) {
	localaws.Need(t) // and the CDK CLI (Node)
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, ".tools", "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		cmd := exec.Command("make", "cdk-cli")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("installing the CDK CLI: %v\n%s", err, out)
		}
	}
	var log bytes.Buffer
	rep, err := Run(t.Context(), Options{Root: root, CDK: cdk, Out: io.MultiWriter(&log, testWriter{t})})
	if werr := os.MkdirAll(filepath.Join(root, "build"), 0o755); werr == nil {
		_ = os.WriteFile(filepath.Join(root, "build", "deploy-local.log"), log.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Stacks {
		names = append(names, s.Name+"@"+s.Account)
	}
	want := []string{"EcrWarden-Management@" + rep.Org.Management, "EcrWarden-Members@" + rep.Org.Management,
		"StackSet-ecr-warden-members-" + rep.Org.MemberA + "@" + rep.Org.MemberA,
		"StackSet-ecr-warden-members-" + rep.Org.MemberB + "@" + rep.Org.MemberB,
		"EcrWarden-Hub-" + Region + "@" + rep.Org.Hub}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("stacks created: %v, want %v", names, want)
	}
	if len(rep.SkippedTypes) == 0 {
		t.Error("no skipped resource types reported; the local AWS skips some (the StackSet at least)")
	}
	for _, fn := range functions {
		fc, ok := rep.Functions["ecr-warden-"+fn]
		if !ok || fc.Environment.Variables["WARDEN_AUDIT_TABLE"] != "ecr-warden-audit" || !strings.HasSuffix(fc.Role, ":role/ecr-warden-"+fn+"-"+Region) {
			t.Errorf("deployed %s: %+v", fn, fc)
		}
	}
	if len(rep.Converged) != 4 { // repository event, the move, its hand-off to the worker, the backfill
		t.Errorf("converged: %v", rep.Converged)
	}
	if rep.SameNamesRefused == "" || len(rep.Redeployed) != len(rep.Stacks) {
		t.Errorf("destroy then deploy: same names refused %q, reinstalled %d stacks", rep.SameNamesRefused, len(rep.Redeployed))
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
