package trigger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mutate decodes a sample, applies f to it and re-encodes it, so hostile cases
// differ from a real event in exactly one place.
func mutate(t testing.TB, name string, f func(ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	f(ev)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func detail(ev map[string]any) map[string]any { return ev["detail"].(map[string]any) }
func sub(m map[string]any, k string) map[string]any {
	return m[k].(map[string]any)
}

func TestParseHostile(t *testing.T) {
	api := "ecr-create-repository-api.json"
	full := readEvent(t, api)
	cases := []struct {
		name   string
		raw    []byte
		reason Reason
		detail string
	}{
		{"empty", nil, ReasonMalformed, "not valid JSON"},
		{"truncated", full[:len(full)/2], ReasonMalformed, "not valid JSON"},
		{"trailing data", append(append([]byte{}, full...), []byte(` {}`)...), ReasonMalformed, "after the JSON value"},
		{"json null", []byte(`null`), ReasonMalformed, "is null, want an object"},
		{"array", []byte(`[{"detail-type":"x"}]`), ReasonMalformed, "is an array, want an object"},
		{"number", []byte(`42`), ReasonMalformed, "is a number"},
		{"too large", []byte(`{"x":"` + strings.Repeat("a", maxInput) + `"}`), ReasonTooLarge, "bytes"},
		{"no detail-type", []byte(`{"source":"aws.ecr","detail":{}}`), ReasonMissingField, "event.detail-type: missing"},
		{"detail-type number", []byte(`{"detail-type":7,"source":"aws.ecr"}`), ReasonInvalidField, "event.detail-type: is a number, want a string"},
		{"no source", []byte(`{"detail-type":"AWS API Call via CloudTrail"}`), ReasonMissingField, "event.source: missing"},
		{"unknown detail-type", []byte(`{"detail-type":"ECR Image Action","source":"aws.ecr","detail":{}}`), ReasonUnknownEvent, `"ECR Image Action"`},
		{"schedule from elsewhere", []byte(`{"detail-type":"Scheduled Event","source":"custom.app","detail":{}}`), ReasonUnknownSource, "custom.app"},
		{"detail array", mutate(t, api, func(ev map[string]any) { ev["detail"] = []any{1} }), ReasonInvalidField, "detail: is an array, want an object"},
		{"detail null", mutate(t, api, func(ev map[string]any) { ev["detail"] = nil }), ReasonMissingField, "detail: missing"},
		{"requestParameters array", mutate(t, api, func(ev map[string]any) { detail(ev)["requestParameters"] = []any{"shared/base"} }), ReasonInvalidField, "detail.requestParameters: is an array"},
		{"repositoryName number", mutate(t, api, func(ev map[string]any) { sub(detail(ev), "requestParameters")["repositoryName"] = 5 }), ReasonInvalidField, "detail.requestParameters.repositoryName: is a number, want a string"},
		{"repositoryName uppercase", mutate(t, api, func(ev map[string]any) { sub(detail(ev), "requestParameters")["repositoryName"] = "Shared/Base" }), ReasonInvalidField, "not a valid repository name"},
		{"repositoryName traversal", mutate(t, api, func(ev map[string]any) { sub(detail(ev), "requestParameters")["repositoryName"] = "../etc" }), ReasonInvalidField, "not a valid repository name"},
		{"repositoryName one char", mutate(t, api, func(ev map[string]any) { sub(detail(ev), "requestParameters")["repositoryName"] = "a" }), ReasonInvalidField, "2-256 characters"},
		{"repositoryName huge", mutate(t, api, func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["repositoryName"] = strings.Repeat("a", 100000)
		}), ReasonInvalidField, "(100000 bytes)"},
		{"repositoryName missing everywhere", mutate(t, api, func(ev map[string]any) {
			delete(sub(detail(ev), "requestParameters"), "repositoryName")
			detail(ev)["responseElements"] = nil
		}), ReasonMissingField, "detail.requestParameters.repositoryName: missing"},
		{"registryId short", mutate(t, api, func(ev map[string]any) {
			sub(sub(detail(ev), "responseElements"), "repository")["registryId"] = "12345"
		}), ReasonInvalidField, `detail.responseElements.repository.registryId: "12345" is not a 12-digit account id`},
		{"recipient not digits", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) { detail(ev)["recipientAccountId"] = "11111111111x" }), ReasonInvalidField, "detail.recipientAccountId"},
		{"no account anywhere", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) {
			delete(sub(detail(ev), "responseElements"), "registryId") // the response names the registry too
			delete(detail(ev), "recipientAccountId")
			delete(ev, "account")
		}), ReasonMissingField, "detail.recipientAccountId: missing"},
		{"bad region", mutate(t, api, func(ev map[string]any) { detail(ev)["awsRegion"] = "mars-1; rm -rf" }), ReasonInvalidField, "not a region name"},
		{"userIdentity string", mutate(t, api, func(ev map[string]any) { detail(ev)["userIdentity"] = "root" }), ReasonInvalidField, "detail.userIdentity: is a string, want an object"},
		{"actor arn number", mutate(t, api, func(ev map[string]any) { sub(detail(ev), "userIdentity")["arn"] = 1 }), ReasonInvalidField, "detail.userIdentity.arn"},
		{"eventSource mismatch", mutate(t, api, func(ev map[string]any) { detail(ev)["eventSource"] = "s3.amazonaws.com" }), ReasonInvalidField, "does not match source"},
		{"no eventName", mutate(t, api, func(ev map[string]any) { delete(detail(ev), "eventName") }), ReasonMissingField, "detail.eventName: missing"},
		{"ecr event not handled", mutate(t, api, func(ev map[string]any) { detail(ev)["eventName"] = "PutImage" }), ReasonUnknownEvent, `"PutImage"`},
		{"errorCode wrong type", mutate(t, api, func(ev map[string]any) { detail(ev)["errorCode"] = map[string]any{} }), ReasonInvalidField, "detail.errorCode"},
		{"failed call keeps code", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) {
			detail(ev)["errorCode"] = "AccessDenied"
			detail(ev)["errorMessage"] = "User is not authorized"
		}), ReasonFailedCall, "AccessDenied: User is not authorized"},
		{"service event without details", mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) { delete(detail(ev), "serviceEventDetails") }), ReasonMissingField, "detail.serviceEventDetails.repositoryName: missing"},
		{"service event details array", mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) { detail(ev)["serviceEventDetails"] = []any{} }), ReasonInvalidField, "detail.serviceEventDetails: is an array"},
		{"service event name invalid", mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["repositoryName"] = "UPPER"
		}), ReasonInvalidField, "detail.serviceEventDetails.repositoryName"},
		{"ecr public outside us-east-1", mutate(t, "ecr-public-create-repository.json", func(ev map[string]any) {
			detail(ev)["awsRegion"] = "eu-west-1"
			ev["region"] = "eu-west-1"
		}), ReasonPublicRegion, `"eu-west-1"`},
		{"ecr public name too long", mutate(t, "ecr-public-create-repository.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["repositoryName"] = strings.Repeat("a", 206)
			detail(ev)["responseElements"] = nil
		}), ReasonInvalidField, "2-205 characters"},
		{"ptc prefix too long", mutate(t, "ecr-delete-ptc-rule.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["ecrRepositoryPrefix"] = strings.Repeat("p", 31)
		}), ReasonInvalidField, "pull-through-cache prefix"},
		{"role name invalid", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["roleName"] = "bad role/name"
		}), ReasonInvalidField, "not a valid IAM role name"},
		{"iam without requestParameters", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) { detail(ev)["requestParameters"] = nil }), ReasonMissingField, "detail.requestParameters: missing"},
		{"iam event not handled", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) { detail(ev)["eventName"] = "CreateUser" }), ReasonUnknownEvent, "CreateUser"},
		{"create account in progress", mutate(t, "org-create-account-result-succeeded.json", func(ev map[string]any) {
			sub(sub(detail(ev), "serviceEventDetails"), "createAccountStatus")["state"] = "IN_PROGRESS"
		}), ReasonNotSucceeded, "IN_PROGRESS"},
		{"create account status array", mutate(t, "org-create-account-result-succeeded.json", func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["createAccountStatus"] = []any{}
		}), ReasonInvalidField, "createAccountStatus: is an array"},
		{"move without destination", mutate(t, "org-move-account.json", func(ev map[string]any) {
			delete(sub(detail(ev), "requestParameters"), "destinationParentId")
		}), ReasonMissingField, "detail.requestParameters.destinationParentId: missing"},
		{"move to bad parent", mutate(t, "org-move-account.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["destinationParentId"] = "ou-x"
		}), ReasonInvalidField, "not an organization root"},
		{"control tower failed", mutate(t, "controltower-create-managed-account.json", func(ev map[string]any) {
			st := sub(sub(detail(ev), "serviceEventDetails"), "createManagedAccountStatus")
			st["state"], st["message"] = "FAILED", "AWS Control Tower failed to create an enrolled account."
		}), ReasonNotSucceeded, "FAILED: AWS Control Tower failed"},
		{"tag on non-repository", mutate(t, api, func(ev map[string]any) {
			detail(ev)["eventName"] = "TagResource"
			detail(ev)["requestParameters"] = map[string]any{"resourceArn": "arn:aws:s3:::bucket"}
		}), ReasonInvalidField, "not an ECR repository ARN"},
		{"backfill typo", []byte(`{"action":"backfill","targets":{"all":true},"dryrun":true}`), ReasonInvalidPayload, `unknown field "dryrun"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := Parse(c.raw)
			r := rejectionOf(t, c.raw, string(c.reason))
			if r.Reason != c.reason || !strings.Contains(r.Detail, c.detail) {
				t.Fatalf("rejection %s: %q\nwant %s containing %q", r.Reason, r.Detail, c.reason, c.detail)
			}
			if r.Retryable() {
				t.Fatal("rejections must not be retryable")
			}
			if len(r.Detail) > 2000 {
				t.Fatalf("detail is %d bytes: hostile input must not blow up log lines", len(r.Detail))
			}
			if got.Kind != "" {
				t.Fatalf("rejected input returned a target %+v", got)
			}
		})
	}
}

// TestUnreadableMembershipEventsWalkTheOrganization: an Organizations or
// Control Tower event whose subject account cannot be read is not rejected
// (the same bytes never parse better, and the account would be missed until
// the next sweep): it becomes a KindOrganization target, whose convergence
// walks the organization, with the reason kept for the audit trail.
func TestUnreadableMembershipEventsWalkTheOrganization(t *testing.T) {
	joined := "org-account-joined.json"
	cases := []struct {
		name   string
		raw    []byte
		detail string
	}{
		{"create account id short", mutate(t, "org-create-account-result-succeeded.json", func(ev map[string]any) {
			sub(sub(detail(ev), "serviceEventDetails"), "createAccountStatus")["accountId"] = "3333"
		}), "createAccountStatus.accountId"},
		{"joined without account id", mutate(t, joined, func(ev map[string]any) {
			delete(sub(detail(ev), "serviceEventDetails"), "accountId")
		}), "no account id found"},
		{"joined with conflicting ids", mutate(t, joined, func(ev map[string]any) {
			detail(ev)["requestParameters"] = map[string]any{"accountId": "444444444444"}
		}), "conflicting account ids"},
		{"joined with invalid id", mutate(t, joined, func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["accountId"] = "not-an-account"
		}), "not a 12-digit account id"},
		{"joined id as number", mutate(t, joined, func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["accountId"] = 333333333333
		}), "no account id found"},
		{"control tower account missing", mutate(t, "controltower-create-managed-account.json", func(ev map[string]any) {
			delete(sub(sub(detail(ev), "serviceEventDetails"), "createManagedAccountStatus"), "account")
		}), "createManagedAccountStatus.account: missing"},
		{"joined with an unknown shape", mutate(t, joined, func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["account"] = map[string]any{"number": "x"}
			delete(sub(detail(ev), "serviceEventDetails"), "accountId")
		}), "no account id found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			if err != nil {
				t.Fatalf("Parse = %v, want a KindOrganization target", err)
			}
			if got.Kind != KindOrganization || got.AccountID != "" || !strings.Contains(got.Unresolved, c.detail) {
				t.Fatalf("target %+v, want kind organization, no account, unresolved containing %q", got, c.detail)
			}
			if got.Trigger.EventID == "" || got.Trigger.EventName == "" {
				t.Fatalf("trigger metadata lost: %+v", got.Trigger)
			}
		})
	}
}

func TestMembershipAlternativeShapes(t *testing.T) {
	for name, f := range map[string]func(ev map[string]any){
		"requestParameters": func(ev map[string]any) {
			detail(ev)["serviceEventDetails"] = nil
			detail(ev)["requestParameters"] = map[string]any{"accountId": "333333333333", "joinedMethod": "Created"}
		},
		"nested account object": func(ev map[string]any) {
			detail(ev)["serviceEventDetails"] = map[string]any{"account": map[string]any{"id": "333333333333"}, "joinedMethod": "Created"}
		},
		"capitalised key": func(ev map[string]any) {
			detail(ev)["serviceEventDetails"] = map[string]any{"AccountId": "333333333333", "joinedMethod": "Created"}
		},
		"same id twice": func(ev map[string]any) {
			detail(ev)["serviceEventDetails"] = map[string]any{"accountId": "333333333333", "joinedMethod": "Created"}
			detail(ev)["responseElements"] = map[string]any{"account": map[string]any{"accountId": "333333333333"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(mutate(t, "org-account-joined.json", f))
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != KindAccount || got.AccountID != "333333333333" || got.Method != "Created" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestTagChangeTargetsRepository(t *testing.T) {
	raw := mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) {
		detail(ev)["eventName"] = "TagResource"
		detail(ev)["requestParameters"] = map[string]any{"resourceArn": "arn:aws:ecr:us-east-1:111111111111:repository/shared/base",
			"tags": []any{map[string]any{"key": "share", "value": "org"}}}
		detail(ev)["responseElements"] = nil
	})
	got, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindRepository || got.Repository != "shared/base" || got.AccountID != "111111111111" {
		t.Fatalf("got %+v", got)
	}
}

// ECR's private repository names take the OCI grammar ("__" and runs of "-"
// between letters and digits), ECR Public's the older one. Every event that
// names a private repository reads such a name (a pull-through cache of
// Docker Hub's "library/base__debug" is created under it), and an ECR Public
// event naming one is refused as its API would refuse it.
func TestOCIRepositoryNamesAreRead(t *testing.T) {
	for _, name := range []string{"team-a/base__debug", "team-a/my--app", "a---b/c__d.e"} {
		for _, c := range []struct {
			sample string
			set    func(d map[string]any)
		}{
			// The response's ARN names the repository too, as AWS's does.
			{"ecr-create-repository-api.json", func(d map[string]any) {
				sub(d, "requestParameters")["repositoryName"] = name
				sub(sub(d, "responseElements"), "repository")["repositoryName"] = name
				sub(sub(d, "responseElements"), "repository")["repositoryArn"] = "arn:aws:ecr:us-east-1:111111111111:repository/" + name
			}},
			{"ecr-create-repository-service.json", func(d map[string]any) {
				sub(d, "serviceEventDetails")["repositoryName"] = name
				sub(d, "serviceEventDetails")["repositoryArn"] = "arn:aws:ecr:us-east-1:222222222222:repository/" + name
			}},
			{"ecr-set-repository-policy.json", func(d map[string]any) {
				sub(d, "requestParameters")["repositoryName"] = name
				sub(d, "responseElements")["repositoryName"] = name
			}},
			{"ecr-delete-repository-policy.json", func(d map[string]any) {
				sub(d, "requestParameters")["repositoryName"] = name
				d["responseElements"] = nil
			}},
			{"ecr-tag-resource.json", func(d map[string]any) {
				sub(d, "requestParameters")["resourceArn"] = "arn:aws:ecr:us-east-1:222222222222:repository/" + name
			}},
		} {
			got, err := Parse(mutate(t, c.sample, func(ev map[string]any) { c.set(detail(ev)) }))
			if err != nil || got.Kind != KindRepository || got.Repository != name {
				t.Errorf("%s naming %q: %+v, %v; want the repository read", c.sample, name, got, err)
			}
		}
		_, err := Parse(mutate(t, "ecr-public-create-repository.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["repositoryName"] = name
			detail(ev)["responseElements"] = nil
		}))
		if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, "not a valid repository name") {
			t.Errorf("ECR Public naming %q: %v; want invalid-field (ECR Public's grammar has no __ or --)", name, err)
		}
	}
}

// FuzzParse checks that no input panics, every failure is a *Rejection, and
// every success names a valid target. Seeds are every file in events/; run
// longer with `go test -fuzz FuzzParse ./shared/trigger`.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if len(files) == 0 {
		f.Fatal("no seed events")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"action":"backfill","targets":{"accounts":["222222222222"]}}`))
	f.Add([]byte(`{"detail-type":"Scheduled Event","source":"aws.events"}`))
	// A membership event whose account cannot be read walks the organization.
	f.Add([]byte(`{"detail-type":"AWS Service Event via CloudTrail","source":"aws.organizations","detail":{"eventSource":"organizations.amazonaws.com","eventName":"AccountDepartedOrganization"}}`))
	// Nested past config.MaxDepth: refused unread, in linear memory.
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.ecr","detail":` + strings.Repeat(`{"a":`, 100) + `{}` + strings.Repeat(`}`, 100) + `}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Parse(raw)
		if err != nil {
			if _, ok := AsRejection(err); !ok {
				t.Fatalf("error is not a *Rejection: %T %v", err, err)
			}
			return
		}
		switch got.Kind {
		case KindBackfill:
			if got.Backfill == nil || got.Backfill.Validate() != nil {
				t.Fatalf("invalid backfill accepted: %+v", got.Backfill)
			}
			return
		case KindRepository, KindPublicRepository:
			if err := checkRepository("repository", got.Repository, got.Kind == KindPublicRepository); err != nil {
				t.Fatal(err)
			}
		case KindRole:
			if err := checkRole("role", got.RoleName); err != nil {
				t.Fatal(err)
			}
		case KindPTCRule:
			if err := checkPrefix("prefix", got.Prefix); err != nil {
				t.Fatal(err)
			}
		case KindAccount, KindAccountMoved, KindAccountDeparted, KindRegistryPolicy:
		case KindOrganization:
			if got.AccountID != "" || got.Unresolved == "" {
				t.Fatalf("organization walk names an account or no reason: %+v", got)
			}
			return
		default:
			t.Fatalf("success with unknown kind %q", got.Kind)
		}
		if err := checkAccountID("account", got.AccountID); err != nil {
			t.Fatalf("accepted target with bad account: %v", err)
		}
		if got.Region != "" {
			if err := checkRegion("region", got.Region); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestServiceEventNameFromRequestParameters(t *testing.T) {
	raw := mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) {
		delete(detail(ev), "serviceEventDetails")
		detail(ev)["requestParameters"] = map[string]any{"repositoryName": "docker-hub/library/redis"}
	})
	got, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Repository != "docker-hub/library/redis" || got.AccountID != "222222222222" || got.Trigger.Service != "ecr.amazonaws.com" {
		t.Fatalf("got %+v", got)
	}
}

// A repository ECR creates itself (create-on-push and replication log it in
// ways AWS has not published) may be logged with its name only where an API
// call's answer carries it: it is read there too, and must agree with every
// other place that names it.
func TestServiceEventNameFromResponseElements(t *testing.T) {
	repo := map[string]any{"repositoryName": "team-a/pushed", "registryId": "222222222222",
		"repositoryArn": "arn:aws:ecr:us-east-1:222222222222:repository/team-a/pushed"}
	raw := mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) {
		delete(detail(ev), "serviceEventDetails")
		detail(ev)["responseElements"] = map[string]any{"repository": repo}
	})
	got, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindRepository || got.Repository != "team-a/pushed" || got.AccountID != "222222222222" {
		t.Fatalf("got %+v", got)
	}
	// Where the service's details name it too, they must agree.
	for name, sed := range map[string]map[string]any{
		"another name":     {"repositoryName": "team-a/other"},
		"another registry": {"repositoryName": "team-a/pushed", "registryId": "333333333333"},
	} {
		raw := mutate(t, "ecr-create-repository-service.json", func(ev map[string]any) {
			detail(ev)["serviceEventDetails"] = sed
			detail(ev)["responseElements"] = map[string]any{"repository": repo}
		})
		if _, err := Parse(raw); err == nil || !strings.Contains(err.Error(), "disagrees") {
			t.Errorf("%s: Parse = %v, want a rejection naming the disagreement", name, err)
		}
	}
}

// An event whose fields name two accounts or two repositories is rejected
// naming both fields, never converged for either; so is an envelope whose
// account or region is not one AWS could have set.
func TestParseInconsistentEvent(t *testing.T) {
	api := "ecr-create-repository-api.json"
	resp := func(ev map[string]any) map[string]any { return sub(sub(detail(ev), "responseElements"), "repository") }
	cases := []struct {
		name   string
		raw    []byte
		detail string
	}{
		{"envelope account differs", mutate(t, api, func(ev map[string]any) { ev["account"] = "222222222222" }),
			`event.account: "222222222222" disagrees with detail.responseElements.repository.registryId "111111111111"`},
		{"recipient differs", mutate(t, api, func(ev map[string]any) { detail(ev)["recipientAccountId"] = "222222222222" }),
			`detail.recipientAccountId: "222222222222" disagrees with detail.responseElements.repository.registryId "111111111111"`},
		// The response's ARN names the registry too, as AWS's does.
		{"registryId differs", mutate(t, api, func(ev map[string]any) {
			resp(ev)["registryId"], resp(ev)["repositoryArn"] = "222222222222", "arn:aws:ecr:us-east-1:222222222222:repository/shared/base"
		}),
			`detail.recipientAccountId: "111111111111" disagrees with detail.responseElements.repository.registryId "222222222222"`},
		{"policy event recipient differs", mutate(t, "ecr-set-repository-policy.json", func(ev map[string]any) { ev["account"] = "333333333333" }),
			`event.account: "333333333333" disagrees with`},
		{"iam recipient differs", mutate(t, "iam-put-role-policy.json", func(ev map[string]any) { ev["account"] = "333333333333" }),
			`event.account: "333333333333" disagrees with detail.recipientAccountId`},
		{"response names another repository", mutate(t, api, func(ev map[string]any) { resp(ev)["repositoryName"] = "other/x" }),
			`detail.responseElements.repository.repositoryName: "other/x" disagrees with detail.requestParameters.repositoryName "shared/base"`},
		{"response name invalid", mutate(t, api, func(ev map[string]any) { resp(ev)["repositoryName"] = "../x" }),
			`detail.responseElements.repository.repositoryName: "../x" is not a valid repository name`},
		// A regional CloudTrail event reaches only the default bus of the
		// region where the call was made: the envelope's region is the
		// record's awsRegion. One that names two regions is forged or corrupt,
		// and either function converging either region's document could be
		// the wrong one.
		{"awsRegion differs from the envelope", mutate(t, api, func(ev map[string]any) { detail(ev)["awsRegion"] = "eu-west-1" }),
			`event.region: "us-east-1" disagrees with detail.awsRegion "eu-west-1"`},
		{"envelope region differs from awsRegion", mutate(t, "ecr-put-registry-policy.json", func(ev map[string]any) { ev["region"] = "eu-west-1" }),
			`event.region: "eu-west-1" disagrees with detail.awsRegion "us-east-1"`},
		{"ECR Public awsRegion differs from the envelope", mutate(t, "ecr-public-set-repository-policy.json", func(ev map[string]any) { ev["region"] = "eu-west-1" }),
			`event.region: "eu-west-1" disagrees with detail.awsRegion "us-east-1"`},
		{"envelope region traversal", mutate(t, api, func(ev map[string]any) { ev["region"] = "../../" }),
			`event.region: "../../" is not a region name`},
		{"envelope account letters", mutate(t, "org-account-joined.json", func(ev map[string]any) { ev["account"] = "99999999999x" }),
			`event.account: "99999999999x" is not a 12-digit account id`},
		// ECR's API is regional: a TagResource call names a repository of its
		// own region and partition, so an ARN of another one is corrupt, and
		// converging the repository of that name in the event's region would
		// miss the one whose tags changed.
		{"tagged ARN of another region", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["resourceArn"] = "arn:aws:ecr:eu-west-1:222222222222:repository/team-a/app"
		}), `detail.requestParameters.resourceArn: region "eu-west-1" disagrees with detail.awsRegion "us-east-1"`},
		{"tagged ARN without a region", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["resourceArn"] = "arn:aws:ecr::222222222222:repository/team-a/app"
		}), `detail.requestParameters.resourceArn: region "" disagrees with detail.awsRegion "us-east-1"`},
		{"tagged ARN of an unknown partition", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["resourceArn"] = "arn:evil:ecr:us-east-1:222222222222:repository/team-a/app"
		}), `detail.requestParameters.resourceArn: partition "evil" is not the partition of region "us-east-1" ("aws")`},
		{"tagged ARN of another partition", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			sub(detail(ev), "requestParameters")["resourceArn"] = "arn:aws-cn:ecr:us-east-1:222222222222:repository/team-a/app"
		}), `detail.requestParameters.resourceArn: partition "aws-cn" is not the partition of region "us-east-1" ("aws")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := Parse(tc.raw)
			r, ok := AsRejection(err)
			if !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("Parse = %+v, %v; want invalid-field containing %q", tg, err, tc.detail)
			}
		})
	}
}

// TestGlobalEventsNameNoRegion: IAM, Organizations and Control Tower events
// concern no regional document (a role, an account), and their targets carry
// no region, so the agreement of detail.awsRegion with the envelope's region
// that a regional ECR event must show is not asked of them: IAM's and
// Organizations' events are logged in us-east-1 and forwarded from there to
// other hub regions' buses, and whether a forward keeps the envelope's region
// is not something the product needs to know.
func TestGlobalEventsNameNoRegion(t *testing.T) {
	for _, name := range []string{"iam-put-role-policy.json", "iam-create-role.json", "org-move-account.json", "org-account-joined.json", "controltower-create-managed-account.json"} {
		t.Run(name, func(t *testing.T) {
			raw := mutate(t, name, func(ev map[string]any) { ev["region"] = "eu-west-1" })
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse = %v; a global event's envelope region decides nothing", err)
			}
			if got.Region != "" || got.Trigger.EventRegion != "eu-west-1" {
				t.Fatalf("target %+v: want no region, the envelope's kept for the audit", got)
			}
		})
	}
}

// TestParseBoundsWhatItKeeps: every string Parse keeps from an event (the
// envelope, the CloudTrail metadata, the actor) reaches the audit record and
// the log line of the decision. A value longer than any AWS sends is refused
// with its path, and neither the rejection's detail nor its trigger carries
// it whole: the record of a rejection must always fit in DynamoDB (400 KB an
// item, 2,048 bytes a key), or the event is retried and never audited.
func TestParseBoundsWhatItKeeps(t *testing.T) {
	api := "ecr-create-repository-api.json"
	huge := strings.Repeat("x", 300000)
	ident := func(ev map[string]any) map[string]any { return sub(detail(ev), "userIdentity") }
	cases := []struct {
		name string
		raw  []byte
		path string // the field the rejection names; "" when the event is still read
	}{
		{"id", mutate(t, api, func(ev map[string]any) { ev["id"] = huge }), "event.id"},
		{"id with control characters", mutate(t, api, func(ev map[string]any) { ev["id"] = "6f87d04b\n\x00" }), "event.id"},
		{"id just over a key", mutate(t, api, func(ev map[string]any) { ev["id"] = strings.Repeat("a", 2048) }), "event.id"},
		{"detail-type", mutate(t, api, func(ev map[string]any) { ev["detail-type"] = huge }), "event.detail-type"},
		{"source", mutate(t, api, func(ev map[string]any) { ev["source"] = huge }), "event.source"},
		{"time", mutate(t, api, func(ev map[string]any) { ev["time"] = huge }), "event.time"},
		{"eventID", mutate(t, api, func(ev map[string]any) { detail(ev)["eventID"] = huge }), "detail.eventID"},
		{"eventSource", mutate(t, api, func(ev map[string]any) { detail(ev)["eventSource"] = huge }), "detail.eventSource"},
		{"eventName", mutate(t, api, func(ev map[string]any) { detail(ev)["eventName"] = huge }), "detail.eventName"},
		{"eventTime", mutate(t, api, func(ev map[string]any) { detail(ev)["eventTime"] = huge }), "detail.eventTime"},
		{"actor arn", mutate(t, api, func(ev map[string]any) { ident(ev)["arn"] = huge }), "detail.userIdentity.arn"},
		{"actor principal", mutate(t, api, func(ev map[string]any) { ident(ev)["principalId"] = huge }), "detail.userIdentity.principalId"},
		{"actor user name", mutate(t, api, func(ev map[string]any) { ident(ev)["userName"] = huge }), "detail.userIdentity.userName"},
		{"session issuer", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			sub(sub(ident(ev), "sessionContext"), "sessionIssuer")["arn"] = huge
		}), "detail.userIdentity.sessionContext.sessionIssuer.arn"},
		{"session issuer user name", mutate(t, "ecr-tag-resource.json", func(ev map[string]any) {
			delete(ident(ev), "userName")
			sub(sub(ident(ev), "sessionContext"), "sessionIssuer")["userName"] = huge
		}), ""},
		// A region passes its pattern at any length: kept whole it made the
		// rejection's target (region-not-configured) and its ARN larger than
		// a DynamoDB key.
		{"awsRegion", mutate(t, api, func(ev map[string]any) { detail(ev)["awsRegion"] = "us-" + huge + "-1" }), "detail.awsRegion"},
		{"envelope region", mutate(t, api, func(ev map[string]any) {
			delete(detail(ev), "awsRegion")
			ev["region"] = "us-" + strings.Repeat("x", 2000) + "-1"
		}), "event.region"},
		{"public awsRegion", mutate(t, "ecr-public-create-repository.json", func(ev map[string]any) { detail(ev)["awsRegion"] = "us-" + huge + "-1" }), "detail.awsRegion"},
		{"errorCode", mutate(t, api, func(ev map[string]any) { detail(ev)["errorCode"] = huge }), "detail.errorCode"},
		{"errorMessage", mutate(t, api, func(ev map[string]any) {
			detail(ev)["errorCode"], detail(ev)["errorMessage"] = "AccessDenied", huge
		}), ""},
		{"schedule source", []byte(`{"detail-type":"Scheduled Event","source":"` + huge + `"}`), "event.source"},
		{"account creation state", mutate(t, "org-create-account-result-succeeded.json", func(ev map[string]any) {
			sub(sub(detail(ev), "serviceEventDetails"), "createAccountStatus")["state"] = huge
		}), ""},
		{"account creation failure reason", mutate(t, "org-create-account-result-failed.json", func(ev map[string]any) {
			sub(sub(detail(ev), "serviceEventDetails"), "createAccountStatus")["failureReason"] = huge
		}), ""},
		{"control tower message", mutate(t, "controltower-create-managed-account.json", func(ev map[string]any) {
			st := sub(sub(detail(ev), "serviceEventDetails"), "createManagedAccountStatus")
			st["state"], st["message"] = "FAILED", huge
		}), ""},
		{"joined method", mutate(t, "org-account-joined.json", func(ev map[string]any) {
			sub(detail(ev), "serviceEventDetails")["joinedMethod"] = huge
		}), ""},
	}
	const maxKept = 4096 // the whole trigger and target as JSON: far below any DynamoDB limit
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			kept := got
			if r, ok := AsRejection(err); ok {
				if len(r.Detail) > 2000 {
					t.Errorf("detail is %d bytes: %.200s...", len(r.Detail), r.Detail)
				}
				if c.path != "" && (r.Reason != ReasonInvalidField || !strings.HasPrefix(r.Detail, c.path+": ")) {
					t.Errorf("rejection %s: %.300q, want invalid-field naming %s", r.Reason, r.Detail, c.path)
				}
				if n := len(r.Error()); n > 4000 {
					t.Errorf("Error() is %d bytes", n)
				}
				kept = r.Target
				kept.Trigger = r.Trigger
			} else if err != nil {
				t.Fatalf("Parse error %T is not a rejection: %v", err, err)
			} else if c.path != "" {
				t.Fatalf("Parse accepted an event with a %d-byte %s: %+v", len(huge), c.path, got)
			}
			b, _ := json.Marshal(kept)
			if len(b) > maxKept {
				t.Errorf("kept %d bytes of the event for the audit trail: %.300s...", len(b), b)
			}
		})
	}
}

// TestParseRejectsDuplicateKeys: encoding/json keeps the last of a key given
// twice, while a rule's pattern (or a reader of the log) may see the first:
// an errorCode followed by "errorCode": null read as a successful call, two
// accounts or repositories read as the last one. AWS never sends a key
// twice, so such an event is refused naming every duplicate, as the backfill
// payload and the declaration are.
func TestParseRejectsDuplicateKeys(t *testing.T) {
	api := string(readEvent(t, "ecr-create-repository-api.json"))
	dup := func(old, new string) []byte {
		t.Helper()
		if !strings.Contains(api, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return []byte(strings.Replace(api, old, new, 1))
	}
	cases := []struct {
		name  string
		raw   []byte
		paths []string
	}{
		{"failed call hidden by a second errorCode", dup(`"eventType": "AwsApiCall",`, `"eventType": "AwsApiCall", "errorCode": "AccessDenied", "errorCode": null,`),
			[]string{"detail.errorCode"}},
		{"second repository name", dup(`"repositoryName": "shared/base",`, `"repositoryName": "other/x", "repositoryName": "shared/base",`),
			[]string{"detail.requestParameters.repositoryName"}},
		{"second envelope account", dup(`"account": "111111111111",`, `"account": "222222222222", "account": "111111111111",`),
			[]string{"event.account"}},
		{"every duplicate named", dup(`"region": "us-east-1",`, `"region": "us-east-1", "region": "us-east-1", "source": "aws.ecr",`),
			[]string{"event.region", "event.source"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.raw)
			r, ok := AsRejection(err)
			if !ok {
				t.Fatalf("Parse = %+v, %v; want a rejection naming %v", got, err, c.paths)
			}
			for _, p := range c.paths {
				if r.Reason != ReasonMalformed || !strings.Contains(r.Detail, p+": appears more than once") {
					t.Errorf("rejection %s: %q, want malformed naming %s", r.Reason, r.Detail, p)
				}
			}
		})
	}

	// Hostile volume: the detail stays short and says how many were left out.
	var b strings.Builder
	b.WriteString(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.ecr","detail":{`)
	for i := 0; i < 5000; i++ {
		b.WriteString(`"k":1,`)
	}
	b.WriteString(`"k":1}}`)
	_, err := Parse([]byte(b.String()))
	r, ok := AsRejection(err)
	if !ok || r.Reason != ReasonMalformed || len(r.Detail) > 2000 || !strings.Contains(r.Detail, "more") {
		t.Fatalf("5000 duplicates: %v", err)
	}
}

// TestPTCPrefixesECRTakesAreRead: an edit event for a rule made by hand
// with any prefix ECR accepts (its API model's grammar: "__", runs of "-",
// "/" between parts and at the end) is read, so it is settled against the
// declaration instead of being recorded as invalid input; what ECR refuses
// stays refused.
func TestPTCPrefixesECRTakesAreRead(t *testing.T) {
	for _, sample := range []string{"ecr-delete-ptc-rule.json", "ecr-update-ptc-rule.json"} {
		for _, prefix := range []string{"ROOT", "my--cache", "base__x", "team/hub/", "ab"} {
			// The response names the rule too, as AWS's does.
			got, err := Parse(mutate(t, sample, func(ev map[string]any) {
				sub(detail(ev), "requestParameters")["ecrRepositoryPrefix"] = prefix
				sub(detail(ev), "responseElements")["ecrRepositoryPrefix"] = prefix
			}))
			if err != nil || got.Kind != KindPTCRule || got.Prefix != prefix {
				t.Errorf("%s with prefix %q: %+v, %v; want the rule read", sample, prefix, got, err)
			}
		}
		for _, prefix := range []string{"a", "Upper", "trailing-", "//", "a//b", "x/" + strings.Repeat("p", 29), "_lead"} {
			_, err := Parse(mutate(t, sample, func(ev map[string]any) { sub(detail(ev), "requestParameters")["ecrRepositoryPrefix"] = prefix }))
			if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, "pull-through-cache prefix") {
				t.Errorf("%s with prefix %q: %v; want invalid-field", sample, prefix, err)
			}
		}
	}
}

// rejectionOf parses raw and returns its rejection, failing the test (with
// what was wanted) when Parse accepts it.
func rejectionOf(t *testing.T, raw []byte, want string) *Rejection {
	t.Helper()
	got, err := Parse(raw)
	r, ok := AsRejection(err)
	if !ok {
		t.Fatalf("Parse = %+v, %v; want a rejection %s", got, err, want)
	}
	return r
}
