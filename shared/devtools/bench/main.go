// Command bench is `make bench`: it measures a backfill at organization scale
// against the local AWS with the real Lambda binaries (backfill fanning out
// through SQS to the worker, as deployed) and prints a table: wall time, AWS
// calls by operation, writes and calls per repository for a dry run, a first
// run that must write, and a second run over the converged organization. It
// then runs the in-memory desired+plan benchmark for 10,000 repositories and
// 1,000 accounts (shared/desired).
//
// It exits non-zero if the converged run writes anything or reads more than
// one repository policy per repository, the property the README promises.
//
//	go run ./shared/devtools/bench -accounts 20 -repositories 2000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
)

const (
	region     = "us-east-1"
	memberRole = "ecr-warden-execution"
)

func main() {
	accounts := flag.Int("accounts", 20, "accounts in the organization, all with repositories: the hub plus members")
	repositories := flag.Int("repositories", 2000, "repositories in total, spread evenly; half match a grant")
	workers := flag.Int("workers", 4, "worker execution environments (Lambda concurrency)")
	planBench := flag.Bool("plan-bench", true, "also run the in-memory 10,000-repository plan benchmark")
	flag.Parse()
	ctx := context.Background()
	if err := run(ctx, os.Stdout, *accounts, *repositories, *workers, *planBench); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// phase is one measured backfill.
type phase struct {
	name     string
	wall     time.Duration
	units    int
	calls    map[string]int // "service:Operation"
	changes  int
	planned  int
	failures int
	failed   []string // the first few failed units' log lines
}

func run(ctx context.Context, out io.Writer, nAccounts, nRepos, workers int, planBench bool) error {
	if nAccounts < 2 || nRepos < nAccounts {
		return fmt.Errorf("-accounts %d -repositories %d: want at least 2 accounts and one repository per account", nAccounts, nRepos)
	}
	dir, err := os.MkdirTemp("", "ecr-warden-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building backfill and worker for this host")
	bins := map[string]string{}
	for _, fn := range []string{"backfill", "worker"} {
		if bins[fn], err = lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, dir); err != nil {
			return err
		}
	}
	srv, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		return err
	}
	defer srv.Stop()
	proxy := localaws.NewProxy(srv.URL)
	defer proxy.Close()
	cfg := srv.Config(region)
	env, err := localrun.Prepare(ctx, cfg, 3)
	if err != nil {
		return err
	}

	// The hub (the local AWS's default account) plus members in 4 OUs.
	members := nAccounts - 1
	ous := []string{"workloads", "platform", "sandbox", "data"}
	fmt.Fprintf(os.Stderr, "seeding an organization of %d accounts and %d repositories\n", nAccounts, nRepos)
	org, err := localrun.SeedOrg(ctx, cfg, ous, members)
	if err != nil {
		return err
	}
	owners := []string{org.Management}
	for _, a := range org.Accounts {
		owners = append(owners, a.ID)
	}
	repos := 0
	for i, acct := range owners {
		n := nRepos / len(owners)
		if i < nRepos%len(owners) {
			n++
		}
		// Half team/* (matched by name), a quarter misc/* tagged share=org
		// (matched by the tag grant through tag:GetResources), a quarter
		// misc/* that no grant matches.
		var team, tagged, plain []string
		for k := range n {
			switch {
			case k%2 == 0:
				team = append(team, fmt.Sprintf("team/svc-%04d", k))
			case k%4 == 1:
				tagged = append(tagged, fmt.Sprintf("misc/tool-%04d", k))
			default:
				plain = append(plain, fmt.Sprintf("misc/tool-%04d", k))
			}
		}
		c, err := localrun.Config(ctx, cfg, org.Management, acct, memberRole)
		if err != nil {
			return err
		}
		if err := localrun.CreateRepositories(ctx, c, append(team, plain...), 8); err != nil {
			return err
		}
		if err := localrun.CreateRepositories(ctx, c, tagged, 8, ecrtypes.Tag{Key: aws.String("share"), Value: aws.String("org")}); err != nil {
			return err
		}
		repos += n
	}
	decl := filepath.Join(dir, "declaration.json")
	if err := os.WriteFile(decl, []byte(localrun.Declaration(org, region)), 0o644); err != nil {
		return err
	}

	fnEnv := env.Vars()
	fnEnv["AWS_ENDPOINT_URL"] = proxy.URL
	fnEnv["WARDEN_DECLARATION_FILE"] = decl
	backfill, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: "ecr-warden-backfill", Binary: bins["backfill"], Env: fnEnv, Region: region, Timeout: 15 * time.Minute, InitTimeout: 15 * time.Minute, MemoryMB: 1024})
	if err != nil {
		return err
	}
	defer backfill.Close()
	pool, err := lambdalocal.NewPool(ctx, lambdalocal.Function{Name: "ecr-warden-worker", Binary: bins["worker"], Env: fnEnv, Region: region, Timeout: 15 * time.Minute, InitTimeout: 15 * time.Minute, MemoryMB: 1024}, workers)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Warm both (cold starts are measured by make invoke, not here).
	if _, err := backfill.Invoke(ctx, []byte(`{}`)); err != nil {
		return err
	}
	q := sqs.NewFromConfig(cfg)

	measure := func(name, payload string) (phase, error) {
		proxy.Reset()
		start := time.Now()
		res, err := backfill.Invoke(ctx, []byte(payload))
		if err != nil {
			return phase{}, err
		}
		if res.Err != nil {
			return phase{}, fmt.Errorf("%s: backfill failed: %v\n%s", name, res.Err, strings.Join(res.Logs, "\n"))
		}
		var resp struct {
			Error   string
			Units   int
			Queued  int
			Summary *struct{ Planned, Failed int }
		}
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			return phase{}, err
		}
		if resp.Error != "" {
			return phase{}, fmt.Errorf("%s: %s", name, resp.Error)
		}
		p := phase{name: name, units: resp.Units}
		if resp.Summary != nil {
			p.planned = resp.Summary.Planned
			p.failures = resp.Summary.Failed
		} else {
			dr, err := localrun.Drain(ctx, q, env, region, pool, 10, workers, 50)
			if err != nil {
				return phase{}, err
			}
			p.failures = dr.Failures + dr.DeadLettered
			for _, d := range dr.Deliveries {
				if d.Result.Err != nil && len(p.failed) < 5 {
					p.failed = append(p.failed, "invocation failed: "+d.Result.Err.Error()+": "+strings.Join(d.Result.Logs, "\n"))
				}
				for _, l := range d.Result.Logs {
					if strings.Contains(l, `"unit failed`) && len(p.failed) < 5 {
						p.failed = append(p.failed, l)
					}
				}
			}
		}
		p.wall = time.Since(start)
		p.calls = map[string]int{}
		for _, c := range proxy.Calls() {
			p.calls[c.Service+":"+c.Op]++
		}
		p.changes = writes(p.calls)
		return p, nil
	}
	fmt.Fprintln(os.Stderr, "dry run")
	dry, err := measure("dry run (inline)", `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "first run")
	first, err := measure("first run (writes)", `{"action":"backfill","targets":{"all":true}}`)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "second run")
	second, err := measure("second run (converged)", `{"action":"backfill","targets":{"all":true}}`)
	if err != nil {
		return err
	}
	phases := []phase{dry, first, second}
	report(out, nAccounts, repos, workers, phases)

	var problems []string
	if second.changes != 0 {
		problems = append(problems, fmt.Sprintf("the converged run made %d writes", second.changes))
	}
	if n := second.calls["ecr:GetRepositoryPolicy"] + second.calls["ecr:ListTagsForResource"]; n > repos {
		problems = append(problems, fmt.Sprintf("the converged run read %d per-repository documents for %d repositories", n, repos))
	}
	for _, p := range phases {
		if p.failures != 0 {
			problems = append(problems, fmt.Sprintf("%s: %d failures:\n%s", p.name, p.failures, strings.Join(p.failed, "\n")))
		}
	}
	if planBench {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "in-memory desired state + plan (go test ./shared/desired -run '^$' -bench . -benchtime 5x):")
		cmd := exec.CommandContext(ctx, "go", "test", "./shared/desired", "-run", "^$", "-bench", ".", "-benchtime", "5x")
		b, err := cmd.CombinedOutput()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "cpu:") {
				fmt.Fprintln(out, "  "+l)
			}
		}
		if err != nil {
			problems = append(problems, "the plan benchmark failed: "+err.Error()+"\n"+string(b))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// writes counts the calls that change ECR or IAM (the audit trail's
// DynamoDB writes and the SQS traffic are reported, not counted as writes).
func writes(calls map[string]int) int {
	n := 0
	for k, v := range calls {
		svc, op, _ := strings.Cut(k, ":")
		if (svc == "ecr" || svc == "iam" || svc == "ecr-public") && isWrite(op) {
			n += v
		}
	}
	return n
}

func isWrite(op string) bool {
	for _, p := range []string{"Set", "Put", "Delete", "Create", "Update", "Tag", "Untag"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

func report(out io.Writer, accounts, repos, workers int, phases []phase) {
	fmt.Fprintf(out, "backfill of %d accounts, %d repositories, 1 region; real binaries on the local AWS (moto); %d worker environments\n\n", accounts, repos, workers)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t", p.name)
	}
	fmt.Fprintln(tw)
	row := func(name string, f func(p phase) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, p := range phases {
			fmt.Fprintf(tw, "%s\t", f(p))
		}
		fmt.Fprintln(tw)
	}
	row("wall time", func(p phase) string { return p.wall.Round(10 * time.Millisecond).String() })
	row("work units", func(p phase) string { return fmt.Sprint(p.units) })
	row("ECR/IAM writes", func(p phase) string { return fmt.Sprint(p.changes) })
	row("changes planned (dry run)", func(p phase) string { return fmt.Sprint(p.planned) })
	row("AWS calls, all", func(p phase) string { return fmt.Sprint(sum(p.calls, "")) })
	row("ECR calls per repository", func(p phase) string { return fmt.Sprintf("%.2f", float64(sum(p.calls, "ecr:"))/float64(repos)) })
	row("per-repository reads (policy, tags)", func(p phase) string {
		return fmt.Sprintf("%.2f", float64(p.calls["ecr:GetRepositoryPolicy"]+p.calls["ecr:ListTagsForResource"])/float64(repos))
	})
	row("listing pages (DescribeRepositories)", func(p phase) string { return fmt.Sprint(p.calls["ecr:DescribeRepositories"]) })
	row("tag listing pages (tag:GetResources)", func(p phase) string { return fmt.Sprint(p.calls["tagging:GetResources"]) })
	keys := map[string]bool{}
	for _, p := range phases {
		for k := range p.calls {
			keys[k] = true
		}
	}
	var ops []string
	for k := range keys {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	for _, k := range ops {
		row("  "+k, func(p phase) string { return fmt.Sprint(p.calls[k]) })
	}
	tw.Flush()
}

func sum(calls map[string]int, prefix string) int {
	n := 0
	for k, v := range calls {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}
