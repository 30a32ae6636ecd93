package audit

import (
	"strings"
	"testing"
	"time"
)

// The table an operator scans: what happened to what first, an error under
// its record at a fixed indent (not past the widest target), the writer and
// declaration said once when every record shares them, op "none" left out,
// and a run id kept whole so it can be passed to RUN=.
func TestWriteTableLayout(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	writer := "arn:aws:sts::111111111111:assumed-role/ecr-warden-backfill/x"
	run := "backfill-01M8XNPN988PSM3KKTX826QY17"
	recs := []Record{
		{Time: at, Decision: DecisionPlanned, Op: "create", DryRun: true, Writer: writer, DeclarationSHA256: strings.Repeat("ab", 32),
			Trigger: Trigger{EventID: run, EventType: "backfill"}, Actor: Actor{InvokedBy: "invoker"},
			Target: Target{ARN: "arn:aws:ecr:eu-west-1:222222222222:repository/*/pull-through-cache-rule/docker-hub", Kind: "PullThroughCacheRule"}},
		{Time: at, Decision: DecisionRefused, Op: "none", Writer: writer, DeclarationSHA256: strings.Repeat("ab", 32),
			Error:   "secret ecr-pullthroughcache/docker-hub does not exist\nin account 222222222222",
			Trigger: Trigger{EventID: run, EventType: "backfill"}, Actor: Actor{InvokedBy: "invoker"},
			Target: Target{ARN: "arn:aws:ecr:eu-west-1:222222222222:repository/*", Kind: "ECRRegistryPolicy"}},
	}
	var b strings.Builder
	if err := WriteTable(&b, recs, false); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	t.Logf("\n%s", got)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	want := []string{
		"written by 111111111111:assumed-role/ecr-warden-backfill/x, declaration sha256 abababababab",
		"TIME (UTC)           DECISION           OP                           TARGET",
		"2026-12-03 10:00:00  planned (dry run)  create PullThroughCacheRule  arn:aws:ecr:eu-west-1:222222222222:repository/*/pull-through-cache-rule/docker-hub  " + run + "  invoker",
		"2026-12-03 10:00:00  refused            ECRRegistryPolicy            arn:aws:ecr:eu-west-1:222222222222:repository/*",
		"                     error: secret ecr-pullthroughcache/docker-hub does not exist in account 222222222222",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %q\nwant %q...", i, lines[i], w)
		}
	}

	// Writers that differ are said under the record where they change.
	recs[1].Writer = "arn:aws:sts::111111111111:assumed-role/ecr-warden-worker/y"
	b.Reset()
	if err := WriteTable(&b, recs, false); err != nil {
		t.Fatal(err)
	}
	got = b.String()
	if strings.Contains(got, "written by") || strings.Count(got, "                     by 111111111111:assumed-role/") != 2 {
		t.Errorf("per-record writers:\n%s", got)
	}
}
