package demo

import (
	"bytes"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// TestDemo runs `make demo` end to end (moto, the organization, the real
// function binaries, every step) and checks the outcomes the story claims,
// so `make test` proves `make demo` works.
func TestDemo(t *testing.T) {
	localaws.Need(t)
	var out bytes.Buffer
	res, err := Run(t.Context(), Options{Out: &out})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	if len(res.Skipped) > 0 {
		t.Errorf("steps skipped because their function is missing: %v", res.Skipped)
	}

	// (a), (b): the declared repository grant in the hub and in the member.
	for _, label := range []string{"hub shared/base", "team-a team-a/app", "team-a ecr-public/library/nginx"} {
		if got := sids(res.Policies[label]); !slices.Equal(got, []string{"EcrWardenTaggedOrgPullOrg"}) {
			t.Errorf("%s: statements %v, want [EcrWardenTaggedOrgPullOrg]; policy %s", label, got, res.Policies[label])
		}
		if !strings.Contains(res.Policies[label], res.Accounts[exampleOrg]) {
			t.Errorf("%s: policy does not name the demo's organization %s: %s", label, res.Accounts[exampleOrg], res.Policies[label])
		}
		if res.Writes[label] != 1 {
			t.Errorf("%s: %d AWS writes, want 1", label, res.Writes[label])
		}
	}
	// (c): rejected, no writes.
	for label, reason := range map[string]string{"rejected failed-call": "failed-call", "rejected unrelated": "unknown-source"} {
		if res.Rejected[label] != reason {
			t.Errorf("%s: rejected as %q, want %q", label, res.Rejected[label], reason)
		}
		if res.Writes[label] != 0 {
			t.Errorf("%s: %d AWS writes, want 0", label, res.Writes[label])
		}
	}
	// (d): the duplicate writes nothing.
	if w, ok := res.Writes["duplicate"]; !ok || w != 0 {
		t.Errorf("duplicate delivery: %d AWS writes (recorded: %v), want 0", w, ok)
	}
	// (e): the foreign statement survives byte for byte, next to ours.
	if res.ForeignBefore == "" || res.ForeignAfter != res.ForeignBefore {
		t.Errorf("foreign statement changed:\nbefore %s\nafter  %s", res.ForeignBefore, res.ForeignAfter)
	}
	if got := sids(res.Policies["hub shared/tools"]); !slices.Equal(got, []string{"LegacyBuildFarmPull", "EcrWardenTaggedOrgPullOrg"}) {
		t.Errorf("shared/tools statements %v, want [LegacyBuildFarmPull EcrWardenTaggedOrgPullOrg]", got)
	}
	// (f): the joined account's PTC setup and the hub's grant to it.
	joined := res.Joined
	if joined == "" {
		t.Fatal("no account joined")
	}
	trust := res.Policies["join role trust"]
	if !slices.Equal(sids(trust), []string{"EcrWardenPtcTrust"}) || !strings.Contains(trust, "pullthroughcache.ecr.amazonaws.com") || !strings.Contains(trust, joined) {
		t.Errorf("PTC role trust policy: %s", trust)
	}
	if perm := res.Policies["join role policy ecr-warden-ptc"]; !strings.Contains(perm, "ecr:BatchImportUpstreamImage") {
		t.Errorf("PTC role permission policy: %q", perm)
	}
	decl, err := config.Load(filepath.Join("..", "..", "..", "infra", "declaration.json"))
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, r := range decl.PullThroughCache.Rules {
		prefixes = append(prefixes, r.Prefix)
	}
	slices.Sort(prefixes)
	if got, want := res.Policies["join rules"], strings.Join(prefixes, ","); got != want {
		t.Errorf("PTC rules of the joined account: %s, want %s", got, want)
	}
	reg := sids(res.Policies["join registry"])
	for _, want := range []string{"EcrWardenPtcEcrPublic", "EcrWardenPtcHub", "EcrWardenSecurityScanRoles"} {
		if !slices.Contains(reg, want) {
			t.Errorf("joined account's registry policy lacks %s: %v", want, reg)
		}
	}
	hubGrant := statementsMentioning(res.Policies["hub registry"], joined)
	// The account lands in OU workloads, which workloads-pull-apps enumerates,
	// and it caches from the hub, which the hub's upstream grant enumerates.
	if got := sids(hubGrant); !slices.Contains(got, "EcrWardenWorkloadsPullAppsAccounts") || !slices.Contains(got, "EcrWardenPtcUpstreamHub") {
		t.Errorf("hub registry statements naming %s: %v, want EcrWardenWorkloadsPullAppsAccounts and EcrWardenPtcUpstreamHub", joined, got)
	}
	// (g): the public repository's push grant.
	pub := res.Policies["public tools/scanner"]
	if got := sids(pub); !slices.Equal(got, []string{"EcrWardenPublishToolsAccounts", "EcrWardenPublishToolsRoles"}) || !strings.Contains(pub, "ecr-public:PutImage") {
		t.Errorf("public repository policy: %s", pub)
	}
	// (h): the dry run plans the members that predate ecr-warden and writes nothing.
	if res.Writes["backfill dry run"] != 0 || res.Planned == 0 {
		t.Errorf("backfill dry run: %d writes (want 0), %d planned changes (want some)", res.Writes["backfill dry run"], res.Planned)
	}
	// (i): the audit trail holds every decision, none left pending or failed.
	count := map[audit.Decision]int{}
	for _, r := range res.Trail {
		count[r.Decision]++
	}
	if count[audit.DecisionRejected] != 2 || count[audit.DecisionApplied] < 5 || count[audit.DecisionPlanned] != res.Planned ||
		count[audit.DecisionPending]+count[audit.DecisionFailed] != 0 {
		t.Errorf("audit decisions %v: want 2 rejected, at least 5 applied, %d planned, none pending or failed", count, res.Planned)
	}

	// The story stays readable and everything started is stopped.
	if n := strings.Count(out.String(), "\n"); n > 300 {
		t.Errorf("demo prints %d lines, want at most 300", n)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(res.Endpoint); err == nil {
		resp.Body.Close()
		t.Errorf("the local AWS at %s still answers after the demo", res.Endpoint)
	}
}

func TestLayoutJSON(t *testing.T) {
	in := `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"*"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-x & y"}}}]}`
	got, err := layoutJSON(in, 60)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "A",
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer"
      ],
      "Condition": {
        "StringEquals": {"aws:PrincipalOrgID": "o-x & y"}
      }
    }
  ]
}`
	if got != want {
		t.Errorf("layout:\n%s\nwant:\n%s", got, want)
	}
	if _, err := layoutJSON(`{"a":`, 60); err == nil {
		t.Error("truncated JSON: no error")
	}
}
