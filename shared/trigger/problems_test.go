package trigger

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestParseNamesEveryProblem: an event wrong in several independent places
// is rejected naming every one with its path, the envelope's and the
// detail's alike, so whoever reads the audit record fixes the sender once
// instead of once per problem. The reason is the first problem's: an event
// with one problem is rejected as it always was.
func TestParseNamesEveryProblem(t *testing.T) {
	api, policyEvent := "ecr-create-repository-api.json", "ecr-set-repository-policy.json"
	req := func(ev map[string]any) map[string]any { return sub(detail(ev), "requestParameters") }
	cases := []struct {
		name   string
		raw    []byte
		reason Reason
		paths  []string // in the order named; the first gives the reason
	}{
		{"envelope account and region, repository name", mutate(t, api, func(ev map[string]any) {
			ev["account"], ev["region"] = "12ab", "nowhere"
			req(ev)["repositoryName"] = "Bad!"
		}), ReasonInvalidField, []string{"event.account", "event.region", "detail.requestParameters.repositoryName"}},
		{"envelope id, no source", []byte(`{"id":7,"detail-type":"AWS API Call via CloudTrail","account":"1"}`),
			ReasonInvalidField, []string{"event.id", "event.source", "event.account"}},
		{"region, repository name and registry id of one ECR event", mutate(t, policyEvent, func(ev map[string]any) {
			detail(ev)["awsRegion"] = "Mars"
			req(ev)["repositoryName"] = "../x"
			req(ev)["registryId"] = "abc"
		}), ReasonInvalidField, []string{"detail.awsRegion", "detail.requestParameters.repositoryName", "detail.requestParameters.registryId"}},
		{"missing repository name first, then a bad registry id", mutate(t, policyEvent, func(ev map[string]any) {
			// The response names the repository too: gone from both.
			delete(req(ev), "repositoryName")
			delete(sub(detail(ev), "responseElements"), "repositoryName")
			req(ev)["registryId"] = "abc"
		}), ReasonMissingField, []string{"detail.requestParameters.repositoryName", "detail.requestParameters.registryId"}},
		{"CloudTrail metadata, actor and a PTC prefix", mutate(t, "ecr-delete-ptc-rule.json", func(ev map[string]any) {
			detail(ev)["eventTime"] = 5
			sub(detail(ev), "userIdentity")["arn"] = []any{}
			req(ev)["ecrRepositoryPrefix"] = "a"
		}), ReasonInvalidField, []string{"detail.eventTime", "detail.userIdentity.arn", "detail.requestParameters.ecrRepositoryPrefix"}},
		{"eventSource of another service, tagged ARN of another region", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			detail(ev)["eventSource"] = "s3.amazonaws.com"
			req(ev)["resourceArn"] = "arn:aws:ecr:eu-west-1:222222222222:repository/Team"
		}), ReasonInvalidField, []string{"detail.eventSource", "detail.requestParameters.resourceArn: region", "detail.requestParameters.resourceArn: \"Team\""}},
		{"duplicate key and a repository name", []byte(strings.Replace(string(mutate(t, api, func(ev map[string]any) { req(ev)["repositoryName"] = "UP" })),
			`"region":"us-east-1"`, `"region":"us-east-1","region":"us-east-1"`, 1)),
			ReasonMalformed, []string{"event.region", "detail.requestParameters.repositoryName"}},
		{"envelope time, moved account and its destination", mutate(t, "org-move-account.json", func(ev map[string]any) {
			ev["time"] = "2025\n"
			req(ev)["accountId"] = "x"
			req(ev)["destinationParentId"] = "bogus"
		}), ReasonInvalidField, []string{"event.time", "detail.requestParameters.accountId", "detail.requestParameters.destinationParentId"}},
		{"moved account and a missing source parent", mutate(t, "org-move-account.json", func(ev map[string]any) {
			req(ev)["accountId"] = 333333333333
			delete(req(ev), "sourceParentId")
		}), ReasonInvalidField, []string{"detail.requestParameters.accountId", "detail.requestParameters.sourceParentId: missing"}},
		{"removed account and envelope account", mutate(t, "org-remove-account.json", func(ev map[string]any) {
			req(ev)["accountId"] = "33333333333"
			ev["account"] = "nine"
		}), ReasonInvalidField, []string{"event.account", "detail.requestParameters.accountId"}},
		{"role name and recipient account of an IAM event", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) {
			req(ev)["roleName"] = "bad role!"
			detail(ev)["recipientAccountId"] = "1"
		}), ReasonInvalidField, []string{"detail.requestParameters.roleName", "detail.recipientAccountId"}},
		{"IAM actor and role name", mutate(t, "iam-update-assume-role-policy.json", func(ev map[string]any) {
			sub(detail(ev), "userIdentity")["type"] = "a\x01b"
			delete(req(ev), "roleName")
		}), ReasonInvalidField, []string{"detail.userIdentity.type", "detail.requestParameters.roleName: missing"}},
		{"ECR Public outside us-east-1, with a bad name", mutate(t, "ecr-public-set-repository-policy.json", func(ev map[string]any) {
			detail(ev)["awsRegion"], ev["region"] = "eu-west-1", "eu-west-1"
			req(ev)["repositoryName"] = "a__b"
		}), ReasonPublicRegion, []string{"detail.awsRegion", "detail.requestParameters.repositoryName"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rejectionOf(t, c.raw, fmt.Sprintf("naming %v", c.paths))
			if r.Reason != c.reason || !strings.HasPrefix(r.Detail, c.paths[0]) {
				t.Errorf("rejected %s: %q; want %s, the first problem's (%s)", r.Reason, r.Detail, c.reason, c.paths[0])
			}
			parts := problemsOf(r.Detail)
			if len(parts) != len(c.paths) {
				t.Errorf("detail names %d problems, want %d: %q", len(parts), len(c.paths), r.Detail)
			}
			for i, p := range c.paths {
				if i >= len(parts) || !strings.HasPrefix(parts[i], p) {
					t.Errorf("problem %d is not about %s: %q", i, p, r.Detail)
				}
			}
		})
	}
}

// TestParseBoundsTheProblemsItNames: however many problems an event has,
// the rejection names the first few and counts the rest, so the record of
// its rejection is stored.
func TestParseBoundsTheProblemsItNames(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.ecr","detail":{`)
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, `"k%d":1,"k%d":1,`, i, i)
	}
	b.WriteString(`"eventName":"CreateRepository"}}`)
	_, err := Parse([]byte(b.String()))
	r, ok := AsRejection(err)
	if !ok || r.Reason != ReasonMalformed {
		t.Fatalf("Parse: %v; want malformed", err)
	}
	if parts := problemsOf(r.Detail); len(parts) != maxProblemsNamed+1 || !regexp.MustCompile(`^and 499[0-9] more problems$`).MatchString(parts[maxProblemsNamed]) {
		t.Errorf("detail (%d parts): %.300q...; want %d named and the rest counted", len(parts), r.Detail, maxProblemsNamed)
	}
	if len(r.Detail) > 2000 {
		t.Errorf("detail is %d bytes", len(r.Detail))
	}
}

// problemsOf splits a rejection's detail into its problems: "; " parts that
// start with a path (or the count of the rest); a problem's own message may
// hold "; " too.
func problemsOf(detail string) []string {
	var out []string
	for _, p := range strings.Split(detail, "; ") {
		if len(out) > 0 && !strings.HasPrefix(p, "event.") && !strings.HasPrefix(p, "detail") && !strings.HasPrefix(p, "and ") {
			out[len(out)-1] += "; " + p
			continue
		}
		out = append(out, p)
	}
	return out
}
