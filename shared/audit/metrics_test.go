package audit

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/metrics"
)

// TestDecisionLinesAreValidEMF: every decision line a function prints is
// valid embedded-metric-format JSON and carries the dimension sets the hub
// stack's dashboard and alarms query (shared/metrics), with the values of
// the record: no extra API call publishes them.
func TestDecisionLinesAreValidEMF(t *testing.T) {
	localaws.Need(t)
	tr, _, sink, _ := setup(t)
	ctx := context.Background()
	p, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Applied(ctx); err != nil {
		t.Fatal(err)
	}
	target := Target{ARN: repoARN, Kind: "ECRRepositoryPolicy", Name: "shared/app"}
	for _, r := range []Record{
		{Decision: DecisionRefused, Op: "update", Target: target, Error: "size-limit: the document would be 10400 characters"},
		{Decision: DecisionRejected, Target: target, Error: "region-not-configured: region \"ap-south-1\" is not declared"},
		{Decision: DecisionNoop, Op: "none", Target: target},
		{Decision: DecisionSummary, Op: "none", Target: Target{ARN: UnitARN("222222222222", "us-east-1"), Kind: "Unit"},
			Counts: &Counts{Examined: 3, Unchanged: 3}, Duration: 1500 * time.Millisecond},
	} {
		if err := tr.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sets := map[string]bool{}
	values := map[string]map[string]any{} // decision -> line
	for _, line := range strings.Split(strings.TrimSpace(sink.buf.String()), "\n") {
		dirs, err := metrics.Check([]byte(line))
		if err != nil {
			t.Fatalf("not valid EMF: %v\n%s", err, line)
		}
		for _, d := range dirs {
			for _, set := range d.Dimensions {
				for _, m := range d.Metrics {
					sets[m.Name+"/"+strings.Join(set, ",")] = true
				}
			}
		}
	}
	for _, m := range sink.all(t) {
		values[m[metrics.DimDecision].(string)] = m
	}
	for _, want := range []struct {
		metric string
		set    []string
	}{
		{metrics.MetricDecisions, metrics.DecisionsByKind}, {metrics.MetricDecisions, metrics.DecisionTotals},
		{metrics.MetricWrites, metrics.WritesByKind}, {metrics.MetricWrites, metrics.WritesTotal},
		{metrics.MetricStopped, metrics.StoppedByReason}, {metrics.MetricUnitDuration, metrics.PerFunction},
	} {
		if !sets[want.metric+"/"+strings.Join(want.set, ",")] {
			t.Errorf("no line carries %s by %v; lines carry %v", want.metric, want.set, keys(sets))
		}
	}
	checks := []struct {
		decision, field string
		want            any
	}{
		{"applied", metrics.MetricWrites, 1.0}, {"applied", metrics.DimKind, "ECRRepositoryPolicy"}, {"applied", metrics.DimFunction, "warden-test"},
		{"refused", metrics.DimReason, "size-limit"}, {"rejected", metrics.DimReason, "region-not-configured"},
		{"summary", metrics.MetricUnitDuration, 1500.0}, {"noop", metrics.MetricDecisions, 1.0},
	}
	for _, c := range checks {
		if got := values[c.decision][c.field]; got != c.want {
			t.Errorf("%s line: %s = %v, want %v", c.decision, c.field, got, c.want)
		}
	}
	if _, err := metrics.Check([]byte(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`)); err == nil {
		t.Error("Check accepted an invalid line")
	}
	if _, err := metrics.Check([]byte(`{"_aws":{"Timestamp":1764644000000,"CloudWatchMetrics":[{"Namespace":"ecr-warden","Dimensions":[["Function"]],"Metrics":[{"Name":"Writes","Unit":"Count"}]}]},"Writes":1}`)); err == nil || !strings.Contains(err.Error(), "Function") {
		t.Errorf("Check accepted a line without its dimension: %v", err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
