package trigger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRoutesAreWhatParseUnderstands: every event name of every route parses
// (from its sample in events/) to the kind the table says, and no two routes
// claim the same event; every sample that parses to an event target is
// carried by some route. What is routed and what is parsed cannot drift.
func TestRoutesAreWhatParseUnderstands(t *testing.T) {
	type key struct{ source, eventName string }
	samples := map[key][]Target{}
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := Parse(b)
		if err != nil || tg.Kind == KindBackfill {
			continue
		}
		if _, _, ok := RouteOf(tg.Trigger); !ok {
			t.Errorf("%s parses to a %s target, but no route carries %s %s", filepath.Base(f), tg.Kind, tg.Trigger.Source, tg.Trigger.EventName)
		}
		samples[key{tg.Trigger.Source, tg.Trigger.EventName}] = append(samples[key{tg.Trigger.Source, tg.Trigger.EventName}], tg)
	}
	seen := map[string]string{}
	for _, r := range Routes {
		if len(r.Events) == 0 || len(r.DetailTypes) == 0 || r.Function == "" || r.Origin == "" {
			t.Errorf("route %s is incomplete: %+v", r.ID, r)
		}
		for _, e := range r.Events {
			for _, dt := range r.DetailTypes {
				k := r.Source + "/" + dt + "/" + e.Name
				if other, dup := seen[k]; dup {
					t.Errorf("%s is routed twice: %s and %s", k, other, r.ID)
				}
				seen[k] = r.ID
			}
			got := samples[key{r.Source, e.Name}]
			if len(got) == 0 {
				t.Errorf("route %s: no sample event in events/ for %s %s", r.ID, r.Source, e.Name)
			}
			for _, tg := range got {
				if tg.Kind != e.Kind {
					t.Errorf("route %s: %s parses to %s, the table says %s", r.ID, e.Name, tg.Kind, e.Kind)
				}
				if rr, k, _ := RouteOf(tg.Trigger); rr.ID != r.ID || k != e.Kind {
					t.Errorf("RouteOf(%s %s) = %s %s, want %s", r.Source, e.Name, rr.ID, k, r.ID)
				}
			}
		}
	}
	if _, _, ok := RouteOf(Trigger{Source: SourceEventBridge, DetailType: DetailTypeScheduled}); ok {
		t.Error("the sweep's schedule is not an event route")
	}
	if !slices.Contains(Routes[0].EventNames(), "CreateRepository") {
		t.Error("EventNames")
	}
}

// TestExecutionRoleCreationIsRouted: the member StackSet's CreateRole of the
// execution role (a stacksets-exec session, invoked by CloudFormation) is a
// role target of the IamRoleCreated route, whose role sets include the
// execution role's (the CDK app renders its name into the pattern from this
// row); no other route watches the execution role: its creation is the one
// event about it that drift acts on.
func TestExecutionRoleCreationIsRouted(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(eventsDir, "iam-create-role-execution.json"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	r, kind, ok := RouteOf(tg.Trigger)
	if !ok || r.ID != "IamRoleCreated" || kind != KindRole || tg.RoleName != "ecr-warden-execution" || tg.AccountID != "222222222222" {
		t.Fatalf("route %s kind %s role %s account %s, want IamRoleCreated's role target", r.ID, kind, tg.RoleName, tg.AccountID)
	}
	if tg.Trigger.Actor.InvokedBy != "cloudformation.amazonaws.com" {
		t.Errorf("actor %+v, want the StackSet's CloudFormation session", tg.Trigger.Actor)
	}
	for _, r := range Routes {
		if got, want := slices.Contains(r.Roles, RoleExecution), r.ID == "IamRoleCreated"; got != want {
			t.Errorf("route %s watches the execution role: %v, want %v", r.ID, got, want)
		}
	}
}

// TestParseReadsOnlyRoutedEvents: the parser accepts an event only when a
// route carries it (source, detail-type and event name), so an event name
// it knows how to read but under a detail-type no rule routes (a service
// event of a route that carries API calls only) is unknown, as it would be
// to the CDK app's patterns. Every sample that parses is tried under the
// other CloudTrail detail-type.
func TestParseReadsOnlyRoutedEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]string{DetailTypeAPICall: DetailTypeServiceEvent, DetailTypeServiceEvent: DetailTypeAPICall}
	tried := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := Parse(b)
		if err != nil || other[tg.Trigger.DetailType] == "" {
			continue
		}
		swapped := tg.Trigger
		swapped.DetailType = other[tg.Trigger.DetailType]
		if _, _, ok := RouteOf(swapped); ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		ev["detail-type"] = swapped.DetailType
		// The detail's eventType agrees with the new detail-type (one
		// that contradicts it is refused before any route is asked).
		if d, ok := ev["detail"].(map[string]any); ok {
			d["eventType"] = eventTypes[swapped.DetailType]
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		tried++
		_, err = Parse(raw)
		if r, ok := AsRejection(err); !ok || r.Reason != ReasonUnknownEvent {
			t.Errorf("%s as a %q: Parse = %v, want rejected as %s (no route carries %s %s as that detail-type)",
				filepath.Base(f), swapped.DetailType, err, ReasonUnknownEvent, swapped.Source, swapped.EventName)
		}
	}
	if tried == 0 {
		t.Fatal("no sample event has a detail-type its route does not carry; the test checks nothing")
	}
}
