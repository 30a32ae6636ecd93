package trigger

import (
	"strings"
	"testing"
)

func TestParseBackfill(t *testing.T) {
	ok := []struct {
		raw  string
		want string
	}{
		{`{"action":"backfill","targets":{"all":true},"dryRun":true}`, "all (dry run)"},
		{`{"action":"backfill","targets":{"accounts":["222222222222"],"ous":["ou-ab12-11111111","r-ab12"],"repositories":["shared/*","team-a/app"],"regions":["us-east-1"]}}`,
			"accounts=222222222222 ous=ou-ab12-11111111,r-ab12 repositories=shared/*,team-a/app regions=us-east-1"},
	}
	for _, c := range ok {
		req, err := ParseBackfill([]byte(c.raw))
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if req.String() != c.want {
			t.Errorf("%s: String() = %q, want %q", c.raw, req.String(), c.want)
		}
	}
	bad := []struct{ name, raw, detail string }{
		{"unknown top field", `{"action":"backfill","targets":{"all":true},"dryrun":true}`, `unknown field "dryrun"`},
		{"unknown target field", `{"action":"backfill","targets":{"account":["222222222222"]}}`, `targets.account: unknown field "account" (did you mean "accounts"?)`},
		{"case variant", `{"action":"backfill","targets":{"all":true},"DryRun":false}`, `unknown field "DryRun"`},
		{"accounts not array", `{"action":"backfill","targets":{"accounts":"222222222222"}}`, "targets.accounts: is a string, want an array of strings"},
		{"dryRun string", `{"action":"backfill","targets":{"all":true},"dryRun":"yes"}`, "dryRun: is a string, want true or false"},
		{"targets array", `{"action":"backfill","targets":[]}`, "targets: is an array, want an object"},
		{"short account", `{"action":"backfill","targets":{"accounts":["222222222222","2222"]}}`, `targets.accounts[1]: "2222" is not a 12-digit account id`},
		{"bad ou", `{"action":"backfill","targets":{"ous":["Engineering"]}}`, `targets.ous[0]: "Engineering"`},
		{"bad region", `{"action":"backfill","targets":{"regions":["us-east"]}}`, `targets.regions[0]`},
		{"bad repository", `{"action":"backfill","targets":{"repositories":["Team A"]}}`, `targets.repositories[0]`},
		{"all and lists", `{"action":"backfill","targets":{"all":true,"accounts":["222222222222"]}}`, "cannot be combined"},
		{"no targets", `{"action":"backfill"}`, "targets: missing"},
		{"no action", `{"targets":{"all":true},"dryRun":true}`, "action: missing"},
		{"sweep claimed", `{"action":"backfill","targets":{"accounts":["222222222222"]},"sweep":true}`, "sweep: is set only by the sweep's schedule"},
		{"question mark", `{"action":"backfill","targets":{"repositories":["team-?/app"]}}`, `targets.repositories[0]: "team-?/app" is not a repository name or glob`},
		{"clean dry run", `{"action":"backfill","targets":{"all":true},"dryRun":true,"requireCleanPlan":true}`, "requireCleanPlan: has no meaning in a dry run"},
		{"empty targets", `{"action":"backfill","targets":{}}`, "targets: missing"},
		{"wrong action", `{"action":"restore","targets":{"all":true}}`, `action: "restore"`},
		{"truncated", `{"action":"backfill","targets":{"all":tr`, "not valid JSON"},
		{"trailing", `{"action":"backfill","targets":{"all":true}} {"x":1}`, "unexpected data"},
		{"null", `null`, "payload: is null, want an object"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBackfill([]byte(c.raw))
			r, ok := AsRejection(err)
			if !ok || r.Reason != ReasonInvalidPayload && r.Reason != ReasonTooLarge {
				t.Fatalf("got %v, want an invalid-payload rejection", err)
			}
			if !strings.Contains(r.Detail, c.detail) {
				t.Fatalf("detail %q does not contain %q", r.Detail, c.detail)
			}
		})
	}
}

// TestParseBackfillEveryMistake: a payload with three mistakes is answered
// with all three field paths at once, each with a did-you-mean, so the
// operator fixes it in one round trip.
func TestParseBackfillEveryMistake(t *testing.T) {
	_, err := Parse([]byte(`{"action":"backfil","targets":{"al":true},"dryRun":"yes"}`))
	r, ok := AsRejection(err)
	if !ok || r.Reason != ReasonInvalidPayload {
		t.Fatalf("got %v, want an invalid-payload rejection", err)
	}
	want := `action: "backfil" is not an action (did you mean "backfill"?); ` +
		`dryRun: is a string, want true or false; ` +
		`targets.al: unknown field "al" (did you mean "all"?)`
	if r.Detail != want {
		t.Fatalf("detail\n got %s\nwant %s", r.Detail, want)
	}
	// Semantic problems are reported alongside shape problems.
	_, err = ParseBackfill([]byte(`{"action":"backfill","targets":{"accounts":["2222","x"],"regions":["us-east"]},"dryRun":true,"dryRun":false,"dryrun":true}`))
	r, _ = AsRejection(err)
	for _, part := range []string{`dryRun: appears more than once`, `dryrun: unknown field "dryrun" (did you mean "dryRun"?)`,
		`targets.accounts[0]: "2222"`, `targets.accounts[1]: "x"`, `targets.regions[0]: "us-east"`} {
		if r == nil || !strings.Contains(r.Detail, part) {
			t.Errorf("detail %v lacks %q", r, part)
		}
	}
	// Nothing close: the known names are listed.
	_, err = ParseBackfill([]byte(`{"action":"backfill","targets":{"all":true},"colour":"red"}`))
	if r, _ := AsRejection(err); r == nil || !strings.Contains(r.Detail, `colour: unknown field "colour"; known: action, targets, dryRun, requireCleanPlan`) {
		t.Errorf("got %v", err)
	}
}

func BenchmarkParseCreateRepository(b *testing.B) {
	raw := readEvent(b, "ecr-create-repository-api-member.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseBackfillInJudgesRegionsInTheSamePass: judged against the
// declared regions, a payload's undeclared regions are problems beside its
// others (each region with its index, a malformed one once, as malformed),
// and a payload whose only problems are undeclared regions keeps the
// region's reason. CheckRegion names every undeclared region too.
func TestParseBackfillInJudgesRegionsInTheSamePass(t *testing.T) {
	declared := []string{"us-east-1", "eu-west-1"}
	_, err := ParseBackfillIn([]byte(`{"action":"backfill","targets":{"all":true,"regions":["ap-south-1","us-east","eu-west-1","sa-east-1"]},"dryRun":"no"}`), declared)
	r, ok := AsRejection(err)
	if !ok || r.Reason != ReasonInvalidPayload {
		t.Fatalf("got %v, want an invalid-payload rejection", err)
	}
	want := `dryRun: is a string, want true or false; targets: "all": true cannot be combined with accounts, ous, repositories or regions; ` +
		`targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]; ` +
		`targets.regions[1]: "us-east" is not a region name; ` +
		`targets.regions[3]: region "sa-east-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`
	if r.Detail != want {
		t.Errorf("detail\n got %s\nwant %s", r.Detail, want)
	}
	_, err = ParseBackfillIn([]byte(`{"action":"backfill","targets":{"regions":["ap-south-1","sa-east-1"]}}`), declared)
	if r, ok := AsRejection(err); !ok || r.Reason != ReasonRegionNotConfigured || strings.Count(r.Detail, "is not in the declaration's hub.regions") != 2 {
		t.Errorf("regions only: %v, want region-not-configured naming both", err)
	}
	// Through Parse's entry for every input, the same answer.
	_, err = ParseIn([]byte(`{"action":"backfill","targets":{"regions":["ap-south-1"]},"dryrun":true}`), declared)
	if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidPayload || !strings.Contains(r.Detail, `dryrun: unknown field`) || !strings.Contains(r.Detail, `targets.regions[0]: region "ap-south-1"`) {
		t.Errorf("ParseIn: %v, want both problems", err)
	}
	// Without declared regions nothing about them is judged.
	if _, err := ParseBackfill([]byte(`{"action":"backfill","targets":{"regions":["ap-south-1"]}}`)); err != nil {
		t.Errorf("ParseBackfill judged regions: %v", err)
	}
	tg := Target{Kind: KindBackfill, Backfill: &BackfillRequest{Action: "backfill", Targets: BackfillTargets{Regions: []string{"ap-south-1", "us-east-1", "sa-east-1"}}}}
	if r, ok := AsRejection(tg.CheckRegion(declared)); !ok || !strings.Contains(r.Detail, "targets.regions[0]") || !strings.Contains(r.Detail, "targets.regions[2]") {
		t.Errorf("CheckRegion: %v, want both undeclared regions", r)
	}
}
