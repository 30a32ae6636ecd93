package trigger

import (
	"strings"
	"testing"
)

// inRegion is a sample moved to region r, the envelope's and the record's.
func inRegion(t *testing.T, name, r string) []byte {
	return mutate(t, name, func(ev map[string]any) { ev["region"], detail(ev)["awsRegion"] = r, r })
}

// TestIAMEventsComeFromTheirPartitionsIAMRegion: CloudTrail logs IAM's calls
// in one region of each partition (us-east-1, cn-north-1, us-gov-west-1),
// the only region its EventBridge events exist in. An IAM event whose
// detail.awsRegion is any other region, of the same partition or not, was
// not delivered by AWS and is refused naming the field; one from its
// partition's IAM region is read, in every partition. Before, IAM events
// were read whatever their awsRegion said, even one that is not a region.
func TestIAMEventsComeFromTheirPartitionsIAMRegion(t *testing.T) {
	name := "iam-put-role-policy.json"
	for _, r := range []string{"us-east-1", "cn-north-1", "us-gov-west-1"} {
		got, err := Parse(inRegion(t, name, r))
		if err != nil || got.Kind != KindRole || got.RoleName == "" || got.Trigger.AWSRegion != r {
			t.Errorf("awsRegion %s: Parse = %+v, %v; want the role read", r, got, err)
		}
	}
	for _, c := range []struct{ region, want string }{
		{"eu-west-1", `detail.awsRegion: "eu-west-1"; IAM is global and CloudTrail logs its calls in us-east-1 only (partition aws)`},
		{"us-east-2", `detail.awsRegion: "us-east-2"; IAM is global and CloudTrail logs its calls in us-east-1 only (partition aws)`},
		{"cn-northwest-1", `detail.awsRegion: "cn-northwest-1"; IAM is global and CloudTrail logs its calls in cn-north-1 only (partition aws-cn)`},
		{"us-gov-east-1", `detail.awsRegion: "us-gov-east-1"; IAM is global and CloudTrail logs its calls in us-gov-west-1 only (partition aws-us-gov)`},
	} {
		_, err := Parse(inRegion(t, name, c.region))
		r, ok := AsRejection(err)
		if !ok || r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, c.want) {
			t.Errorf("awsRegion %s: Parse = %v; want invalid-field %q", c.region, err, c.want)
			continue
		}
		if r.Target.Kind != KindRole || r.Target.RoleName == "" {
			t.Errorf("awsRegion %s: rejection filed under %+v, want the role", c.region, r.Target)
		}
	}
	for _, c := range []struct {
		v    any
		want string
	}{{"mars-1; rm -rf", `detail.awsRegion: "mars-1; rm -rf" is not a region name`}, {7, "detail.awsRegion: is a number, want a string"}} {
		_, err := Parse(mutate(t, name, func(ev map[string]any) { detail(ev)["awsRegion"] = c.v }))
		if r, ok := AsRejection(err); !ok || !strings.Contains(r.Detail, c.want) {
			t.Errorf("awsRegion %v: Parse = %v; want %q", c.v, err, c.want)
		}
	}
	// Named beside the event's other problems.
	_, err := Parse(mutate(t, name, func(ev map[string]any) {
		detail(ev)["awsRegion"] = "eu-west-1"
		sub(detail(ev), "requestParameters")["roleName"] = "bad role"
	}))
	if r, ok := AsRejection(err); !ok || !strings.Contains(r.Detail, "detail.requestParameters.roleName") || !strings.Contains(r.Detail, "detail.awsRegion") {
		t.Errorf("Parse = %v; want roleName and awsRegion named", err)
	}
}

// TestGlobalEventsOfAnotherPartitionAreRefused: no trail, rule or bus
// reaches across partitions, so an event of a global service (IAM,
// Organizations, Control Tower: a target without a region) from another
// partition than the declared hub regions' was not delivered by AWS. It is
// refused naming the region and both partitions; the same event in the
// declaration's own partition is read.
func TestGlobalEventsOfAnotherPartitionAreRefused(t *testing.T) {
	aws, china := []string{"us-east-1", "eu-west-1"}, []string{"cn-north-1", "cn-northwest-1"}
	cases := []struct {
		name, file, region string
		regions            []string
		want               []string // "" = accepted
	}{
		{"IAM in aws", "iam-put-role-policy.json", "us-east-1", aws, nil},
		{"IAM in aws-cn", "iam-put-role-policy.json", "cn-north-1", china, nil},
		{"IAM of aws-cn at an aws hub", "iam-put-role-policy.json", "cn-north-1", aws,
			[]string{`detail.awsRegion: "cn-north-1" is a region of partition "aws-cn"`, `event.region: "cn-north-1" is a region of partition "aws-cn"`}},
		{"IAM of aws at an aws-cn hub", "iam-create-role.json", "us-east-1", china, []string{`detail.awsRegion: "us-east-1" is a region of partition "aws"`}},
		{"Organizations of aws-us-gov at an aws hub", "org-move-account.json", "us-gov-west-1", aws, []string{`detail.awsRegion: "us-gov-west-1" is a region of partition "aws-us-gov"`}},
		{"Control Tower of aws-cn at an aws hub", "controltower-create-managed-account.json", "cn-northwest-1", aws, []string{`event.region: "cn-northwest-1"`}},
		{"Organizations in aws", "org-move-account.json", "us-east-1", aws, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseIn(inRegion(t, c.file, c.region), c.regions)
			if c.want == nil {
				if err != nil {
					t.Fatalf("ParseIn = %v; want accepted", err)
				}
				return
			}
			r, ok := AsRejection(err)
			if !ok || r.Reason != ReasonRegionNotConfigured {
				t.Fatalf("ParseIn = %+v, %v; want region-not-configured", got, err)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("detail %q does not name %q", r.Detail, w)
				}
			}
			if !strings.Contains(r.Detail, "no event crosses partitions") || r.Target.Kind == "" {
				t.Errorf("rejection %+v: want the reason said and the target kept", r)
			}
		})
	}
}

// TestOrganizationsEventsComeFromTheirPartitionsRegion: Organizations is
// global too, and its calls are logged in its endpoint's region of each
// partition (us-east-1, cn-northwest-1, us-gov-west-1), the only region the
// management stack forwards them from. One whose detail.awsRegion is
// another region was not delivered by AWS and is refused naming the field;
// before, Organizations events were read whatever their awsRegion said.
func TestOrganizationsEventsComeFromTheirPartitionsRegion(t *testing.T) {
	for _, name := range []string{"org-move-account.json", "org-create-account-result-succeeded.json", "org-account-joined.json"} {
		for _, r := range []string{"us-east-1", "cn-northwest-1", "us-gov-west-1"} {
			if _, err := Parse(inRegion(t, name, r)); err != nil {
				t.Errorf("%s in %s: Parse = %v; want it read", name, r, err)
			}
		}
		for _, c := range []struct{ region, want string }{
			{"eu-west-1", `detail.awsRegion: "eu-west-1"; Organizations is global and CloudTrail logs its calls in us-east-1 only (partition aws)`},
			{"cn-north-1", `detail.awsRegion: "cn-north-1"; Organizations is global and CloudTrail logs its calls in cn-northwest-1 only (partition aws-cn)`},
			{"us-gov-east-1", `detail.awsRegion: "us-gov-east-1"; Organizations is global and CloudTrail logs its calls in us-gov-west-1 only (partition aws-us-gov)`},
		} {
			_, err := Parse(inRegion(t, name, c.region))
			if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, c.want) {
				t.Errorf("%s in %s: Parse = %v; want %q", name, c.region, err, c.want)
			}
		}
	}
	// Control Tower's home region is the landing zone's choice: not asked.
	if _, err := Parse(inRegion(t, "controltower-create-managed-account.json", "eu-west-1")); err != nil {
		t.Errorf("Control Tower in eu-west-1: %v", err)
	}
}

// TestControlTowerEventsComeFromTheHomeRegion: Control Tower emits its
// lifecycle events only in the landing zone's home region, and the hub's
// rules carry them from there only; the account function asks the same
// (WithOrigins with config.Hub.ControlTowerRegion). Before, a Control Tower
// event whose record was of any region was acted upon. The finding is named
// beside a parse's other problems and a forged origin's; Organizations
// events and a home region of "" are not asked.
func TestControlTowerEventsComeFromTheHomeRegion(t *testing.T) {
	const mgmt = "999999999999"
	ct := "controltower-create-managed-account.json"
	for _, home := range []string{"us-east-1", "eu-west-1"} {
		tg, err := Parse(inRegion(t, ct, home))
		if err != nil {
			t.Fatal(err)
		}
		if err := WithOrigins(tg, nil, mgmt, home); err != nil {
			t.Errorf("from the home region %s: %v", home, err)
		}
		if err := WithOrigins(tg, nil, mgmt, ""); err != nil {
			t.Errorf("no home region asked: %v", err)
		}
	}
	tg, err := Parse(inRegion(t, ct, "eu-central-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `detail.awsRegion: a aws.controltower event from "eu-central-1"; Control Tower emits its lifecycle events only in its home region eu-west-1`
	r, ok := AsRejection(WithOrigins(tg, nil, mgmt, "eu-west-1"))
	if !ok || r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, want) {
		t.Fatalf("from another region: %v; want %q", r, want)
	}
	// Beside a forged origin and a parse's own problem, each named once.
	raw := mutate(t, ct, func(ev map[string]any) {
		ev["account"], detail(ev)["recipientAccountId"] = "888888888888", "888888888888"
		ev["region"], detail(ev)["awsRegion"] = "eu-central-1", "eu-central-1"
		detail(ev)["eventVersion"] = 5
	})
	tg, err = Parse(raw)
	merged := WithOrigins(tg, err, mgmt, "eu-west-1")
	r, _ = AsRejection(WithOrigins(tg, merged, mgmt, "eu-west-1"))
	if r == nil || !strings.HasPrefix(r.Detail, "detail.eventVersion") || strings.Count(r.Detail, `from account "888888888888"`) != 1 || strings.Count(r.Detail, want) != 1 {
		t.Errorf("merged: %v; want eventVersion, the origin and the region named once each", r)
	}
	// Organizations events are not Control Tower's.
	org, err := Parse(readEvent(t, "org-move-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WithOrigins(org, nil, mgmt, "eu-west-1"); err != nil {
		t.Errorf("an Organizations event: %v", err)
	}
}
