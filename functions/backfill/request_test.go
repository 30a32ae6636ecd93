package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestPayloadProblemsAreAnsweredInOnePass: a payload with mistakes of its
// own and regions the declaration does not cover is answered once, naming
// every problem with its field path (the regions among them, each one), so
// the operator fixes it in one round trip; a payload whose only problems
// are undeclared regions names every one of them and keeps its reason
// (region-not-configured). Before, the region check ran only on a payload
// that passed every other check, and stopped at the first region.
func TestPayloadProblemsAreAnsweredInOnePass(t *testing.T) {
	h := &handler{decl: exampleDecl(t), log: slog.New(slog.DiscardHandler)} // hub.regions: us-east-1, eu-west-1
	for _, c := range []struct {
		name, payload string
		reason        trigger.Reason
		want          []string
	}{
		{"shape, value and region problems", `{"action":"backfil","targets":{"accounts":["12"],"regions":["ap-south-1","us-east-1","us-east","sa-east-1"]},"dryrun":true}`,
			trigger.ReasonInvalidPayload, []string{
				`action: "backfil" is not an action (did you mean "backfill"?)`,
				`dryrun: unknown field "dryrun" (did you mean "dryRun"?)`,
				`targets.accounts[0]: "12" is not a 12-digit account id`,
				`targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`,
				`targets.regions[2]: "us-east" is not a region name`,
				`targets.regions[3]: region "sa-east-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`,
			}},
		{"an unknown target field and a region", `{"action":"backfill","targets":{"regions":["ap-south-1"],"acounts":["222222222222"]}}`,
			trigger.ReasonInvalidPayload, []string{
				`targets.acounts: unknown field "acounts" (did you mean "accounts"?)`,
				`targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`,
			}},
		{"regions only", `{"action":"backfill","targets":{"regions":["ap-south-1","eu-west-1","sa-east-1"]}}`,
			trigger.ReasonRegionNotConfigured, []string{
				`targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`,
				`targets.regions[2]: region "sa-east-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`,
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, rej := h.request([]byte(c.payload))
			if rej == nil {
				t.Fatalf("%s: accepted", c.payload)
			}
			if rej.Reason != c.reason {
				t.Errorf("reason %s, want %s", rej.Reason, c.reason)
			}
			problems := strings.Split(rej.Detail, "; ")
			for _, w := range c.want {
				if !strings.Contains(rej.Detail, w) {
					t.Errorf("detail lacks %q:\n%s", w, rej.Detail)
				}
			}
			if len(problems) != len(c.want) {
				t.Errorf("%d problems, want exactly %d (each once):\n%s", len(problems), len(c.want), strings.Join(problems, "\n"))
			}
		})
	}
	// A payload that passes names its declared regions and is accepted.
	if req, rej := h.request([]byte(`{"action":"backfill","targets":{"regions":["eu-west-1"]},"dryRun":true}`)); rej != nil || req.Targets.Regions[0] != "eu-west-1" {
		t.Errorf("a declared region: %+v, %v", req, rej)
	}
}
