package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// hubARN and memberARN are the private repository ARNs in this world.
func hubARN(name string) string { return policy.RepositoryARN("aws", region, hubAccount, name) }

func (w *world) memberARN(name string) string {
	return policy.RepositoryARN("aws", region, w.member, name)
}

// A repository created by an API call in the hub gets the declared policy,
// and nothing but the repository policy is written (the registry-placement
// grant is not this function's business).
func TestHubRepositoryGetsDeclaredPolicy(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	inst := w.start(nil)

	r := w.mustInvoke(inst, w.event("ecr-create-repository-api.json"))
	if r.Changed != 1 || r.Rejected != "" {
		t.Fatalf("response %+v, want one change", r)
	}
	goldenFile(t, "repository-policy.shared-base.json", w.policy(hubAccount, "shared/base"))
	if n := proxy.Count("ecr", "SetRepositoryPolicy"); n != 1 {
		t.Errorf("SetRepositoryPolicy calls = %d, want 1", n)
	}
	if n := awsWrites(); n != 1 {
		t.Errorf("AWS writes = %d, want 1 (only the repository policy): %v", n, proxy.Counts())
	}
	recs := w.history(hubARN("shared/base"))
	if got := decisions(recs); got != "applied" {
		t.Fatalf("audit decisions = %s, want applied", got)
	}
	rec := recs[0]
	if rec.Op != "create" || rec.Actor.ARN != "arn:aws:iam::"+hubAccount+":user/platform-admin" ||
		rec.Trigger.EventID != "6f87d04b-9f74-4f04-a780-7acf4b0a9b38" || rec.Trigger.EventType != "AWS API Call via CloudTrail/CreateRepository" || rec.After == "" || rec.Diff == "" {
		t.Errorf("audit record lacks intent, trigger or actor: %+v", rec)
	}
}

// Repositories in a member, created by an API call (tagged, so the tag grant
// adds a push statement) and by ECR itself (pull-through cache, a service
// event), get their declared policies through the member role.
func TestMemberRepositoriesGetDeclaredPolicy(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(w.member, "team-a/app", map[string]string{"share": "org"})
	w.createRepository(w.member, "ecr-public/library/nginx", nil)
	inst := w.start(nil)

	w.mustInvoke(inst, w.event("ecr-create-repository-api-member.json"))
	goldenFile(t, "repository-policy.team-a-app.json", w.policy(w.member, "team-a/app"))
	w.mustInvoke(inst, w.event("ecr-create-repository-service.json"))
	goldenFile(t, "repository-policy.ecr-public-library-nginx.json", w.policy(w.member, "ecr-public/library/nginx"))

	if got := proxy.CountsByAccount()[w.member]["SetRepositoryPolicy"]; got != 2 {
		t.Errorf("SetRepositoryPolicy in the member = %d, want 2: %v", got, proxy.CountsByAccount())
	}
	if got := proxy.Count("sts", "AssumeRole"); got != 1 {
		t.Errorf("AssumeRole calls = %d, want 1 (credentials cached across invokes)", got)
	}
	for _, arn := range []string{w.memberARN("team-a/app"), w.memberARN("ecr-public/library/nginx")} {
		if got := decisions(w.history(arn)); got != "applied" {
			t.Errorf("%s: audit decisions = %s, want applied", arn, got)
		}
	}
}

// A foreign statement (one without the Sid prefix) survives byte for byte,
// and the owned statements are added beside it.
func TestForeignStatementKept(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	const foreign = `{"Sid":"TeamLambdaPull","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}}}`
	w.setPolicy(hubAccount, "shared/base", `{"Version":"2012-10-17","Statement":[`+foreign+`]}`)
	inst := w.start(nil)

	w.mustInvoke(inst, w.event("ecr-create-repository-api.json"))
	got := w.policy(hubAccount, "shared/base")
	if s := statementJSON(t, got, "TeamLambdaPull"); s != foreign {
		t.Errorf("foreign statement changed:\ngot  %s\nwant %s", s, foreign)
	}
	doc, err := policy.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	owned, _ := policy.Split(doc, sidPrefix)
	wantDoc, err := policy.Parse(readGolden(t, "repository-policy.shared-base.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := wantDoc.Statements; len(owned) != len(want) {
		t.Errorf("owned statements = %d, want %d (the declared ones)", len(owned), len(want))
	}
	if got := decisions(w.history(hubARN("shared/base"))); got != "applied" {
		t.Errorf("audit decisions = %s, want applied", got)
	}
}

// The same event delivered twice writes nothing the second time and leaves
// a noop record.
func TestDuplicateDeliveryWritesNothing(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(w.member, "team-a/app", map[string]string{"share": "org"})
	inst := w.start(nil)
	event := w.event("ecr-create-repository-api-member.json")

	w.mustInvoke(inst, event)
	before := w.policy(w.member, "team-a/app")
	proxy.Reset()
	r := w.mustInvoke(inst, event)
	if r.Unchanged != 1 || r.Changed != 0 {
		t.Errorf("second delivery: %+v, want unchanged", r)
	}
	if n := awsWrites(); n != 0 {
		t.Errorf("second delivery made %d AWS writes, want 0: %v", n, proxy.Counts())
	}
	if after := w.policy(w.member, "team-a/app"); after != before {
		t.Errorf("policy text changed on re-delivery:\n%s\n%s", before, after)
	}
	if got := decisions(w.history(w.memberARN("team-a/app"))); got != "applied,noop" {
		t.Errorf("audit decisions = %s, want applied,noop", got)
	}
}

// ECR names repositories with the OCI grammar: "__" or a run of "-" may
// separate letters and digits ("shared/base__debug", "shared/my--app").
// Their CreateRepository events are read and the repositories get their
// declared policy, once, with its audit record. Before, the parser checked
// names with ECR's older grammar and rejected these events as invalid-field,
// so such a repository had no policy until the next sweep.
func TestOCINamedRepositoriesGetTheirPolicy(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	inst := w.start(nil)
	for _, name := range []string{"shared/base__debug", "shared/my--app"} {
		w.createRepository(hubAccount, name, nil)
		proxy.Reset()
		r := w.mustInvoke(inst, w.event("ecr-create-repository-api.json", "shared/base", name))
		if r.Changed != 1 || r.Rejected != "" {
			t.Fatalf("%s: response %+v, want one change", name, r)
		}
		goldenFile(t, "repository-policy.shared-base.json", w.policy(hubAccount, name))
		if n := awsWrites(); n != 1 {
			t.Errorf("%s: AWS writes = %d, want 1: %v", name, n, proxy.Counts())
		}
		if got := decisions(w.history(hubARN(name))); got != "applied" {
			t.Errorf("%s: audit decisions = %s, want applied", name, got)
		}
	}
}

// Every event the function cannot act upon makes no AWS write, returns
// success (so Lambda does not retry it) and leaves an audit record saying
// why.
func TestRejectedEvents(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	w.createRepository(hubAccount, "other/thing", nil)
	inst := w.start(nil)

	unconfigured := strings.ReplaceAll(string(w.event("ecr-create-repository-api.json")), "us-east-1", "eu-west-1")
	for _, tc := range []struct {
		name     string
		event    []byte
		reason   trigger.Reason
		arn      string
		decision audit.Decision
	}{
		{"failed call", w.event("ecr-create-repository-failed.json"), trigger.ReasonFailedCall, hubARN("shared/base"), audit.DecisionRejected},
		{"unrelated source", w.event("unrelated-s3-put-object.json"), trigger.ReasonUnknownSource, "", audit.DecisionRejected},
		{"malformed JSON", []byte(`{"version":"0","id":"truncated`), trigger.ReasonMalformed, "", audit.DecisionRejected},
		{"wrong type", []byte(`["not","an","event"]`), trigger.ReasonMalformed, "", audit.DecisionRejected},
		{"unconfigured region", []byte(unconfigured), trigger.ReasonRegionNotConfigured, policy.RepositoryARN("aws", "eu-west-1", hubAccount, "shared/base"), audit.DecisionRejected},
		{"another function's event", w.event("org-move-account.json"), trigger.ReasonUnknownEvent, "", audit.DecisionRejected},
		// Kept whole, these values made the rejection's record larger than
		// DynamoDB stores (an item, a key): the invocation failed and the
		// event was retried, never audited.
		{"enormous source", w.event("unrelated-s3-put-object.json", `"source": "aws.s3"`, `"source": "`+strings.Repeat("s", 300000)+`"`),
			trigger.ReasonInvalidField, "", audit.DecisionRejected},
		{"enormous id", w.event("unrelated-s3-put-object.json", `"id": "`, `"id": "`+strings.Repeat("i", 3000)),
			trigger.ReasonInvalidField, "", audit.DecisionRejected},
		{"enormous region", w.event("ecr-create-repository-api.json", `"awsRegion": "us-east-1"`, `"awsRegion": "us-`+strings.Repeat("r", 300000)+`-1"`),
			trigger.ReasonInvalidField, "", audit.DecisionRejected},
		// Whether these calls succeeded cannot be told (CloudTrail sets
		// errorCode on a failure only): before, each was converged as a
		// success and shared/base's policy written.
		{"failed call whose errorCode is null", w.event("ecr-create-repository-failed.json", `"RepositoryAlreadyExistsException"`, `null`),
			trigger.ReasonInvalidField, "", audit.DecisionRejected},
		{"errorMessage without errorCode", w.event("ecr-create-repository-failed.json", `"errorCode": "RepositoryAlreadyExistsException",`, ``),
			trigger.ReasonInvalidField, "", audit.DecisionRejected},
		{"no grant matches", w.event("ecr-create-repository-api.json", "shared/base", "other/thing"), "", hubARN("other/thing"), audit.DecisionNoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{t: t, ctx: w.ctx, member: w.member, trail: w.trail}
			proxy.Reset()
			r := w.mustInvoke(inst, tc.event)
			if trigger.Reason(r.Rejected) != tc.reason {
				t.Errorf("rejected = %q (%s), want %q", r.Rejected, r.Detail, tc.reason)
			}
			if tc.arn != "" && r.Target != tc.arn {
				t.Errorf("target = %q, want %q", r.Target, tc.arn)
			}
			if n := awsWrites(); n != 0 {
				t.Errorf("%d AWS writes, want 0: %v", n, proxy.Counts())
			}
			arn := tc.arn
			if arn == "" {
				arn = r.Target
				if !strings.HasPrefix(arn, "event/") {
					t.Errorf("target = %q, want a synthetic event/<id>", arn)
				}
			}
			recs := w.history(arn)
			if len(recs) == 0 {
				t.Fatalf("no audit record for %s", arn)
			}
			last := recs[len(recs)-1]
			if last.Decision != tc.decision {
				t.Errorf("audit decision = %s, want %s", last.Decision, tc.decision)
			}
			if tc.reason != "" && !strings.Contains(last.Error, string(tc.reason)) {
				t.Errorf("audit error %q does not name the reason %s", last.Error, tc.reason)
			}
		})
	}
	if p := w.policy(hubAccount, "other/thing"); p != "" {
		t.Errorf("a repository no grant matches got a policy: %s", p)
	}
}

// ECR creates repositories asynchronously: a RepositoryNotFoundException on
// the first reads is waited out and the policy converges in one invocation.
func TestRepositoryNotFoundRetried(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	inst := w.start(nil)
	notFound := func(times int) localaws.Fault {
		return localaws.APIError(http.StatusBadRequest, "RepositoryNotFoundException",
			"The repository with name 'shared/base' does not exist in the registry with id '"+hubAccount+"'", times)
	}
	proxy.Inject("ecr:ListTagsForResource", notFound(2))
	proxy.Inject("ecr:GetRepositoryPolicy", notFound(1))

	r := w.mustInvoke(inst, w.event("ecr-create-repository-api.json"))
	if r.Changed != 1 {
		t.Fatalf("response %+v, want one change", r)
	}
	goldenFile(t, "repository-policy.shared-base.json", w.policy(hubAccount, "shared/base"))
	if got := proxy.Count("ecr", "ListTagsForResource"); got != 3 {
		t.Errorf("ListTagsForResource calls = %d, want 3 (two not found, then found)", got)
	}
	if got := decisions(w.history(hubARN("shared/base"))); got != "applied" {
		t.Errorf("audit decisions = %s, want applied", got)
	}
}

// Throttling and 5xx on the write, beyond the SDK's attempts, fail the
// invocation with nothing half-written; Lambda's retry converges with
// exactly one applied record.
func TestWriteFaultsFailThenConverge(t *testing.T) {
	localaws.Need(t)
	for _, tc := range []struct {
		name  string
		fault localaws.Fault
	}{
		{"throttling", localaws.Throttling(2)},
		{"HTTP 500", localaws.ServerError(http.StatusInternalServerError, 2)},
		{"HTTP 503", localaws.ServerError(http.StatusServiceUnavailable, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.createRepository(hubAccount, "shared/base", nil)
			inst := w.start(map[string]string{"AWS_MAX_ATTEMPTS": "2"})
			event := w.event("ecr-create-repository-api.json")
			proxy.Inject("ecr:SetRepositoryPolicy", tc.fault)

			if _, ferr := w.invoke(inst, event); ferr == nil {
				t.Fatal("invocation succeeded, want it to fail so Lambda retries")
			} else if !strings.Contains(ferr.Message, "setting repository policy") {
				t.Errorf("error %q does not name the failed operation", ferr.Message)
			}
			if got := proxy.Count("ecr", "SetRepositoryPolicy"); got != 2 {
				t.Errorf("SetRepositoryPolicy attempts = %d, want 2 (AWS_MAX_ATTEMPTS)", got)
			}
			if p := w.policy(hubAccount, "shared/base"); p != "" {
				t.Errorf("half-written state: policy %s after a failed write", p)
			}
			if got := decisions(w.history(hubARN("shared/base"))); got != "failed" {
				t.Errorf("audit decisions after the failure = %s, want failed", got)
			}

			r := w.mustInvoke(inst, event) // Lambda's retry
			if r.Changed != 1 {
				t.Errorf("retry: %+v, want one change", r)
			}
			goldenFile(t, "repository-policy.shared-base.json", w.policy(hubAccount, "shared/base"))
			recs := w.history(hubARN("shared/base"))
			if got := decisions(recs); got != "failed,applied" {
				t.Errorf("audit decisions = %s, want failed,applied", got)
			}
		})
	}
}

// The write lands but the connection drops before the answer (the network
// fails after AWS acted). The call has no definite answer, so the writer reads
// the policy again: AWS holds what it wrote, so the record is applied (noting
// the dropped connection) and the invocation succeeds. This test expected
// "failed,noop" before: a failed record for a policy AWS held, which the
// re-delivery's noop never corrected. The re-delivery still writes nothing.
func TestCrashAfterWriteDoesNotWriteTwice(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(hubAccount, "shared/base", nil)
	inst := w.start(map[string]string{"AWS_MAX_ATTEMPTS": "1"})
	event := w.event("ecr-create-repository-api.json")
	proxy.Inject("ecr:SetRepositoryPolicy", localaws.CrashAfter(1))

	if r := w.mustInvoke(inst, event); r.Changed != 1 {
		t.Errorf("first delivery: %+v, want the write counted as changed (AWS holds it)", r)
	}
	goldenFile(t, "repository-policy.shared-base.json", w.policy(hubAccount, "shared/base"))
	if n := proxy.Count("ecr", "GetRepositoryPolicy"); n != 3 {
		t.Errorf("GetRepositoryPolicy calls = %d, want 3 (the read, the re-read under the lease, the read after the dropped answer)", n)
	}

	proxy.Reset()
	r := w.mustInvoke(inst, event)
	if r.Unchanged != 1 {
		t.Errorf("re-delivery: %+v, want unchanged", r)
	}
	if n := proxy.Count("ecr", "SetRepositoryPolicy"); n != 0 {
		t.Errorf("re-delivery wrote the policy again (%d calls)", n)
	}
	recs := w.history(hubARN("shared/base"))
	if got := decisions(recs); got != "applied,noop" {
		t.Errorf("audit decisions = %s, want applied,noop", got)
	}
	if len(recs) > 0 && !strings.Contains(recs[0].Error, "no definite answer") {
		t.Errorf("applied record's note %q does not say the call got no definite answer", recs[0].Error)
	}
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Errors that retrying cannot fix (access denied, a member whose execution
// role is missing, a write AWS calls invalid) are recorded and the invocation
// succeeds, so Lambda does not deliver the same failure twice more. A write
// AWS refuses for the document it carries is refused by the engine itself:
// its write's record is settled refused with AWS's answer.
func TestPermanentErrorsRecordedNotRetried(t *testing.T) {
	localaws.Need(t)
	// The member's case is AWS's own refusal: the member's execution role is
	// deleted, and the local AWS, like AWS, refuses sts:AssumeRole into it;
	// the other cases inject the error AWS answers (code) on op.
	for _, tc := range []struct {
		name      string
		member    bool
		op        string
		fault     localaws.Fault
		code      string
		decisions string
	}{
		{"access denied on a read", false, "ecr:ListTagsForResource",
			localaws.APIError(http.StatusBadRequest, "AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/ecr-warden-repository/x is not authorized to perform: ecr:ListTagsForResource", 1), "AccessDeniedException", "refused"},
		{"member without the execution role", true, "", localaws.Fault{}, "AccessDenied", "refused"},
		{"write rejected as invalid", false, "ecr:SetRepositoryPolicy",
			localaws.APIError(http.StatusBadRequest, "InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to 10240'", 1), "InvalidParameterException", "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			account, name, event := hubAccount, "shared/base", w.event("ecr-create-repository-api.json")
			if tc.member {
				account, name, event = w.member, "team-a/app", w.event("ecr-create-repository-api-member.json")
			}
			arn := policy.RepositoryARN("aws", region, account, name)
			w.createRepository(account, name, nil)
			inst := w.start(nil)
			if tc.op != "" {
				proxy.Inject(tc.op, tc.fault)
			} else {
				w.deleteMemberRole()
			}

			r := w.mustInvoke(inst, event)
			switch {
			case tc.decisions == "refused" && tc.op == "ecr:SetRepositoryPolicy":
				if r.Refused != 1 || r.Failed != 0 || !strings.Contains(strings.Join(r.Errors, "\n"), tc.code) {
					t.Errorf("response %+v, want one refusal naming %s", r, tc.code)
				}
			case r.Failed != 1 || !strings.Contains(r.Detail, tc.code):
				t.Errorf("response %+v, want one failure naming %s", r, tc.code)
			}
			if n := awsWrites(); n > 1 {
				t.Errorf("%d AWS writes, want at most the one rejected", n)
			}
			recs := w.history(arn)
			if got := decisions(recs); got != tc.decisions {
				t.Fatalf("audit decisions = %s, want %s", got, tc.decisions)
			}
			if !strings.Contains(recs[0].Error, tc.code) {
				t.Errorf("audit error %q does not name %s", recs[0].Error, tc.code)
			}
			// STS's refusal names the role it refused, in the member, and the
			// record says what to do about it (the member StackSet, make doctor),
			// as an account event's and a backfill unit's do.
			if role := "role/" + memberRole; tc.member && !strings.Contains(recs[0].Error, "sts:AssumeRole on resource: arn:aws:iam::"+w.member+":"+role) {
				t.Errorf("audit error %q does not name the refused AssumeRole into %s in %s", recs[0].Error, role, w.member)
			}
			if unassumable := "the execution role " + memberRole + " cannot be assumed in account " + w.member; tc.member &&
				(!strings.Contains(recs[0].Error, unassumable) || !strings.Contains(recs[0].Error, "EcrWarden-Members") || !strings.Contains(recs[0].Error, "make doctor")) {
				t.Errorf("audit error %q: want %q, the member StackSet EcrWarden-Members and make doctor", recs[0].Error, unassumable)
			}
		})
	}
}

// Two deliveries of the same event running at once in two execution
// environments write the policy once: the second re-plans under the lease.
func TestConcurrentDeliveriesWriteOnce(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(w.member, "team-a/app", map[string]string{"share": "org"})
	pool, err := lambdalocal.NewPool(w.ctx, w.function(nil), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	event := w.event("ecr-create-repository-api-member.json")

	var wg sync.WaitGroup
	errs := make(chan error, pool.Size())
	for range pool.Size() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := pool.Invoke(w.ctx, event)
			if err == nil && res.Err != nil {
				err = res.Err
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.Count("ecr", "SetRepositoryPolicy"); n != 1 {
		t.Errorf("SetRepositoryPolicy calls = %d, want 1", n)
	}
	goldenFile(t, "repository-policy.team-a-app.json", w.policy(w.member, "team-a/app"))
	if got := decisions(w.history(w.memberARN("team-a/app"))); got != "applied,noop,noop,noop" {
		t.Errorf("audit decisions = %s, want applied,noop,noop,noop", got)
	}
}

// TestTagResourceReconvergesTagGrant: a tag added to a member repository by
// TagResource reaches the repository function (the route table sends it
// there) and the real binary re-converges the repository, so the tag-based
// grant appears at once instead of at the next sweep; UntagResource takes it
// away again.
func TestTagResourceReconvergesTagGrant(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createRepository(w.member, "team-a/app", nil)
	inst := w.start(nil)
	w.mustInvoke(inst, w.event("ecr-create-repository-api-member.json"))
	before := w.policy(w.member, "team-a/app")
	if strings.Contains(before, "EcrWardenTaggedCiPush") {
		t.Fatalf("untagged repository already has the tag grant:\n%s", before)
	}
	arn := w.memberARN("team-a/app")
	if _, err := w.ecr(w.member).TagResource(w.ctx, &ecr.TagResourceInput{ResourceArn: aws.String(arn),
		Tags: []ecrtypes.Tag{{Key: aws.String("share"), Value: aws.String("org")}}}); err != nil {
		t.Fatal(err)
	}
	r := w.mustInvoke(inst, w.event("ecr-tag-resource.json"))
	if r.Target != arn || r.Changed != 1 {
		t.Errorf("TagResource: response %+v, want one change on %s", r, arn)
	}
	goldenFile(t, "repository-policy.team-a-app.json", w.policy(w.member, "team-a/app"))

	if _, err := w.ecr(w.member).UntagResource(w.ctx, &ecr.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"share"}}); err != nil {
		t.Fatal(err)
	}
	w.mustInvoke(inst, w.event("ecr-untag-resource.json"))
	if got := w.policy(w.member, "team-a/app"); got != before {
		t.Errorf("after UntagResource the policy is\n%s\nwant it as before the tag:\n%s", got, before)
	}
}
