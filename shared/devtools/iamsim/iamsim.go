// Package iamsim drives an IAM policy evaluator written independently of
// ecr-warden (@cloud-copilot/iam-simulate from npm, version pinned in
// package.json and package-lock.json next to this file) so tests can ask
// "does AWS allow this request under these policies?" without trusting
// ecr-warden's own reading of conditions. Install puts the pinned package
// into <module>/.tools/iamsim (what `make iamsim` does); Simulate runs
// simulate.cjs under node over a batch of cases.
package iamsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// Case is one request to evaluate.
type Case struct {
	// Principal is the caller's ARN, or "anonymous".
	Principal       string         `json:"principal"`
	Action          string         `json:"action"`
	Resource        string         `json:"resource"`
	ResourceAccount string         `json:"resourceAccount"`
	Context         map[string]any `json:"context,omitempty"`
	ResourcePolicy  any            `json:"resourcePolicy,omitempty"`
	IdentityPolicy  any            `json:"identityPolicy,omitempty"`
	// BoundaryPolicy is the principal's permissions boundary, if any.
	BoundaryPolicy any `json:"boundaryPolicy,omitempty"`
}

// Result is the evaluator's answer: "Allowed", "ImplicitlyDenied" or
// "ExplicitlyDenied", or Error when it refused the input.
type Result struct {
	Result string `json:"result"`
	Error  string `json:"error"`
}

// Allowed reports whether the request is allowed.
func (r Result) Allowed() bool { return r.Result == "Allowed" }

// Simulator runs the installed evaluator.
type Simulator struct {
	nodePath string
	script   string
}

var (
	installMu sync.Mutex
)

// Install makes sure the pinned evaluator is installed under
// root/.tools/iamsim (npm ci from the committed lock file, once) and
// returns a Simulator using it. root is the module root.
func Install(ctx context.Context, root string) (*Simulator, error) {
	installMu.Lock()
	defer installMu.Unlock()
	src := filepath.Join(root, "shared", "devtools", "iamsim")
	dir := filepath.Join(root, ".tools", "iamsim")
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return nil, fmt.Errorf("iamsim: reading the lock file: %w", err)
	}
	// Reinstall when the committed lock file changed since the last install.
	installed, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cloud-copilot", "iam-simulate", "package.json")); err != nil || !bytes.Equal(installed, lock) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("iamsim: %w", err)
		}
		for _, f := range []string{"package.json", "package-lock.json"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				return nil, fmt.Errorf("iamsim: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				return nil, fmt.Errorf("iamsim: %w", err)
			}
		}
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("iamsim: npm ci in %s: %w\n%s", dir, err, out)
		}
	}
	return &Simulator{nodePath: filepath.Join(dir, "node_modules"), script: filepath.Join(src, "simulate.cjs")}, nil
}

// batch is how many cases one node process evaluates: every case carries
// its documents, and node cannot hold a string past about 512 MB.
const batch = 20000

// Simulate evaluates the cases, in order, in node processes of at most
// batch cases each, as many at once as the machine has cores: make test runs
// one package at a time, and the table's hundreds of thousands of rows
// would otherwise leave every core but one idle.
func (s *Simulator) Simulate(ctx context.Context, cases []Case) ([]Result, error) {
	n := (len(cases) + batch - 1) / batch
	parts := make([][]Result, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(runtime.NumCPU(), 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := i * batch
			parts[i], errs[i] = s.simulate(ctx, cases[start:min(start+batch, len(cases))])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(cases))
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

func (s *Simulator) simulate(ctx context.Context, cases []Case) ([]Result, error) {
	in, err := json.Marshal(cases)
	if err != nil {
		return nil, fmt.Errorf("iamsim: encoding cases: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", s.script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+s.nodePath)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("iamsim: node %s: %w\n%s", s.script, err, stderr.String())
	}
	var res []Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("iamsim: decoding results: %w", err)
	}
	if len(res) != len(cases) {
		return nil, fmt.Errorf("iamsim: %d results for %d cases", len(res), len(cases))
	}
	return res, nil
}
