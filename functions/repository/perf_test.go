package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// callsBy returns the calls the proxy saw by "<service>:<op>".
func callsBy() map[string]int {
	m := map[string]int{}
	for _, c := range proxy.Calls() {
		m[c.Service+":"+c.Op]++
	}
	return m
}

func serviceTotal(m map[string]int, service string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, service+":") {
			n += v
		}
	}
	return n
}

func render(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return b.String()
}

// warm makes the instance finish its init (its one STS GetCallerIdentity)
// with an event that touches nothing, so the counts that follow are one
// event's.
func (w *world) warm(inst *lambdalocal.Instance) {
	w.t.Helper()
	w.mustInvoke(inst, w.event("unrelated-s3-put-object.json"))
	proxy.Reset()
}

// The AWS cost of one repository-created event, counted at the proxy: the
// budget is 3 ECR calls (read, re-read under the lease, write) plus one tag
// read because the declaration has tag grants, plus the audit and lease
// writes; a re-delivery costs 2 ECR reads and the noop record.
func TestCallBudget(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	w.createRepository(w.member, "team-a/app", map[string]string{"share": "org"})
	inst := w.start(nil)
	w.warm(inst)

	for _, tc := range []struct {
		name  string
		event []byte
		want  map[string]int // exact counts for these services
	}{
		{"hub, created", w.event("ecr-create-repository-api.json"), map[string]int{
			"ecr:ListTagsForResource": 1, "ecr:GetRepositoryPolicy": 2, "ecr:SetRepositoryPolicy": 1,
			"dynamodb:PutItem": 2, "dynamodb:UpdateItem": 1, "dynamodb:DeleteItem": 1}},
		{"hub, re-delivered", w.event("ecr-create-repository-api.json"), map[string]int{
			"ecr:ListTagsForResource": 1, "ecr:GetRepositoryPolicy": 1, "dynamodb:PutItem": 1}},
		{"member, created (cold credentials)", w.event("ecr-create-repository-api-member.json"), map[string]int{
			"ecr:ListTagsForResource": 1, "ecr:GetRepositoryPolicy": 2, "ecr:SetRepositoryPolicy": 1,
			"dynamodb:PutItem": 2, "dynamodb:UpdateItem": 1, "dynamodb:DeleteItem": 1, "sts:AssumeRole": 1}},
	} {
		proxy.Reset()
		w.mustInvoke(inst, tc.event)
		got := callsBy()
		t.Logf("%s: %s", tc.name, render(got))
		for _, svc := range []string{"ecr", "dynamodb", "sts"} {
			want := 0
			for k, v := range tc.want {
				if strings.HasPrefix(k, svc+":") {
					want += v
				}
				if got[k] != v {
					t.Errorf("%s: %s = %d, want %d", tc.name, k, got[k], v)
				}
			}
			if n := serviceTotal(got, svc); n != want {
				t.Errorf("%s: %d %s calls, want %d: %s", tc.name, n, svc, want, render(got))
			}
		}
		// Organizations: the hub never asks; a member costs its account and
		// OU-path reads (bounded by the OU depth, never by the organization).
		if org := serviceTotal(got, "organizations"); strings.HasPrefix(tc.name, "hub") && org != 0 || org > 8 {
			t.Errorf("%s: %d Organizations calls: %s", tc.name, org, render(got))
		}
	}
}

// BenchmarkRepositoryCreated measures what the README's performance section
// reports, with the real bootstrap under the local Lambda runtime against
// moto: bootstrap size, init time, and per-event time and AWS calls for a
// repository-created event (a new hub repository per event, so every event
// takes the write path). Run: go test ./functions/repository -run '^$'
// -bench . -benchtime 50x
func BenchmarkRepositoryCreated(b *testing.B) {
	benchmarkEvents(b, true)
}

// BenchmarkRepositoryConverged is the same event re-delivered: the
// read-only path every duplicate, late or sweep-triggered event takes.
func BenchmarkRepositoryConverged(b *testing.B) {
	benchmarkEvents(b, false)
}

func benchmarkEvents(b *testing.B, fresh bool) {
	w := newWorld(b)
	n := b.N
	names := make([]string, n)
	for i := range names {
		names[i] = "shared/base"
		if fresh {
			names[i] = fmt.Sprintf("shared/bench-%05d", i)
		}
	}
	for i, name := range names {
		if i == 0 || fresh {
			w.createRepository(hubAccount, name, nil)
		}
	}
	base := string(w.event("ecr-create-repository-api.json"))
	if !fresh {
		w.mustInvoke(w.start(nil), []byte(base)) // converge once first
	}
	proxy.Reset()
	b.ResetTimer()
	st, err := lambdalocal.MeasureEach(w.ctx, w.function(nil), n, func(i int) []byte {
		return []byte(strings.ReplaceAll(base, `"shared/base"`, `"`+names[i]+`"`))
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	got := callsBy()
	initCalls := got["sts:GetCallerIdentity"] // init (WhoAmI), once per execution environment
	delete(got, "sts:GetCallerIdentity")
	per := func(svc string) float64 { return float64(serviceTotal(got, svc)) / float64(n) }
	b.ReportMetric(float64(st.BinarySize)/(1<<20), "bootstrap-MiB")
	b.ReportMetric(ms(st.Init), "init-ms")
	b.ReportMetric(ms(st.First), "first-ms")
	b.ReportMetric(ms(st.InvokeP50), "p50-ms")
	b.ReportMetric(ms(st.InvokeP95), "p95-ms")
	b.ReportMetric(per("ecr"), "ecr-calls/event")
	b.ReportMetric(per("dynamodb"), "ddb-calls/event")
	b.Logf("%s; calls over %d events: %s(plus %d GetCallerIdentity at init)", st, n, render(got), initCalls)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
