package demo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// readmeBlock returns the command lines of the README's seeded-emulator
// block, so the test runs what a reader copies.
func readmeBlock(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- seeded-emulator: begin -->"), strings.Index(s, "<!-- seeded-emulator: end -->")
	if i < 0 || j < i {
		t.Fatal("README.md has no seeded-emulator block")
	}
	var lines []string
	for _, l := range strings.Split(s[i:j], "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "<!--") || strings.HasPrefix(l, "```") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// TestSeededEmulatorByTheREADME starts `make emulator SEED=demo`, then runs
// the README's commands in order in one shell: an account event and a
// repository event replayed with make invoke, an event the function rejects
// (nothing is created for it), a local backfill dry run, and make audit
// reading the results (actor, writer, declaration hash).
func TestSeededEmulatorByTheREADME(t *testing.T) {
	localaws.Need(t)
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	lines := readmeBlock(t, root)
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "make emulator SEED=demo") || !strings.HasPrefix(lines[1], "source ") {
		t.Fatalf("README block does not start with make emulator SEED=demo and source: %q", lines)
	}
	port := freePort(t)
	env := cleanEnv(fmt.Sprintf("EMULATOR_PORT=%d", port))

	// Line 1: the emulator, in its own process group so it stops with the test.
	first, _, _ := strings.Cut(lines[0], "#")
	emu := exec.Command("bash", "-c", "exec "+strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(first), "&")))
	emu.Dir, emu.Env = root, env
	emu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var emuLog strings.Builder
	emu.Stderr = &emuLog
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-emu.Process.Pid, syscall.SIGTERM); _ = emu.Wait() }()
	ready := make(chan string, 1)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if sc.Text() == "ready" {
				ready <- seen.String()
			}
		}
		close(ready)
	}()
	var banner string
	select {
	case banner = <-ready:
	case <-time.After(4 * time.Minute):
		t.Fatalf("make emulator SEED=demo printed no ready line:\n%s", emuLog.String())
	}
	if banner == "" {
		t.Fatalf("make emulator SEED=demo ended early:\n%s", emuLog.String())
	}
	// The roles ecr-warden assumes (localaws.SeedAssumedRoles, as every
	// local world) are created with the rest: the member execution role and
	// the organization reader.
	for _, want := range []string{"-> ", "hub", "member team-a", "created role team-a-ci", "created secret ecr-pullthroughcache/docker-hub",
		"created role ecr-warden-execution in ", "created role ecr-warden-org-read in ",
		"build/emulator/declaration.json", "export AWS_ENDPOINT_URL=http://127.0.0.1:" + fmt.Sprint(port), "export AWS_SESSION_TOKEN="} {
		if !strings.Contains(banner, want) {
			t.Fatalf("the seeded emulator's banner lacks %q:\n%s", want, banner)
		}
	}

	// The other lines, in one shell as a reader types them, each output
	// marked so the assertions can tell them apart.
	var script strings.Builder
	script.WriteString("set -u\n")
	for _, l := range lines[1:] {
		fmt.Fprintf(&script, "echo %q; %s; echo \"=== exit $?\"\n", "=== "+l, l)
	}
	sh := exec.Command("bash", "-c", script.String())
	sh.Dir, sh.Env = root, env
	combined, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands: %v\n%s", err, combined)
	}
	got := map[string]string{}
	var cur string
	for _, l := range strings.Split(string(combined), "\n") {
		if c, ok := strings.CutPrefix(l, "=== "); ok && !strings.HasPrefix(c, "exit ") && strings.HasPrefix(c, "make ") || strings.HasPrefix(l, "=== source ") {
			c, _ = strings.CutPrefix(l, "=== ")
			cur = c
			continue
		}
		got[cur] += l + "\n"
	}
	find := func(prefix string) string {
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, prefix) {
				return got[l]
			}
		}
		t.Fatalf("README block has no line starting %q", prefix)
		return ""
	}
	decl, err := os.ReadFile(filepath.Join(root, "build", "emulator", "declaration.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(decl)
	hash := hex.EncodeToString(sum[:])[:12]
	checks := []struct{ line, want string }{
		{"make invoke FN=account", `"changed": `},
		{"make invoke FN=account", "invoke: result ok"},
		{"make invoke FN=account", "=== exit 0"},
		{"make invoke FN=repository EVENT=build/emulator/events/ecr-create-repository-api-member.json", "invoke: local AWS: created repository"},
		{"make invoke FN=repository EVENT=build/emulator/events/ecr-create-repository-api-member.json", `"changed": 1`},
		{"make invoke FN=repository EVENT=build/emulator/events/ecr-create-repository-other-region.json", "creating nothing for it"},
		{"make invoke FN=repository EVENT=build/emulator/events/ecr-create-repository-other-region.json", `"rejected": "region-not-configured"`},
		{"make backfill LOCAL=1", `"request": "all (dry run)"`},
		{"make backfill LOCAL=1", "=== exit 0"},
		{"make audit RESOURCE=team-a/app", "applied"},
		{"make audit RESOURCE=team-a/app", "create ECRRepositoryPolicy"},
		{"make audit RESOURCE=team-a/app", "assumed-role/ci-deployer/gitlab-runner-8812"},
		{"make audit RESOURCE=team-a/app", ":assumed-role/ecr-warden-repository/"},
		{"make audit RESOURCE=team-a/app", "declaration sha256 " + hash},
		{"make audit ARGS=", "region-not-configured"},
		{"make audit ARGS=", "team-a/mumbai"},
	}
	for _, c := range checks {
		if o := find(c.line); !strings.Contains(o, c.want) {
			t.Errorf("%s: output lacks %q:\n%s", c.line, c.want, o)
		}
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "make ") && strings.Contains(got[l], "Error ") {
			t.Errorf("%s failed:\n%s", l, got[l])
		}
	}
	if t.Failed() {
		t.Logf("all output:\n%s", combined)
	}

	// The rejected event created nothing: no repository in ap-south-1 of
	// the member it names.
	exports := map[string]string{}
	envFile, _ := os.ReadFile(filepath.Join(root, "build", "emulator", "env.sh"))
	for _, l := range strings.Split(string(envFile), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			exports[k] = v
		}
	}
	base := aws.Config{Region: "ap-south-1", BaseEndpoint: aws.String(exports["AWS_ENDPOINT_URL"]),
		Credentials: credentials.NewStaticCredentialsProvider(exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"], exports["AWS_SESSION_TOKEN"])}
	member := ""
	for _, l := range strings.Split(banner, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == exampleTeamA {
			member = f[2]
		}
	}
	cfg, err := localaws.AccountConfig(context.Background(), base, member, "test")
	if err != nil {
		t.Fatal(err)
	}
	repos, err := ecr.NewFromConfig(cfg).DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{})
	if err != nil || len(repos.Repositories) != 0 {
		t.Errorf("the rejected event's region holds repositories %v (%v), want none", repos, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cleanEnv is this process's environment without AWS, WARDEN_ and make
// settings a developer's shell may hold, plus extra.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "WARDEN_") || k == "DECLARATION" || k == "MAKEFLAGS" || k == "MAKELEVEL" || k == "MFLAGS" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}
