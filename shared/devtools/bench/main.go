// Command bench is `make bench`: the write path against two yardsticks, in
// one run, on the local AWS. Each program gets its own freshly seeded
// organization (the hub plus members in 4 OUs, repositories half matched by
// name, a quarter by a tag grant, a quarter by nothing):
//
//   - the floor: a small program (floor.go) making only the reads and writes
//     the declaration needs, with the same parallelism, planned by the
//     product's own pure packages; no audit, no lease, no queue;
//   - a blind-overwrite loop (loop.go): list, then overwrite every repository
//     policy with one document, reading nothing;
//   - the product: the real backfill and worker binaries fanning out through
//     SQS, a dry run, a first run and a converged re-run; then the marginal
//     cost of a written repository; then 20 account joins (the real account
//     binary) one after another and 20 at once, counting lost hub grants.
//
// Each phase reports wall time, AWS calls by service and ECR/IAM writes; the
// ratios product/floor and product/loop are printed last. It exits non-zero
// if the converged run writes or reads more than one document per
// repository, the product and the floor write differently, or a grant is lost.
//
//	go run ./shared/devtools/bench -accounts 20 -repositories 2000 -joins 20
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/cli"
	"github.com/ecr-warden/ecr-warden/shared/config"
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
	joins := flag.Int("joins", 20, "account joins measured in series and at once")
	planBench := flag.Bool("plan-bench", true, "also run the in-memory 10,000-repository plan benchmark")
	joinsOnly := flag.Bool("joins-only", false, "measure only the account joins (on a seeded organization), for quick iterations")
	flag.IntVar(&rounds, "rounds", 5, "rounds of each repeatable measurement (converged runs, loops, joins); times are their medians")
	cli.Main("bench", os.Args[1:], "")
	ctx := context.Background()
	onlyJoins = *joinsOnly
	if err := run(ctx, os.Stdout, *accounts, *repositories, *workers, *joins, *planBench); err != nil {
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

// world is one seeded organization: the accounts, their repositories and the
// declaration file for it (the local AWS makes new ids on every seeding).
type world struct {
	org   localrun.Org
	decl  string
	repos int
}

// seed creates the organization (the hub plus members in 4 OUs) and nRepos
// repositories spread evenly: half team/* (matched by name), a quarter misc/*
// tagged share=org (matched by the tag grant through tag:GetResources), a
// quarter misc/* that no grant matches. It writes straight to the local AWS,
// not through the counting proxy.
func seed(ctx context.Context, cfg aws.Config, dir string, nAccounts, nRepos int) (world, error) {
	ous := []string{"workloads", "platform", "sandbox", "data"}
	org, err := localrun.SeedOrg(ctx, cfg, ous, nAccounts-1, localrun.MemberRole)
	if err != nil {
		return world{}, err
	}
	w := world{org: org, decl: filepath.Join(dir, "declaration.json")}
	owners := []string{org.Management}
	for _, a := range org.Accounts {
		owners = append(owners, a.ID)
	}
	for i, acct := range owners {
		n := nRepos / len(owners)
		if i < nRepos%len(owners) {
			n++
		}
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
			return world{}, err
		}
		if err := localrun.CreateRepositories(ctx, c, append(team, plain...), 8); err != nil {
			return world{}, err
		}
		if err := localrun.CreateRepositories(ctx, c, tagged, 8, ecrtypes.Tag{Key: aws.String("share"), Value: aws.String("org")}); err != nil {
			return world{}, err
		}
		w.repos += n
	}
	if err := os.WriteFile(w.decl, []byte(localrun.Declaration(org, region)), 0o644); err != nil {
		return world{}, err
	}
	return w, nil
}

// Parallelism shared by the product and the yardsticks: the bench drains the
// queue with `workers` deliveries in flight of up to 10 units, the worker
// converges 4 units of a delivery at once and 8 repositories of a unit at once.
const (
	unitsPerDelivery = 4
	perUnit          = 8
)

func run(ctx context.Context, out io.Writer, nAccounts, nRepos, workers, joins int, planBench bool) error {
	if nAccounts < 2 || nRepos < nAccounts {
		return fmt.Errorf("-accounts %d -repositories %d: want at least 2 accounts and one repository per account", nAccounts, nRepos)
	}
	dir, err := os.MkdirTemp("", "ecr-warden-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building backfill, worker and account for this host")
	bins := map[string]string{}
	for _, fn := range []string{"backfill", "worker", "account"} {
		if bins[fn], err = lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, dir); err != nil {
			return err
		}
	}
	srv, err := localaws.Start(ctx, localaws.Options{DynamoDBApart: true})
	if err != nil {
		return err
	}
	defer srv.Stop()
	proxy := localaws.NewServerProxy(srv)
	for pid, name := range srv.Processes() {
		localNames[strconv.Itoa(pid)] = name
	}
	defer proxy.Close()
	cfg := srv.Config(region)
	// Units at once: two deliveries of 10 cover 20 units, each converging 4
	// at once; the yardsticks run as many.
	units := min(workers, (nAccounts+9)/10) * unitsPerDelivery

	timed := func(name string, f func() (int, error)) (phase, error) {
		proxy.Reset()
		start := time.Now()
		n, err := f()
		p := phase{name: name, wall: time.Since(start), calls: map[string]int{}}
		if err != nil {
			return p, fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range proxy.Calls() {
			p.calls[c.Service+":"+c.Op]++
		}
		p.changes = writes(p.calls)
		if n != p.changes {
			return p, fmt.Errorf("%s: counted %d writes, the proxy saw %d", name, n, p.changes)
		}
		return p, nil
	}

	// The local AWS loads a service's backend on its first call (the tagging
	// backend alone takes more than a second): load every one the programs
	// use before anything is timed, so the first program measured is not
	// charged for it.
	if err := warm(ctx, cfg); err != nil {
		return err
	}

	if onlyJoins {
		return joinsAlone(ctx, out, cfg, proxy, dir, bins, nAccounts, nRepos, joins)
	}

	// 1. The floor, on its own freshly seeded organization.
	fmt.Fprintf(os.Stderr, "floor: seeding an organization of %d accounts and %d repositories\n", nAccounts, nRepos)
	w, err := seed(ctx, cfg, dir, nAccounts, nRepos)
	if err != nil {
		return err
	}
	decl, err := config.Load(w.decl)
	if err != nil {
		return err
	}
	fl := floor{decl: decl, hub: proxy.Config(region), memberRol: memberRole, units: units, perUnit: perUnit}
	floorFirst, err := timed("floor, first run", func() (int, error) { return fl.run(ctx, region) })
	if err != nil {
		return err
	}
	floorSecond, err := median(func() (phase, error) {
		return timed("floor, converged", func() (int, error) { return fl.run(ctx, region) })
	})
	if err != nil {
		return err
	}

	// 2. The blind-overwrite loop, on a new organization.
	fmt.Fprintln(os.Stderr, "blind loop: seeding again")
	if err := srv.Reset(); err != nil {
		return err
	}
	if w, err = seed(ctx, cfg, dir, nAccounts, nRepos); err != nil {
		return err
	}
	var members []string
	for _, a := range w.org.Accounts {
		members = append(members, a.ID)
	}
	py := boto3Loop{endpoint: proxy.URL, region: region, hubAccount: w.org.Management, members: members, memberRole: memberRole, policy: blindPolicy(w.org.ID)}
	loop, err := median(func() (phase, error) {
		var took time.Duration
		p, err := timed("blind loop, boto3 script", func() (n int, err error) { n, took, err = py.run(ctx, dir); return n, err })
		p.wall = took
		return p, err
	})
	if err != nil {
		return err
	}
	bl := blindLoop{hub: proxy.Config(region), hubAccount: w.org.Management, members: members, memberRole: memberRole, orgID: w.org.ID, units: units, perUnit: perUnit}
	parLoop, err := median(func() (phase, error) {
		return timed("blind loop, parallel Go", func() (int, error) { return bl.run(ctx) })
	})
	if err != nil {
		return err
	}

	// 3. The product: the real binaries, fanning out through SQS.
	fmt.Fprintln(os.Stderr, "product: seeding again")
	if err := srv.Reset(); err != nil {
		return err
	}
	env, fnEnv, err := productWorld(ctx, cfg, proxy, dir, nAccounts, nRepos, &w)
	if err != nil {
		return err
	}
	repos := w.repos
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
		trace(strings.NewReplacer(" ", "", ",", "-", "(", "", ")", "").Replace(name), start, proxy)
		p.calls = map[string]int{}
		for _, c := range proxy.Calls() {
			p.calls[c.Service+":"+c.Op]++
		}
		p.changes = writes(p.calls)
		return p, nil
	}
	fmt.Fprintln(os.Stderr, "product: dry run")
	dry, err := measure("product, dry run (inline)", `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "product: first run")
	first, err := measure("product, first run", `{"action":"backfill","targets":{"all":true}}`)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "product: converged run")
	second, err := median(func() (phase, error) {
		return measure("product, converged", `{"action":"backfill","targets":{"all":true}}`)
	})
	if err != nil {
		return err
	}

	// 4. What one written repository costs: strip the policies of some
	// repositories of one member (outside the proxy), converge that member,
	// then converge it again with nothing to write; the difference over the
	// stripped repositories plus their one read is the cost of a write.
	fmt.Fprintln(os.Stderr, "product: marginal cost of a written repository")
	marginal, err := writtenCost(ctx, cfg, w, measure)
	if err != nil {
		return err
	}

	// 5. Account joins, in series and at once.
	fmt.Fprintf(os.Stderr, "product: %d account joins in series, then %d at once\n", joins, joins)
	jr, err := joinRounds(ctx, cfg, proxy, w, bins["account"], fnEnv, joins)
	if err != nil {
		return err
	}

	phases := []phase{floorFirst, floorSecond, loop, parLoop, dry, first, second}
	report(out, nAccounts, repos, workers, units, phases)
	fmt.Fprintln(out)
	jr.report(out)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "a written repository (%d policies stripped in one member, that member converged, then converged again): %.2f AWS calls each, incl. its read, audit and lease\n",
		marginal.stripped, marginal.perWrite)
	var problems []string
	if second.changes != 0 {
		problems = append(problems, fmt.Sprintf("the converged run made %d writes", second.changes))
	}
	if n := second.calls["ecr:GetRepositoryPolicy"] + second.calls["ecr:ListTagsForResource"]; n > repos {
		problems = append(problems, fmt.Sprintf("the converged run read %d per-repository documents for %d repositories", n, repos))
	}
	if first.changes != floorFirst.changes {
		problems = append(problems, fmt.Sprintf("the product's first run made %d writes, the floor %d", first.changes, floorFirst.changes))
	}
	if jr.lostSeries+jr.lostConcurrent > 0 {
		problems = append(problems, fmt.Sprintf("account joins lost %d hub grants in series and %d at once", jr.lostSeries, jr.lostConcurrent))
	}
	for _, p := range []phase{dry, first, second} {
		if p.failures != 0 {
			problems = append(problems, fmt.Sprintf("%s: %d failures:\n%s", p.name, p.failures, strings.Join(p.failed, "\n")))
		}
	}
	if planBench {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "in-memory desired state + plan (go test ./shared/desired -run '^$' -bench . -benchtime 5x -benchmem):")
		cmd := exec.CommandContext(ctx, "go", "test", "./shared/desired", "-run", "^$", "-bench", ".", "-benchtime", "5x", "-benchmem")
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
	fmt.Fprintln(out)
	ratios(out, floorFirst, floorSecond, loop, parLoop, first, second)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// onlyJoins is -joins-only.
var onlyJoins bool

// rounds is -rounds.
var rounds = 5

// median runs a repeatable measurement rounds times and keeps the round
// with the median wall time (the rounds make the same calls, but for the
// credentials warm execution environments keep).
func median(measure func() (phase, error)) (phase, error) {
	var ps []phase
	for range max(rounds, 1) {
		p, err := measure()
		if err != nil {
			return p, err
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].wall < ps[j].wall })
	return ps[len(ps)/2], nil
}

// productWorld creates the product's tables and queue, seeds its
// organization into w and returns the environment its functions get (through
// the counting proxy).
func productWorld(ctx context.Context, cfg aws.Config, proxy *localaws.Proxy, dir string, nAccounts, nRepos int, w *world) (localrun.Env, map[string]string, error) {
	env, err := localrun.Prepare(ctx, cfg, 3)
	if err != nil {
		return env, nil, err
	}
	if *w, err = seed(ctx, cfg, dir, nAccounts, nRepos); err != nil {
		return env, nil, err
	}
	fnEnv := env.Vars()
	fnEnv["AWS_ENDPOINT_URL"] = proxy.URL
	fnEnv["WARDEN_DECLARATION_FILE"] = w.decl
	return env, fnEnv, nil
}

// joinsAlone seeds one organization and measures only the account joins.
func joinsAlone(ctx context.Context, out io.Writer, cfg aws.Config, proxy *localaws.Proxy, dir string, bins map[string]string, nAccounts, nRepos, joins int) error {
	var w world
	_, fnEnv, err := productWorld(ctx, cfg, proxy, dir, nAccounts, nRepos, &w)
	if err != nil {
		return err
	}
	jr, err := joinRounds(ctx, cfg, proxy, w, bins["account"], fnEnv, joins)
	if err != nil {
		return err
	}
	jr.report(out)
	if jr.lostSeries+jr.lostConcurrent > 0 {
		return fmt.Errorf("account joins lost %d hub grants in series and %d at once", jr.lostSeries, jr.lostConcurrent)
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

func report(out io.Writer, accounts, repos, workers, units int, phases []phase) {
	fmt.Fprintf(out, "backfill of %d accounts, %d repositories, 1 region on the local AWS (moto), each program on its own freshly seeded organization;\n", accounts, repos)
	fmt.Fprintf(out, "the product: real binaries, %d worker environments; all: %d units at once, %d repositories per unit at once\n\n", workers, units, perUnit)
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

// warm makes one cheap call to each service the programs use.
func warm(ctx context.Context, cfg aws.Config) error {
	var errs []error
	_, err := iam.NewFromConfig(cfg).ListRoles(ctx, &iam.ListRolesInput{})
	errs = append(errs, err)
	_, err = resourcegroupstaggingapi.NewFromConfig(cfg).GetResources(ctx, &resourcegroupstaggingapi.GetResourcesInput{})
	errs = append(errs, err)
	_, err = dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
	errs = append(errs, err)
	_, err = sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	errs = append(errs, err)
	_, err = ecr.NewFromConfig(cfg).DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("warming the local AWS: %w", err)
	}
	return nil
}

// ratios prints the product against the yardsticks, measured in this run.
func ratios(out io.Writer, floorFirst, floorSecond, loop, parLoop, first, second phase) {
	r := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	c := func(p phase) float64 { return float64(sum(p.calls, "")) }
	t := func(p phase) float64 { return p.wall.Seconds() }
	fmt.Fprintf(out, "ratios (this run; converged runs and loops: medians of %d rounds):\n", rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tAWS calls\twall time\t")
	fmt.Fprintf(tw, "product first run / floor first run\t%s\t%s\t\n", r(c(first), c(floorFirst)), r(t(first), t(floorFirst)))
	fmt.Fprintf(tw, "product converged / floor converged\t%s\t%s\t\n", r(c(second), c(floorSecond)), r(t(second), t(floorSecond)))
	fmt.Fprintf(tw, "product converged / blind loop (boto3 script)\t%s\t%s\t\n", r(c(second), c(loop)), r(t(second), t(loop)))
	fmt.Fprintf(tw, "product converged / blind loop (parallel Go)\t%s\t%s\t\n", r(c(second), c(parLoop)), r(t(second), t(parLoop)))
	tw.Flush()
}

// marginal is what one written repository costs.
type marginal struct {
	stripped int
	perWrite float64
}

// writtenCost strips the policies of up to 40 name-matched repositories of
// the first member (straight on the local AWS, not through the proxy),
// converges that member (which writes them), then converges it again (which
// writes nothing). Each stripped repository then costs its one read plus
// the difference between the two runs divided among them.
func writtenCost(ctx context.Context, cfg aws.Config, w world, measure func(name, payload string) (phase, error)) (marginal, error) {
	acct := w.org.Accounts[0].ID
	c, err := localrun.Config(ctx, cfg, w.org.Management, acct, memberRole)
	if err != nil {
		return marginal{}, err
	}
	client := ecr.NewFromConfig(c)
	k := 0
	for i := 0; k < 40; i += 2 {
		name := fmt.Sprintf("team/svc-%04d", i)
		if _, err := client.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String(name)}); err != nil {
			var nf *ecrtypes.RepositoryNotFoundException
			if errors.As(err, &nf) {
				break
			}
			return marginal{}, fmt.Errorf("stripping the policy of %s in %s: %w", name, acct, err)
		}
		k++
	}
	if k == 0 {
		return marginal{}, fmt.Errorf("no repository to strip in %s", acct)
	}
	payload := fmt.Sprintf(`{"action":"backfill","targets":{"accounts":[%q]}}`, acct)
	written, err := measure("one member, stripped", payload)
	if err != nil {
		return marginal{}, err
	}
	if written.changes != k || written.failures != 0 {
		return marginal{}, fmt.Errorf("converging %s after stripping %d policies made %d writes (%d failures)", acct, k, written.changes, written.failures)
	}
	again, err := measure("one member, converged", payload)
	if err != nil {
		return marginal{}, err
	}
	return marginal{stripped: k, perWrite: 1 + float64(sum(written.calls, "")-sum(again.calls, ""))/float64(k)}, nil
}

// joinResult is n account joins in series and n at once.
type joinResult struct {
	n                      int
	seriesWall, concWall   time.Duration
	seriesCalls, concCalls map[string]int
	// seriesTook is the local AWS's answer time by call in the series run
	// (no queueing there), which says what the emulator spends on a join.
	seriesTook                 map[string]time.Duration
	lostSeries, lostConcurrent int
	// seriesBusy and concBusy are the machine's CPU in use during each
	// (share of all cores; -1 unmeasured).
	seriesBusy, concBusy float64
	cores                int // the machine's, which the shares are of
	// seriesProc and concProc are the CPU seconds by process (procSince).
	seriesProc, concProc map[string]float64
	// ratios are every round's at once / in series, ascending; this result
	// is the median round's.
	ratios []float64
}

func (j joinResult) ratio() float64 { return j.concWall.Seconds() / j.seriesWall.Seconds() }

// joinRounds measures the joins rounds times (new accounts each round) and
// returns the round with the median ratio, counting lost grants of all.
func joinRounds(ctx context.Context, cfg aws.Config, proxy *localaws.Proxy, w world, bin string, fnEnv map[string]string, n int) (joinResult, error) {
	var all []joinResult
	lostS, lostC := 0, 0
	for range max(rounds, 1) {
		jr, err := runJoins(ctx, cfg, proxy, w, bin, fnEnv, n)
		if err != nil {
			return jr, err
		}
		lostS, lostC = lostS+jr.lostSeries, lostC+jr.lostConcurrent
		all = append(all, jr)
	}
	sort.Slice(all, func(i, k int) bool { return all[i].ratio() < all[k].ratio() })
	jr := all[len(all)/2]
	for _, r := range all {
		jr.ratios = append(jr.ratios, r.ratio())
	}
	jr.lostSeries, jr.lostConcurrent = lostS, lostC
	return jr, nil
}

func (j joinResult) report(out io.Writer) {
	fmt.Fprintf(out, "account joins (AccountJoinedOrganization for a new account in the enumerated OU: member PTC role, rules and registry policy, hub registry policy):\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%d in series\t%d at once\tms per call in series\t\n", j.n, j.n)
	var took time.Duration
	for _, d := range j.seriesTook {
		took += d
	}
	fmt.Fprintf(tw, "wall time\t%s\t%s\t\t\n", j.seriesWall.Round(10*time.Millisecond), j.concWall.Round(10*time.Millisecond))
	fmt.Fprintf(tw, "AWS calls per join\t%.1f\t%.1f\t%.1f\t\n", float64(sum(j.seriesCalls, ""))/float64(j.n), float64(sum(j.concCalls, ""))/float64(j.n),
		ms(took, sum(j.seriesCalls, "")))
	fmt.Fprintf(tw, "registry policy writes (member and hub)\t%d\t%d\t\n", j.seriesCalls["ecr:PutRegistryPolicy"], j.concCalls["ecr:PutRegistryPolicy"])
	fmt.Fprintf(tw, "hub grants lost\t%d\t%d\t\n", j.lostSeries, j.lostConcurrent)
	if j.seriesBusy >= 0 && j.concBusy >= 0 {
		fmt.Fprintf(tw, "machine CPU in use (%d cores)\t%.0f%%\t%.0f%%\t\n", j.cores, 100*j.seriesBusy, 100*j.concBusy)
	}
	for _, k := range keysOfBoth(j.seriesProc, j.concProc) {
		if j.seriesProc[k]+j.concProc[k] >= 0.05 {
			fmt.Fprintf(tw, "CPU seconds, %s\t%.2f\t%.2f\t\t\n", k, j.seriesProc[k], j.concProc[k])
		}
	}
	for _, k := range keysOfBoth(j.seriesCalls, j.concCalls) {
		fmt.Fprintf(tw, "  %s per join\t%.2f\t%.2f\t%.1f\t\n", k, float64(j.seriesCalls[k])/float64(j.n), float64(j.concCalls[k])/float64(j.n),
			ms(j.seriesTook[k], j.seriesCalls[k]))
	}
	tw.Flush()
	var each []string
	for _, r := range j.ratios {
		each = append(each, fmt.Sprintf("%.2fx", r))
	}
	fmt.Fprintf(out, "%d at once / %d in series: %.2fx wall time (median round of %d: %s; lost grants counted over all rounds)\n", j.n, j.n, j.ratio(), len(j.ratios), strings.Join(each, " "))
}

// keysOfBoth is the keys of a and b, sorted, each once.
func keysOfBoth[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// runJoins creates 2n accounts in the enumerated "workloads" OU (straight on
// the local AWS), delivers the first n accounts' join events to one warm
// execution environment one after another and the other n's to n warm
// environments at once, and counts the hub grants missing afterwards.
func runJoins(ctx context.Context, cfg aws.Config, proxy *localaws.Proxy, w world, bin string, fnEnv map[string]string, n int) (joinResult, error) {
	jr := joinResult{n: n}
	org := organizations.NewFromConfig(cfg)
	ou := w.org.OU("workloads")
	var accounts []string
	for i := range 2 * n {
		name := fmt.Sprintf("joiner-%03d", i)
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			return jr, fmt.Errorf("creating account %s: %w", name, err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(w.org.RootID), DestinationParentId: aws.String(ou.ID)}); err != nil {
			return jr, fmt.Errorf("moving %s into %s: %w", id, ou.Name, err)
		}
		accounts = append(accounts, id)
	}
	// Each joiner holds the execution role, as the member StackSet's
	// automatic deployment gives an account placed in a targeted OU: the
	// local AWS refuses sts:AssumeRole into a role that does not exist, and
	// the bench measures a join's convergence, not the wait for the role.
	err := localaws.SeedAssumedRoles(ctx, memberRole, localrun.PTCBoundary, accounts, "", func(account string) (aws.Config, error) {
		return localrun.Config(ctx, cfg, w.org.Management, account, memberRole)
	})
	if err != nil {
		return jr, fmt.Errorf("creating the joiners' execution roles: %w", err)
	}
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		return jr, err
	}
	sample, err := os.ReadFile(filepath.Join(root, "events", "org-account-joined.json"))
	if err != nil {
		return jr, err
	}
	event := func(account string) []byte {
		// The sample's management account (999999999999) is the one Organizations sends it from:
		// the seeded organization's, which localrun.Declaration declares.
		text := strings.NewReplacer("333333333333", account, "999999999999", w.org.Management, "o-a1b2c3d4e5", w.org.ID).Replace(string(sample))
		var ev map[string]any
		_ = json.Unmarshal([]byte(text), &ev)
		ev["id"] = "bench-join-" + account
		b, _ := json.Marshal(ev)
		return b
	}
	fn := lambdalocal.Function{Name: "ecr-warden-account", Binary: bin, Env: fnEnv, Region: region, Timeout: 5 * time.Minute, MemoryMB: 1024}
	invoke := func(inv localrun.Invoker, account string) error {
		res, err := inv.Invoke(ctx, event(account))
		if err != nil {
			return err
		}
		if res.Err != nil {
			return fmt.Errorf("join of %s failed: %v\n%s", account, res.Err, strings.Join(res.Logs, "\n"))
		}
		return nil
	}
	lost := func(ids []string) (int, error) {
		out, err := ecr.NewFromConfig(cfg).GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
		if err != nil {
			return 0, fmt.Errorf("reading the hub registry policy: %w", err)
		}
		text := aws.ToString(out.PolicyText)
		missing := 0
		for _, id := range ids {
			if !strings.Contains(text, "arn:aws:iam::"+id+":root") {
				missing++
			}
		}
		return missing, nil
	}

	series, err := lambdalocal.Start(ctx, fn)
	if err != nil {
		return jr, err
	}
	defer series.Close()
	if _, err := series.Invoke(ctx, []byte(`{}`)); err != nil {
		return jr, err
	}
	proxy.Reset()
	cpu, procs := readCPU(), procTicks()
	jr.cores = cpu.cores
	start := time.Now()
	for _, a := range accounts[:n] {
		if err := invoke(series, a); err != nil {
			return jr, err
		}
	}
	jr.seriesWall = time.Since(start)
	jr.seriesBusy, jr.seriesProc = busySince(cpu), procSince(procs)
	trace("joins-series", start, proxy)
	jr.seriesCalls, jr.seriesTook = callsOf(proxy), tookOf(proxy)
	if jr.lostSeries, err = lost(accounts[:n]); err != nil {
		return jr, err
	}

	pool, err := lambdalocal.NewPool(ctx, fn, n)
	if err != nil {
		return jr, err
	}
	defer pool.Close()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = pool.Invoke(ctx, []byte(`{}`)) }()
	}
	wg.Wait()
	proxy.Reset()
	errs := make([]error, n)
	cpu, procs = readCPU(), procTicks()
	start = time.Now()
	for i, a := range accounts[n:] {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = invoke(pool, a) }()
	}
	wg.Wait()
	jr.concWall = time.Since(start)
	jr.concBusy, jr.concProc = busySince(cpu), procSince(procs)
	jr.concCalls = callsOf(proxy)
	trace("joins-at-once", start, proxy)
	if err := errors.Join(errs...); err != nil {
		return jr, err
	}
	if jr.lostConcurrent, err = lost(accounts[n:]); err != nil {
		return jr, err
	}
	return jr, nil
}

// ms is the mean of total over n calls in milliseconds (0 for none).
func ms(total time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(total.Microseconds()) / 1000 / float64(n)
}

// tookOf sums the local AWS's answer times by "<service>:<op>".
func tookOf(p *localaws.Proxy) map[string]time.Duration {
	m := map[string]time.Duration{}
	for _, c := range p.Calls() {
		m[c.Service+":"+c.Op] += c.Took
	}
	return m
}

func callsOf(p *localaws.Proxy) map[string]int {
	m := map[string]int{}
	for _, c := range p.Calls() {
		m[c.Service+":"+c.Op]++
	}
	return m
}

// trace writes every call the proxy saw since start to $BENCH_TRACE/<name>.txt
// (arrival and answer time in µs, account, service:operation, status), for
// timelines of a phase; without BENCH_TRACE it does nothing.
func trace(name string, start time.Time, p *localaws.Proxy) {
	dir := os.Getenv("BENCH_TRACE")
	if dir == "" {
		return
	}
	var b strings.Builder
	for _, c := range p.Calls() {
		fmt.Fprintf(&b, "%d %d %s %s:%s %d\n", c.At.Sub(start).Microseconds(), c.Took.Microseconds(), c.Account, c.Service, c.Op, c.Status)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing the trace:", err)
	}
}
