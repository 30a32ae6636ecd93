package trigger

import (
	"strings"
	"testing"
)

// TestParentOfTheWrongTypeIsNamed: a field read below a parent that is
// present but not an object (a string, number or array where CloudTrail
// has an object) is a problem of that parent, named with its path. Before,
// such a parent read as absent: the event was accepted on its other fields
// with the problem unnamed, or rejected for a "missing" field that was never
// the fault.
func TestParentOfTheWrongTypeIsNamed(t *testing.T) {
	api := "ecr-create-repository-api.json"
	cases := []struct {
		name   string
		raw    []byte
		reason Reason
		want   []string // every problem the rejection must name
	}{
		{"a created repository's response is a string", mutate(t, api, func(ev map[string]any) {
			sub(detail(ev), "responseElements")["repository"] = "shared/base"
		}), ReasonInvalidField, []string{"detail.responseElements.repository: is a string, want an object"}},
		{"a created repository's response is an array, the request null", mutate(t, api, func(ev map[string]any) {
			sub(detail(ev), "responseElements")["repository"] = []any{}
			detail(ev)["requestParameters"] = nil
		}), ReasonInvalidField, []string{"detail.responseElements.repository: is an array, want an object"}},
		{"a service-created repository's response is a number", mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) {
			detail(ev)["responseElements"] = map[string]any{"repository": 5}
		}), ReasonInvalidField, []string{"detail.responseElements.repository: is a number, want an object"}},
		{"the actor's session context is a string", mutate(t, "ecr-put-registry-policy.json", func(ev map[string]any) {
			sub(detail(ev), "userIdentity")["sessionContext"] = "x"
		}), ReasonInvalidField, []string{"detail.userIdentity.sessionContext: is a string, want an object"}},
		{"ecr-warden's own session issuer is an array", mutate(t, "ecr-set-repository-policy-by-warden.json", func(ev map[string]any) {
			sub(sub(detail(ev), "userIdentity"), "sessionContext")["sessionIssuer"] = []any{}
		}), ReasonInvalidField, []string{"detail.userIdentity.sessionContext.sessionIssuer: is an array, want an object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			r, ok := AsRejection(err)
			if !ok {
				t.Fatalf("Parse = %s, %v; want a rejection naming %q", got, err, c.want)
			}
			if r.Reason != c.reason {
				t.Errorf("reason %s, want %s (detail %q)", r.Reason, c.reason, r.Detail)
			}
			for _, w := range c.want {
				if n := strings.Count(r.Detail, w); n != 1 {
					t.Errorf("detail %q names %q %d times, want once", r.Detail, w, n)
				}
			}
			if strings.Contains(r.Detail, ": missing") {
				t.Errorf("detail %q blames a missing field for a parent of the wrong type", r.Detail)
			}
		})
	}
}
