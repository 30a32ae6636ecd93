// Package demo is `make demo`: ecr-warden's main job end to end on the local
// AWS, told as a short story a person can read in a terminal. It starts moto
// (shared/devtools/localaws), builds a small organization (management, hub, two
// members), builds the real Lambda binaries for this host and runs them under
// the local Lambda runtime (shared/devtools/lambdalocal), replays the sample events in
// events/ and prints the policies, roles and rules that result, the AWS
// writes each delivery made, and the audit trail.
//
// The demo is a program rather than a script so that `make test` can run it
// end to end (demo_test.go) and prove that `make demo` works.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// Options say which declaration to demonstrate and where to print.
type Options struct {
	// Declaration is the declaration file whose example ids the demo maps to
	// the local organization's (default infra/declaration.json under Root).
	Declaration string
	// Root is the module root holding functions/ and events/ ("" finds it
	// from the working directory).
	Root string
	// Out receives the story; nil means os.Stdout.
	Out io.Writer
	// FunctionLogs, if set, receives every log line of the functions as they
	// run (the story only summarises them).
	FunctionLogs io.Writer
}

// Result is what the demo observed, for its test: the documents it printed
// and the counts behind each claim.
type Result struct {
	// Endpoint is the local AWS the demo started (and stopped).
	Endpoint string
	// Accounts maps the example ids to the generated ones.
	Accounts map[string]string
	// Policies are the documents read back after each step, by label
	// ("hub shared/base", "team-a team-a/app", "public tools/scanner", ...).
	Policies map[string]string
	// Writes are the AWS writes (ECR, ECR Public, IAM) of each delivery, by
	// label ("hub shared/base", "duplicate", "rejected failed-call", ...).
	Writes map[string]int
	// Rejected are the rejection reasons the function answered, by event.
	Rejected map[string]string
	// ForeignStatement is the hand-written statement's JSON before and after
	// the function converged its repository.
	ForeignBefore, ForeignAfter string
	// Joined is the account that joined in step (f), "" when the account
	// function is not in this tree.
	Joined string
	// Planned is the number of changes the backfill dry run planned.
	Planned int
	// Skipped names steps left out because their function is not built yet.
	Skipped []string
	// Trail is the audit trail of the demo's time window.
	Trail []audit.Record
}

// Run tells the whole story. It starts and stops everything it needs; the
// local AWS and the function processes are stopped on return, also when ctx
// is cancelled (Ctrl-C) or a step fails.
func Run(ctx context.Context, opt Options) (res *Result, err error) {
	if opt.Out == nil {
		opt.Out = os.Stdout
	}
	if opt.Root == "" {
		if opt.Root, err = lambdalocal.ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if opt.Declaration == "" {
		opt.Declaration = filepath.Join(opt.Root, "infra", "declaration.json")
	}
	// Refuse a bad declaration before starting anything.
	if _, err := config.Load(opt.Declaration); err != nil {
		return nil, err // names the file and every problem in it
	}
	dir, err := os.MkdirTemp("", "ecr-warden-demo-*")
	if err != nil {
		return nil, fmt.Errorf("creating the demo's work directory: %w", err)
	}
	defer os.RemoveAll(dir)

	d := &demo{opt: opt, dir: dir, p: &printer{w: opt.Out}, res: &Result{
		Accounts: map[string]string{}, Policies: map[string]string{}, Writes: map[string]int{}, Rejected: map[string]string{}}}
	d.p.printf("ecr-warden demo: the main job end to end on a local AWS (moto) with the real Lambda binaries\n")

	srv, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		return nil, fmt.Errorf("starting the local AWS: %w", err)
	}
	defer srv.Stop()
	d.res.Endpoint = srv.URL
	proxy := localaws.NewProxy(srv.URL)
	defer proxy.Close()
	d.w = &world{srv: srv, proxy: proxy}
	defer d.closeFunctions()

	d.start = time.Now().Add(-time.Second)
	if err := d.setup(ctx); err != nil {
		return d.res, err
	}
	steps := []func(context.Context) error{d.stepCreated, d.stepService, d.stepRejected, d.stepDuplicate,
		d.stepForeign, d.stepJoin, d.stepPublic, d.stepBackfill, d.stepAudit}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return d.res, err
		}
		if d.p.err != nil {
			return d.res, fmt.Errorf("printing the demo: %w", d.p.err)
		}
	}
	return d.res, nil
}

// demo is one run's state.
type demo struct {
	opt   Options
	dir   string
	p     *printer
	w     *world
	res   *Result
	start time.Time
	// env is what every function gets: the endpoint (the counting proxy),
	// the hub's credentials, the rendered declaration and the tables.
	env map[string]string
	fns map[string]*lambdalocal.Instance
}

// setup builds the organization, renders the declaration with its ids and
// builds the functions.
func (d *demo) setup(ctx context.Context) error {
	d.p.heading("setup", "local AWS, organization, declaration, functions")
	d.p.line("local AWS (moto + ecr-warden's extension) at %s; the functions reach it through a call-counting proxy", d.w.srv.URL)
	if err := d.w.buildOrganization(ctx); err != nil {
		return err
	}
	if err := d.w.renderDeclaration(d.opt.Declaration, d.dir); err != nil {
		return err
	}
	if err := d.w.createLeaseTables(ctx); err != nil {
		return err
	}
	if err := d.w.seedPrerequisites(ctx); err != nil {
		return err
	}
	names := map[string]string{exampleManagement: "management (moto's default account)", exampleHub: "hub", exampleTeamA: "member team-a (OU workloads/team-a)",
		exampleSecurity: "member security (root OU)", exampleOrg: "organization", exampleRoot: "root", exampleWorkloads: "OU workloads", exampleTeamAOU: "OU workloads/team-a"}
	d.p.line("moto makes up its own ids, so the demo rewrites %s and every replayed event:", rel(d.opt.Root, d.opt.Declaration))
	for _, p := range d.w.ids {
		d.res.Accounts[p[0]] = p[1]
		d.p.line("  %-16s -> %-16s %s", p[0], p[1], names[p[0]])
	}
	d.p.line("rendered declaration: %s", d.w.declPath)

	// The functions run as the hub, as deployed; keys from an AssumeRole made
	// through the proxy, so its per-account counts know them.
	hub, err := localaws.AccountConfig(ctx, d.w.proxy.Config(region), d.w.hub, "ecr-warden-function")
	if err != nil {
		return fmt.Errorf("hub credentials for the functions: %w", err)
	}
	creds, err := hub.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("hub credentials for the functions: %w", err)
	}
	d.env = map[string]string{
		"AWS_ENDPOINT_URL":        d.w.proxy.URL,
		"AWS_ACCESS_KEY_ID":       creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":   creds.SecretAccessKey,
		"AWS_SESSION_TOKEN":       creds.SessionToken,
		"WARDEN_DECLARATION_FILE": d.w.declPath,
		"WARDEN_AUDIT_TABLE":      auditTable,
		"WARDEN_LEASE_TABLE":      leaseTable,
		"WARDEN_ORG_ROLE_ARN":     d.w.orgReaderARN(),
	}
	d.fns = map[string]*lambdalocal.Instance{}
	fns := []string{"repository", "account", "backfill", "worker"}
	bins, err := d.build(ctx, fns)
	if err != nil {
		return err
	}
	var built []string
	for _, name := range fns {
		if bins[name] == "" {
			continue
		}
		inst, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: "ecr-warden-" + name, Binary: bins[name], Env: d.env,
			Region: region, AccountID: d.w.hub, Timeout: 2 * time.Minute, LogOutput: d.opt.FunctionLogs})
		if err != nil {
			return fmt.Errorf("starting function %s: %w", name, err)
		}
		d.fns[name] = inst
		built = append(built, name)
	}
	if d.fns["repository"] == nil {
		return errors.New("functions/repository is missing: the demo needs at least the repository function")
	}
	d.p.line("functions built for this host and running under the local Lambda runtime, as the hub: %s", strings.Join(built, ", "))
	return nil
}

// build builds the functions/<name> packages for this host, all at once
// (each is a separate go build); a name whose package is not in this tree
// yet gets no binary.
func (d *demo) build(ctx context.Context, names []string) (map[string]string, error) {
	bins := map[string]string{}
	errs := make([]error, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, name := range names {
		if _, err := os.Stat(filepath.Join(d.opt.Root, "functions", name, "main.go")); err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bin, err := lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+name, filepath.Join(d.dir, "bin"))
			if err != nil {
				errs[i] = fmt.Errorf("building function %s: %w", name, err)
				return
			}
			mu.Lock()
			bins[name] = bin
			mu.Unlock()
		}()
	}
	wg.Wait()
	return bins, errors.Join(errs...)
}

func (d *demo) closeFunctions() {
	for _, inst := range d.fns {
		inst.Close()
	}
}

// response is the part of a function's answer the demo reads: the repository
// function's target or rejection, and the engine's report all functions share.
type response struct {
	Target   string `json:"target,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	Detail   string `json:"detail,omitempty"`
	reconcile.Report
}

// invoke delivers one event to a function and returns its answer and the AWS
// writes (ECR, ECR Public, IAM, Organizations; not the audit trail and lease
// in DynamoDB) the proxy saw during the delivery. A failed invocation is an
// error carrying the function's last log lines.
func (d *demo) invoke(ctx context.Context, fn string, event []byte) (response, []byte, int, error) {
	inst := d.fns[fn]
	d.w.proxy.Reset()
	r, err := inst.Invoke(ctx, event)
	if err != nil {
		return response{}, nil, 0, fmt.Errorf("invoking function %s: %w", fn, err)
	}
	writes := 0
	for _, c := range d.w.proxy.Calls() {
		if c.Service != "dynamodb" && c.Service != "sts" && inventory.IsWrite(c.Op) {
			writes++
		}
	}
	if r.Err != nil {
		logs := r.Logs
		if len(logs) > 10 {
			logs = logs[len(logs)-10:]
		}
		return response{}, nil, writes, fmt.Errorf("function %s failed: %v\n%s", fn, r.Err, strings.Join(logs, "\n"))
	}
	var resp response
	if err := json.Unmarshal(r.Payload, &resp); err != nil {
		return response{}, r.Payload, writes, fmt.Errorf("function %s answered %s: %w", fn, r.Payload, err)
	}
	return resp, r.Payload, writes, nil
}

// writesByOp summarises the proxy's calls since the last invoke's reset as
// "op×n" for the write operations.
func (d *demo) writesByOp() string {
	counts := map[string]int{}
	for _, c := range d.w.proxy.Calls() {
		if c.Service != "dynamodb" && c.Service != "sts" && inventory.IsWrite(c.Op) {
			counts[c.Op]++
		}
	}
	var parts []string
	for op, n := range counts {
		parts = append(parts, fmt.Sprintf("%s×%d", op, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// rel shortens path relative to root for printing.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
