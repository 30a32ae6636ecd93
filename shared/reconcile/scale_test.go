package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// The hub unit at scale, on the in-memory AWS: a hub registry of 50,000
// repositories (half matched by name, a quarter by a share=org tag grant, a
// quarter by a grant that enumerates an OU's accounts) in an organization of
// 1,000 accounts, converged as the worker converges it: chunks of 200 under
// the registry's lease, each try stopping before its deadline and the next
// resuming after its cursor (Work.After). Not part of make test:
//
//	go test -run '^$' -bench HubUnitAtScale -benchtime 1x ./shared/reconcile
//
// WARDEN_BENCH_REPOS and WARDEN_BENCH_ACCOUNTS change the sizes;
// WARDEN_BENCH_LATENCY (a duration, e.g. 3ms) makes every AWS call of the
// fake take that long (side by side, as calls in flight do), and the try's
// deadline and reserve shrink by the same factor against 30 ms ECR calls and
// the worker's 600 s, so the number of tries is what a 600 s worker needs at
// 30 ms a call (DynamoDB, whose in-memory tables answer at once, excepted).

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// fixedGeneration is an organization no account event changes while the
// benchmark runs: the generation token never moves, so a walk kept under one
// hold serves the next (OrgViews), as in a sweep without account events.
type fixedGeneration struct{}

func (fixedGeneration) GenerationIn(context.Context, string) (lease.Generation, error) {
	return lease.Generation{Token: "t", ChangedAt: time.Now().Add(-time.Hour)}, nil
}
func (fixedGeneration) BumpGenerationIn(context.Context, string) error { return nil }

// scaleWorld is the organization and hub registry of the benchmark.
func scaleWorld(tb testing.TB, repos, accounts int) (*fakeaws.AWS, *Engine, Work) {
	tb.Helper()
	f := fakeaws.New()
	f.Organization(fOrgID, fMgmt)
	f.Join(fHub)
	var org []desired.Account
	var enumOU string
	for i := range accounts {
		id := fmt.Sprintf("%012d", 100000000000+i)
		path := f.Join(id, "workloads", fmt.Sprintf("team%02d", i%20))
		if i == 0 {
			enumOU = path
		}
		org = append(org, desired.Account{ID: id, Status: "ACTIVE", OUPath: path})
	}
	org = append(org, desired.Account{ID: fHub, Status: "ACTIVE", OUPath: fOrgID + "/r-a1b2/"})
	src := `{"hub": {"accountId": "` + fHub + `", "regions": ["` + fRegion + `"], "organizationId": "` + fOrgID + `", "managementAccountId": "` + fMgmt + `"},
	  "grants": [
	    {"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"organization": true}, "placement": "repository"},
	    {"name": "shared-pull", "repositoryTags": {"share": "org"}, "access": "pull", "principals": {"accounts": ["100000000001"]}, "placement": "repository"},
	    {"name": "team-pull", "repositories": ["team/*"], "access": "pull", "principals": {"ous": ["` + enumOU + `"]}, "placement": "repository", "principalMode": "enumerate"}]}`
	decl, err := config.Parse([]byte(src))
	if err != nil {
		tb.Fatalf("declaration: %v\n%s", err, src)
	}
	for i := range repos {
		switch i % 4 {
		case 0, 1:
			f.CreateRepository(fHub, fRegion, fmt.Sprintf("apps/svc-%05d", i), nil)
		case 2:
			f.CreateRepository(fHub, fRegion, fmt.Sprintf("data/set-%05d", i), map[string]string{"share": "org"})
		default:
			f.CreateRepository(fHub, fRegion, fmt.Sprintf("team/img-%05d", i), nil)
		}
	}
	trail, _, err := fakeaws.NewTrail()
	if err != nil {
		tb.Fatal(err)
	}
	e := &Engine{Decl: decl, Clients: fakeClients{f}, Exec: &apply.Executor{Trail: trail, Leases: fakeaws.NewLeases()},
		Org: inventory.NewOrg(f.Organizations(), inventory.OrgOptions{PageSize: 20}), Views: NewOrgViews(fixedGeneration{}),
		Log: slog.New(slog.DiscardHandler), PrincipalWait: time.Nanosecond, RepositoryWait: time.Nanosecond, Region: fRegion,
		UnitReserve: DefaultUnitReserve, CountsOnly: os.Getenv("WARDEN_BENCH_CHANGES") == ""}
	u := Work{RunID: "sweep-bench", Sweep: true, Account: fHub, Region: fRegion, Accounts: org, WalkedAt: time.Now().Add(-time.Minute)}
	return f, e, u
}

// peakHeap samples the live heap until stop is closed and returns the
// largest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var m runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func BenchmarkHubUnitAtScale(b *testing.B) {
	repos := benchEnv("WARDEN_BENCH_REPOS", 50000)
	accounts := benchEnv("WARDEN_BENCH_ACCOUNTS", 1000)
	latency, _ := time.ParseDuration(os.Getenv("WARDEN_BENCH_LATENCY"))
	for range b.N {
		b.StopTimer()
		f, e, u := scaleWorld(b, repos, accounts)
		// At 30 ms per ECR call a try has 600 s and stops with 90 s left;
		// with latency L per call here, both shrink by L / 30 ms.
		scale := 1.0
		if latency > 0 {
			f.Latency(func(fakeaws.Call) time.Duration { return latency })
			scale = float64(latency) / float64(30*time.Millisecond)
			e.UnitReserve = time.Duration(float64(DefaultUnitReserve) * scale)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peak := peakHeap(stop)
		b.StartTimer()

		var tries []string
		reportBytes := 0 // what one try's Report holds when it returns
		var longestTry time.Duration
		for run := 1; run <= 2; run++ { // the first run writes, the second finds everything converged
			w, n := u, 0
			calls0 := f.CallCounts()
			for {
				n++
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if latency > 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(float64(600*time.Second)*scale))
				}
				start := time.Now()
				rep, err := e.Converge(ctx, w.Cause(), w)
				cancel()
				kept := len(rep.Changes)*int(unsafe.Sizeof(ReportedChange{})) + len(rep.Errors)*16
				for _, c := range rep.Changes {
					kept += len(c.Target) + len(c.Kind) + len(c.Op) + len(c.Diff) + len(c.Outcome)
				}
				for _, e := range rep.Errors {
					kept += len(e)
				}
				reportBytes = max(reportBytes, kept)
				longestTry = max(longestTry, time.Since(start))
				if err != nil {
					b.Fatalf("run %d try %d: %v", run, n, err)
				}
				if rep.Continue == nil {
					break
				}
				w = *rep.Continue
			}
			calls := f.CallCounts()
			total := 0
			for k, v := range calls {
				total += v - calls0[k]
			}
			tries = append(tries, strconv.Itoa(n))
			b.ReportMetric(float64(total)/float64(repos), fmt.Sprintf("calls/repo(run%d)", run))
			b.ReportMetric(float64(n), fmt.Sprintf("tries(run%d)", run))
			b.Logf("run %d: %d tries, %d AWS calls (%.3f per repository): %s", run, n, total, float64(total)/float64(repos), diffCounts(calls0, calls))
		}
		b.StopTimer()
		close(stop)
		var after, fake runtime.MemStats
		runtime.ReadMemStats(&after)
		runtime.GC() // what is left is the fake's state: its registry and audit table
		runtime.ReadMemStats(&fake)
		runtime.KeepAlive(f)
		runtime.KeepAlive(e)
		b.ReportMetric(float64(fake.HeapAlloc)/(1<<20), "fake-state-MB")
		p := <-peak
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(reportBytes)/(1<<20), "report-MB")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(repos)/2, "B-alloc/repo/run")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(repos)/2, "allocs/repo/run")
		b.Logf("%d repositories, %d accounts, latency %s: tries %v, longest try %s, peak heap %.1f MB (%.1f MB before), %.1f KB allocated per repository and run",
			repos, accounts, latency, tries, longestTry.Round(time.Millisecond), float64(p)/(1<<20), float64(before.HeapAlloc)/(1<<20),
			float64(after.TotalAlloc-before.TotalAlloc)/float64(repos)/2/1024)
		b.StartTimer()
	}
}

// diffCounts renders the calls made between two CallCounts, sorted.
func diffCounts(before, after map[string]int) string {
	out := ""
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d > 0 {
			out += fmt.Sprintf("%s=%d ", k, d)
		}
	}
	return out
}
