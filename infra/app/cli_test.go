package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// cdkCLIVersion is the CLI the Makefile's cdk-cli target installs into .tools.
const cdkCLIVersion = "2.1148.1"

// cdkCLI returns the project's CDK CLI, installing it with npm into <repo>/.tools when missing
// (as `make cdk-cli` does), so the test needs nothing set up by hand.
func cdkCLI(t *testing.T, repo string) string {
	t.Helper()
	cli := filepath.Join(repo, ".tools", "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cli); err == nil {
		return cli
	}
	cmd := exec.Command("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", filepath.Join(repo, ".tools"), "aws-cdk@"+cdkCLIVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing the CDK CLI: %v\n%s", err, out)
	}
	return cli
}

// TestBrokenDeclarationFailsCdkSynth runs the real `cdk synth` (cdk.json: `go run ./infra`) on a
// broken declaration: it must exit non-zero and print every validation problem with its field.
func TestBrokenDeclarationFailsCdkSynth(t *testing.T) {
	localaws.NeedCDK(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	broken, err := filepath.Abs("testdata/broken.json")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cdkCLI(t, repo), "synth", "--quiet", "--output", t.TempDir(),
		"--context", "declaration="+broken, "--context", "assetRoot="+t.TempDir())
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_VERSION_CHECK=1",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err == nil {
		t.Fatalf("cdk synth accepted a broken declaration:\n%s", out.String())
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("cdk synth did not run: %v\n%s", err, out.String())
	}
	for _, want := range append([]string{"declaration " + broken + " is invalid"}, brokenDeclarationMessages...) {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cdk synth output does not mention %q:\n%s", want, out.String())
		}
	}
}

// TestCdkSynthRefusesBadBootstraps runs the real `cdk synth` on function assets whose bootstrap is
// not executable, and on ones built for x86-64: each must fail before any template exists, naming
// the binary, what is wrong and the command that fixes it.
func TestCdkSynthRefusesBadBootstraps(t *testing.T) {
	localaws.NeedCDK(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	decl, err := filepath.Abs(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		spoil func(bin string) error
		want  string
	}{
		{"not executable", func(bin string) error { return os.Chmod(bin, 0o644) }, "/drift/bootstrap is not executable (mode -rw-r--r--): Lambda could not start it"},
		{"wrong architecture", func(bin string) error { return os.WriteFile(bin, elfHeader(MachineX8664), 0o755) },
			"/drift/bootstrap is built for x86-64 (GOARCH=amd64), but the function runs on arm64 (GOARCH=arm64)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assets, err := newAssetRoot(testDecl)
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(assets)
			if err := c.spoil(filepath.Join(assets, FnDrift, "bootstrap")); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			cmd := exec.Command(cdkCLI(t, repo), "synth", "--quiet", "--output", out,
				"--context", "declaration="+decl, "--context", "assetRoot="+assets)
			cmd.Dir = repo
			cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_VERSION_CHECK=1",
				"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err = cmd.Run()
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("cdk synth accepted the bootstrap (%v):\n%s", err, buf.String())
			}
			t.Logf("cdk synth says:\n%s", buf.String())
			for _, want := range []string{"function assets under " + assets + " are not what the functions must run", c.want, "run `make build DECLARATION="} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("cdk synth output does not say %q:\n%s", want, buf.String())
				}
			}
			if tmpls, _ := filepath.Glob(filepath.Join(out, "*.template.json")); len(tmpls) > 0 {
				t.Errorf("templates written despite the refusal: %v", tmpls)
			}
		})
	}
}
