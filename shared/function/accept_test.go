package function

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestAcceptServesItsOwnRegion: every hub region's stack has its own lease
// and audit tables, and a regional CloudTrail event exists only on its own
// region's buses, so only that region's function is delivered it. A regional
// target of another declared region (a direct invoke, a misrouted forward)
// is refused: converged here, it would hold this region's lease while that
// region's function holds its own on the same document, and two writers of
// one registry policy lose each other's updates. An ECR Public repository
// is us-east-1's document: another region's function refuses its events too.
func TestAcceptServesItsOwnRegion(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	inEU := func(name string) []byte { return []byte(strings.ReplaceAll(read(name), "us-east-1", "eu-west-1")) }
	cases := []struct {
		name   string
		raw    []byte
		fn     string
		own    string
		reject bool
	}{
		{"repository of another region", inEU("ecr-create-repository-api.json"), trigger.FnRepository, "us-east-1", true},
		{"registry policy of another region", inEU("ecr-put-registry-policy.json"), trigger.FnDrift, "us-east-1", true},
		{"PTC rule of another region", inEU("ecr-delete-ptc-rule.json"), trigger.FnDrift, "us-east-1", true},
		{"repository of its own region", inEU("ecr-create-repository-api.json"), trigger.FnRepository, "eu-west-1", false},
		{"own region unknown (tests)", inEU("ecr-create-repository-api.json"), trigger.FnRepository, "", false},
		{"a role is global", []byte(read("iam-put-role-policy.json")), trigger.FnDrift, "eu-west-1", false},
		{"an ECR Public repository is us-east-1's", []byte(read("ecr-public-create-repository.json")), trigger.FnRepository, "eu-west-1", true},
		{"ECR Public drift is us-east-1's", []byte(read("ecr-public-set-repository-policy.json")), trigger.FnDrift, "eu-west-1", true},
		{"an ECR Public repository in us-east-1", []byte(read("ecr-public-create-repository.json")), trigger.FnRepository, "us-east-1", false},
		{"an account event reaches every region", []byte(read("org-move-account.json")), trigger.FnAccount, "eu-west-1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Accept(c.raw, regions, c.fn, c.own)
			if !c.reject {
				if err != nil {
					t.Fatalf("Accept = %v, want the target", err)
				}
				return
			}
			r, ok := trigger.AsRejection(err)
			if !ok || r.Reason != trigger.ReasonOtherRegion || !strings.Contains(r.Detail, `"eu-west-1"`) || !strings.Contains(r.Detail, `"us-east-1"`) {
				t.Fatalf("Accept = %+v, %v; want an other-region rejection naming both regions", got, err)
			}
			if r.Target.Region == "" || r.Target.Region == c.own || r.Target.AccountID == "" {
				t.Errorf("rejection target %+v: the record must be filed under the document", r.Target)
			}
		})
	}
}

// TestAcceptRefusesAnEventOfTwoRegions: a repository event whose
// detail.awsRegion is not its envelope's region (the region whose bus
// delivered it) is refused as what it is, naming both fields, by whichever
// region's function gets it; before, the envelope region's function refused
// it as another region's (other-region), as if the event were fine and only
// misrouted.
func TestAcceptRefusesAnEventOfTwoRegions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "ecr-create-repository-api.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(strings.Replace(string(b), `"awsRegion": "us-east-1"`, `"awsRegion": "eu-west-1"`, 1))
	for _, own := range []string{"us-east-1", "eu-west-1"} {
		_, err := Accept(raw, []string{"us-east-1", "eu-west-1"}, trigger.FnRepository, own)
		r, ok := trigger.AsRejection(err)
		if !ok || r.Reason != trigger.ReasonInvalidField || !strings.Contains(r.Detail, `event.region: "us-east-1" disagrees with detail.awsRegion "eu-west-1"`) {
			t.Fatalf("Accept in %s = %v; want invalid-field naming event.region and detail.awsRegion", own, err)
		}
	}
}

// TestWrongFunctionNamesTheOneThatHandlesIt: a valid input sent to the wrong
// function is rejected with what it is and which function handles it, from
// the route table (a backfill payload and the sweep's schedule, which no
// EventBridge route carries, by the backfill function).
func TestWrongFunctionNamesTheOneThatHandlesIt(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		raw  []byte
		fn   string
		want string
	}{
		{"backfill payload", []byte(`{"action":"backfill","targets":{"all":true}}`), trigger.FnRepository,
			"a backfill payload is handled by the backfill function, not repository"},
		{"scheduled sweep", read("scheduled-sweep.json"), trigger.FnDrift,
			"the sweep's Scheduled Event from aws.events is handled by the backfill function, not drift"},
		{"repository created", read("ecr-create-repository-api.json"), trigger.FnDrift,
			"the aws.ecr CreateRepository event is handled by the repository function, not drift"},
		{"account moved", read("org-move-account.json"), trigger.FnRepository,
			"the aws.organizations MoveAccount event is handled by the account function, not repository"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Accept(c.raw, []string{"us-east-1"}, c.fn, "us-east-1")
			r, ok := trigger.AsRejection(err)
			if !ok || r.Reason != trigger.ReasonUnknownEvent || r.Detail != c.want {
				t.Errorf("Accept = %v\nwant detail %q", err, c.want)
			}
		})
	}
}
