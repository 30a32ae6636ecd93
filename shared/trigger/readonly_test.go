package trigger

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteEventClaimingReadOnlyIsRefused: every event the route table
// carries reports a change, which CloudTrail marks readOnly false (and
// EventBridge never matches a read-only CloudTrail event against a rule in
// the ENABLED state, the state of ecr-warden's rules). A routed sample with
// detail.readOnly true is not what it claims to be: it is refused naming
// detail.readOnly, filed under the resource the sample names, and the
// problem is named beside the event's others.
func TestWriteEventClaimingReadOnlyIsRefused(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(b)
		if err != nil || want.Kind == KindBackfill {
			continue
		}
		if _, _, ok := RouteOf(want.Trigger); !ok {
			continue
		}
		tried++
		t.Run(name, func(t *testing.T) {
			_, err := Parse(mutate(t, name, func(ev map[string]any) { detail(ev)["readOnly"] = true }))
			r, ok := AsRejection(err)
			if !ok || r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, "detail.readOnly: is true, but "+want.Trigger.Source+" "+quote(want.Trigger.EventName)+" is a write") {
				t.Fatalf("Parse = %v; want invalid-field naming detail.readOnly", err)
			}
			if r.Target.Kind != want.Kind || r.Target.AccountID != want.AccountID || r.Target.Repository != want.Repository || r.Target.RoleName != want.RoleName {
				t.Errorf("rejection filed under %+v, want the sample's target %+v", r.Target, want)
			}
			// Beside another problem, both are named.
			_, err = Parse(mutate(t, name, func(ev map[string]any) {
				detail(ev)["readOnly"] = true
				ev["version"] = 0
			}))
			r, ok = AsRejection(err)
			if !ok || !strings.HasPrefix(r.Detail, "event.version: is a number") || !strings.Contains(r.Detail, "; detail.readOnly: is true") {
				t.Errorf("Parse = %v; want event.version and detail.readOnly named", err)
			}
			// readOnly false, or absent, is what AWS sends.
			for _, v := range []any{false, nil} {
				if _, err := Parse(mutate(t, name, func(ev map[string]any) { detail(ev)["readOnly"] = v })); err != nil {
					t.Errorf("readOnly %v: Parse = %v; want accepted", v, err)
				}
			}
		})
	}
	if tried < 20 {
		t.Fatalf("only %d routed samples tried", tried)
	}
}
