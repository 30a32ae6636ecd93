package trigger

import (
	"strings"
	"testing"
)

// TestFieldsOfTheWrongTypeAreNamed: the envelope's version and resources
// and CloudTrail's eventVersion, readOnly and managementEvent are not used
// to find a target, but EventBridge and CloudTrail give each one type; an
// event with another is not what AWS sends, and is rejected naming the
// field (every one, with the problems found elsewhere). A detail.eventType
// that is not the one EventBridge files under the event's detail-type
// (AwsApiCall for "AWS API Call via CloudTrail", AwsServiceEvent for "AWS
// Service Event via CloudTrail") contradicts it: which fields name the
// target (an API call's or a service's) cannot be told, so it is named and
// no target is read. Before, each of these was accepted silently.
func TestFieldsOfTheWrongTypeAreNamed(t *testing.T) {
	api := "ecr-create-repository-api.json"
	cases := []struct {
		name string
		raw  []byte
		want []string // every problem named, in order; the first is the reason's
	}{
		{"envelope version a number", mutate(t, api, func(ev map[string]any) { ev["version"] = 0 }),
			[]string{"event.version: is a number, want a string"}},
		{"envelope resources a string", mutate(t, api, func(ev map[string]any) { ev["resources"] = "arn:aws:ecr:us-east-1:111111111111:repository/shared/base" }),
			[]string{"event.resources: is a string, want an array of strings"}},
		{"envelope resources holding a number and an object", mutate(t, api, func(ev map[string]any) { ev["resources"] = []any{"arn:x", 1, map[string]any{}} }),
			[]string{"event.resources[1]: is a number, want a string", "event.resources[2]: is an object, want a string"}},
		{"readOnly a string", mutate(t, api, func(ev map[string]any) { detail(ev)["readOnly"] = "false" }),
			[]string{"detail.readOnly: is a string, want a boolean"}},
		{"managementEvent a number, eventVersion a number", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) {
			detail(ev)["managementEvent"], detail(ev)["eventVersion"] = 1, 1.09
		}), []string{"detail.eventVersion: is a number, want a string", "detail.managementEvent: is a number, want a boolean"}},
		{"a wrong type beside a bad repository name", mutate(t, api, func(ev map[string]any) {
			detail(ev)["readOnly"] = []any{}
			sub(detail(ev), "requestParameters")["repositoryName"] = "Bad!"
		}), []string{"detail.readOnly: is an array, want a boolean", "detail.requestParameters.repositoryName"}},
		{"an API call filed as a service event", mutate(t, api, func(ev map[string]any) { detail(ev)["eventType"] = "AwsServiceEvent" }),
			[]string{`detail.eventType: "AwsServiceEvent" is not the eventType of an "AWS API Call via CloudTrail" event (want "AwsApiCall")`}},
		{"a service event filed as a console action", mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) { detail(ev)["eventType"] = "AwsConsoleAction" }),
			[]string{`detail.eventType: "AwsConsoleAction" is not the eventType of an "AWS Service Event via CloudTrail" event (want "AwsServiceEvent")`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			r, ok := AsRejection(err)
			if !ok {
				t.Fatalf("Parse = %s, %v; want a rejection naming %q", got, err, c.want)
			}
			if r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, c.want[0]) {
				t.Errorf("rejection %s: %q, want invalid-field starting with %q", r.Reason, r.Detail, c.want[0])
			}
			at := 0
			for _, w := range c.want {
				i := strings.Index(r.Detail[at:], w)
				if i < 0 {
					t.Fatalf("detail %q does not name %q (in order)", r.Detail, w)
				}
				at += i + len(w)
			}
		})
	}
	// What AWS sends passes: booleans, string version and resources, an
	// eventType matching the detail-type, or none. (A write API's readOnly
	// is false, its managementEvent true; readOnly true on a write is
	// refused: TestWriteEventClaimingReadOnlyIsRefused.)
	for _, raw := range [][]byte{
		readEvent(t, api),
		mutate(t, api, func(ev map[string]any) {
			ev["resources"] = []any{"arn:aws:ecr:us-east-1:111111111111:repository/shared/base"}
			detail(ev)["readOnly"], detail(ev)["managementEvent"] = false, true
		}),
		mutate(t, api, func(ev map[string]any) { delete(detail(ev), "eventType"); ev["resources"] = nil }),
	} {
		if got, err := Parse(raw); err != nil || got.Repository != "shared/base" {
			t.Errorf("Parse = %s, %v; want repository shared/base", got, err)
		}
	}
	if got, err := Parse(readEvent(t, "ecr-create-repository-service.json")); err != nil || got.Trigger.Service != "ecr.amazonaws.com" {
		t.Errorf("service event: %+v, %v; want it read as ECR's own", got, err)
	}
}

// TestHostileResourcesCostOneProblem: an envelope resources array of
// thousands of non-strings is named by its first three elements and a
// count, not one problem per element.
func TestHostileResourcesCostOneProblem(t *testing.T) {
	many := make([]any, 50000)
	for i := range many {
		many[i] = i
	}
	_, err := Parse(mutate(t, "ecr-create-repository-api.json", func(ev map[string]any) { ev["resources"] = many }))
	r, ok := AsRejection(err)
	if !ok || !strings.HasPrefix(r.Detail, "event.resources[0]: is a number, want a string") {
		t.Fatalf("Parse = %v; want event.resources[0] named first", err)
	}
	want := "event.resources[0]: is a number, want a string; event.resources[1]: is a number, want a string; event.resources[2]: is a number, want a string; event.resources: 49997 more elements are not strings"
	if r.Detail != want {
		t.Errorf("detail %q\nwant %q: three elements named and the rest counted", r.Detail, want)
	}
}

// TestScheduleDetailIsAnObject: the sweep schedule's Scheduled Event has
// "detail": {}; one whose detail is a string or an array is refused naming
// it, as any other event's detail is, instead of starting a sweep.
func TestScheduleDetailIsAnObject(t *testing.T) {
	for _, c := range []struct {
		detail any
		want   string
	}{
		{`{}`, "detail: is a string, want an object"},
		{[]any{}, "detail: is an array, want an object"},
		{7, "detail: is a number, want an object"},
	} {
		got, err := Parse(mutate(t, "scheduled-sweep.json", func(ev map[string]any) { ev["detail"] = c.detail }))
		if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || r.Detail != c.want {
			t.Errorf("detail %v: Parse = %+v, %v; want invalid-field %q", c.detail, got, err, c.want)
		}
	}
	for _, raw := range [][]byte{readEvent(t, "scheduled-sweep.json"), mutate(t, "scheduled-sweep.json", func(ev map[string]any) { delete(ev, "detail") })} {
		if got, err := Parse(raw); err != nil || got.Backfill == nil || !got.Backfill.Sweep {
			t.Errorf("Parse = %+v, %v; want the sweep", got, err)
		}
	}
}

// TestMissingEventSourceIsMissing: a detail without eventSource is named as
// missing, with the value its source wants, not as a "" that does not match.
func TestMissingEventSourceIsMissing(t *testing.T) {
	_, err := Parse(mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) { delete(detail(ev), "eventSource") }))
	want := `detail.eventSource: missing (want "ecr.amazonaws.com" for source "aws.ecr")`
	if r, ok := AsRejection(err); !ok || r.Reason != ReasonMissingField || r.Detail != want {
		t.Fatalf("Parse = %v; want missing-field %q", err, want)
	}
}
