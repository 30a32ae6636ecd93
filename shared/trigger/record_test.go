package trigger

import (
	"strings"
	"testing"
)

// TestRecordFieldsOfEveryEventAreChecked: CloudTrail writes awsRegion (a
// region name) and recipientAccountId (a 12-digit account id) in every
// record. Before, the Organizations and Control Tower readers never looked
// at either, so a number, a non-region or an 11-digit account there was
// accepted; and such an event's recipientAccountId could name another
// account than its envelope, which CheckOrigin judges. Each is now named
// with its path, for every source.
func TestRecordFieldsOfEveryEventAreChecked(t *testing.T) {
	files := []string{"org-move-account.json", "org-create-account-result-succeeded.json", "org-account-joined.json",
		"controltower-create-managed-account.json", "iam-put-role-policy.json", "ecr-put-registry-policy.json"}
	cases := []struct {
		name string
		set  func(d map[string]any)
		want string
	}{
		{"awsRegion a number", func(d map[string]any) { d["awsRegion"] = 1 }, "detail.awsRegion: is a number, want a string"},
		{"awsRegion not a region", func(d map[string]any) { d["awsRegion"] = "us east 1" }, `detail.awsRegion: "us east 1" is not a region name`},
		{"recipient a number", func(d map[string]any) { d["recipientAccountId"] = 99999999999 }, "detail.recipientAccountId: is a number, want a string"},
		{"recipient with a lost leading zero", func(d map[string]any) { d["recipientAccountId"] = "12345678901" }, `detail.recipientAccountId: "12345678901" is not a 12-digit account id`},
	}
	for _, f := range files {
		for _, c := range cases {
			_, err := Parse(mutate(t, f, func(ev map[string]any) { c.set(detail(ev)) }))
			if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, c.want) {
				t.Errorf("%s, %s: Parse = %v; want invalid-field naming %q", f, c.name, err, c.want)
			}
		}
	}
	// A management event's record and envelope name the same account.
	for _, f := range []string{"org-move-account.json", "controltower-create-managed-account.json", "org-account-departed.json"} {
		_, err := Parse(mutate(t, f, func(ev map[string]any) { detail(ev)["recipientAccountId"] = "222222222222" }))
		want := `event.account: "999999999999" disagrees with detail.recipientAccountId "222222222222"`
		if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, want) {
			t.Errorf("%s naming two accounts: Parse = %v; want %q", f, err, want)
		}
	}
	// A failed call with a bad record field is refused for both, the
	// failure named after.
	_, err := Parse(mutate(t, "ecr-create-repository-failed.json", func(ev map[string]any) { detail(ev)["recipientAccountId"] = "1" }))
	if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, "detail.recipientAccountId") || !strings.Contains(r.Detail, "; detail.errorCode: the call failed") {
		t.Errorf("failed call with a bad recipient: %v", err)
	}
}

// TestRequestAndResponseAreObjects: requestParameters and responseElements
// are JSON objects, or null, in every CloudTrail record. Before, the readers
// of events that do not look inside them (Control Tower's, Organizations'
// service events, PutRegistryPolicy's request) accepted a number, a string
// or an array there.
func TestRequestAndResponseAreObjects(t *testing.T) {
	for _, f := range []string{"controltower-create-managed-account.json", "org-create-account-result-succeeded.json", "org-account-joined.json", "ecr-put-registry-policy.json", "iam-delete-role.json"} {
		for _, k := range []string{"requestParameters", "responseElements"} {
			for _, v := range []any{5, "x", []any{}} {
				_, err := Parse(mutate(t, f, func(ev map[string]any) { detail(ev)[k] = v }))
				want := "detail." + k + ": is "
				if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, want) || !strings.Contains(r.Detail, "want an object") || strings.Count(r.Detail, want) != 1 {
					t.Errorf("%s with %s %v: Parse = %v; want it named once", f, k, v, err)
				}
			}
			if _, err := Parse(mutate(t, f, func(ev map[string]any) { detail(ev)[k] = nil })); err != nil && !strings.Contains(err.Error(), "missing") {
				t.Errorf("%s with %s null: %v", f, k, err)
			}
		}
	}
}
