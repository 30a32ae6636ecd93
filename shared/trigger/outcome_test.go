package trigger

import (
	"strings"
	"testing"
)

// TestUnclearOutcomeIsNotASuccess: CloudTrail sets errorCode (and
// errorMessage) on a failed call only and omits them on a success. An event
// whose errorCode is present but null or empty, or that carries an
// errorMessage without an errorCode, does not say whether its call
// succeeded: it is rejected naming the field, and no target is read from it,
// rather than converged as if the call had succeeded (a refused
// CreateRepository would be looked for as a repository just created). A
// real failure is still a failed-call rejection naming its error, and a
// success without either field is read as before.
func TestUnclearOutcomeIsNotASuccess(t *testing.T) {
	api := "ecr-create-repository-api.json"
	failed := func(ev map[string]any) { detail(ev)["responseElements"] = nil }
	cases := []struct {
		name   string
		raw    []byte
		reason Reason
		want   []string
	}{
		{"errorCode empty", mutate(t, api, func(ev map[string]any) { failed(ev); detail(ev)["errorCode"] = "" }),
			ReasonInvalidField, []string{"detail.errorCode: is empty; CloudTrail sets errorCode"}},
		{"errorCode null", mutate(t, api, func(ev map[string]any) { failed(ev); detail(ev)["errorCode"] = nil }),
			ReasonInvalidField, []string{"detail.errorCode: is null"}},
		{"errorCode null with a message", mutate(t, api, func(ev map[string]any) {
			failed(ev)
			detail(ev)["errorCode"], detail(ev)["errorMessage"] = nil, "User is not authorized"
		}), ReasonInvalidField, []string{"detail.errorCode: is null"}},
		{"errorMessage without errorCode", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) {
			detail(ev)["errorMessage"] = "User is not authorized to perform: ecr:SetRepositoryPolicy"
		}), ReasonInvalidField, []string{`detail.errorMessage: "User is not authorized to perform: ecr:SetRepositoryPolicy" without a detail.errorCode`}},
		{"errorMessage a number, errorCode a real error", mutate(t, api, func(ev map[string]any) {
			failed(ev)
			detail(ev)["errorCode"], detail(ev)["errorMessage"] = "AccessDenied", 403
		}), ReasonInvalidField, []string{"detail.errorMessage: is a number, want a string"}},
		{"errorCode of an IAM event empty", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) { detail(ev)["errorCode"] = "" }),
			ReasonInvalidField, []string{"detail.errorCode: is empty"}},
		{"errorMessage of an account move, no errorCode", mutate(t, "org-move-account.json", func(ev map[string]any) { detail(ev)["errorMessage"] = "denied" }),
			ReasonInvalidField, []string{`detail.errorMessage: "denied" without a detail.errorCode`}},
		{"a real failure", mutate(t, api, func(ev map[string]any) {
			failed(ev)
			detail(ev)["errorCode"], detail(ev)["errorMessage"] = "AccessDenied", "User is not authorized"
		}), ReasonFailedCall, []string{"the call failed with AccessDenied: User is not authorized"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			r, ok := AsRejection(err)
			if !ok {
				t.Fatalf("Parse = %s, %v; want a %s rejection: the call may have failed", got, err, c.reason)
			}
			if r.Reason != c.reason {
				t.Errorf("reason %s (%q), want %s", r.Reason, r.Detail, c.reason)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("detail %q, want it to name %q", r.Detail, w)
				}
			}
			if c.reason != ReasonFailedCall && r.Target.Kind != "" {
				t.Errorf("a target was read from an event whose outcome is unknown: %+v", r.Target)
			}
		})
	}
	// A success carries neither field, or errorMessage null beside no errorCode.
	for _, raw := range [][]byte{readEvent(t, api), mutate(t, api, func(ev map[string]any) { detail(ev)["errorMessage"] = nil })} {
		if got, err := Parse(raw); err != nil || got.Repository != "shared/base" {
			t.Errorf("a successful call: %s, %v; want repository shared/base", got, err)
		}
	}
}

// TestFailedCallWrongBesidesNamesTheFailure: a failed call that is also
// wrong elsewhere is rejected for that problem (its reason), and the
// failure is named after it, so the record still says the call failed.
func TestFailedCallWrongBesidesNamesTheFailure(t *testing.T) {
	_, err := Parse(mutate(t, "ecr-create-repository-failed.json", func(ev map[string]any) { ev["account"] = "12ab" }))
	r, ok := AsRejection(err)
	want := `event.account: "12ab" is not a 12-digit account id; detail.errorCode: the call failed with RepositoryAlreadyExistsException: The repository with name 'shared/base' already exists`
	if !ok || r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, want) {
		t.Fatalf("Parse = %v\nwant invalid-field starting %q", err, want)
	}
}
