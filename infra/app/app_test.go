package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// One synthesis of the example declaration is shared by every assertion in this package: a CDK
// synth costs seconds, an assertion milliseconds.
var (
	built     *Result
	outdir    string
	hubUS     assertions.Template
	hubEU     assertions.Template
	mgmt      assertions.Template
	membersT  assertions.Template
	memberTpl assertions.Template
	testDecl  = "testdata/declaration.json"
)

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
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("placeholder, tests only\n"), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "declaration.json"), raw, 0o644); err != nil {
			return "", err
		}
	}
	return root, nil
}

func TestMain(m *testing.M) {
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
		memberTpl = assertions.Template_FromJSON(&built.Members.Template, nil)
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

func toJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDebugMember(t *testing.T) {
	t.Log(toJSON(t, built.Members.Template))
}
