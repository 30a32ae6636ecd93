package trigger

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

const eventsDir = "../../events"

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatalf("reading sample event: %v", err)
	}
	return b
}

// want is the part of a Target each sample must decode to. Trigger metadata is
// checked separately for the fields the audit relies on.
type want struct {
	kind                         Kind
	account, region, repo, role  string
	prefix, parent, sourceParent string
	method                       string
	eventName, actorType         string
	actorARN, service            string
	backfill                     *BackfillRequest
}

func TestParseSampleEvents(t *testing.T) {
	cases := map[string]want{
		"ecr-create-repository-api.json": {kind: KindRepository, account: "111111111111", region: "us-east-1", repo: "shared/base",
			eventName: "CreateRepository", actorType: "IAMUser", actorARN: "arn:aws:iam::111111111111:user/platform-admin"},
		"ecr-create-repository-other-region.json": {kind: KindRepository, account: "222222222222", region: "ap-south-1", repo: "team-a/mumbai",
			eventName: "CreateRepository", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/ci-deployer/gitlab-runner-8812"},
		"ecr-create-repository-api-member.json": {kind: KindRepository, account: "222222222222", region: "us-east-1", repo: "team-a/app",
			eventName: "CreateRepository", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/ci-deployer/gitlab-runner-8812"},
		"ecr-create-repository-service.json": {kind: KindRepository, account: "222222222222", region: "us-east-1", repo: "ecr-public/library/nginx",
			eventName: "CreateRepository", actorType: "AWSService", service: "ecr.amazonaws.com"},
		"ecr-public-create-repository.json": {kind: KindPublicRepository, account: "111111111111", region: "us-east-1", repo: "tools/scanner",
			eventName: "CreateRepository", actorType: "AssumedRole", actorARN: "arn:aws:sts::111111111111:assumed-role/release-publisher/release-2025-03-04"},
		"ecr-public-set-repository-policy.json": {kind: KindPublicRepository, account: "111111111111", region: "us-east-1", repo: "tools/scanner",
			eventName: "SetRepositoryPolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::111111111111:user/jane.doe"},
		"org-create-account-result-succeeded.json": {kind: KindAccount, account: "333333333333", method: "Created",
			eventName: "CreateAccountResult", service: "organizations.amazonaws.com"},
		"org-account-joined.json": {kind: KindAccount, account: "333333333333", method: "Invited",
			eventName: "AccountJoinedOrganization", service: "organizations.amazonaws.com"},
		"org-account-departed.json": {kind: KindAccountDeparted, account: "333333333333", method: "Removed",
			eventName: "AccountDepartedOrganization", service: "organizations.amazonaws.com"},
		"org-move-account.json": {kind: KindAccountMoved, account: "333333333333", parent: "ou-ab12-22222222", sourceParent: "ou-ab12-11111111",
			eventName: "MoveAccount", actorType: "AssumedRole", actorARN: "arn:aws:sts::999999999999:assumed-role/OrganizationAdmin/alice@example.com"},
		"org-remove-account.json": {kind: KindAccountDeparted, account: "333333333333", method: "Removed",
			eventName: "RemoveAccountFromOrganization", actorType: "AssumedRole", actorARN: "arn:aws:sts::999999999999:assumed-role/OrganizationAdmin/alice@example.com"},
		"org-close-account.json": {kind: KindAccountDeparted, account: "333333333333", method: "Closed",
			eventName: "CloseAccount", actorType: "AssumedRole", actorARN: "arn:aws:sts::999999999999:assumed-role/OrganizationAdmin/alice@example.com"},
		"controltower-create-managed-account.json": {kind: KindAccount, account: "333333333333", parent: "ou-ab12-22222222", method: "SUCCEEDED",
			eventName: "CreateManagedAccount", service: "controltower.amazonaws.com"},
		"controltower-update-managed-account.json": {kind: KindAccount, account: "333333333333", parent: "ou-ab12-11111111", method: "SUCCEEDED",
			eventName: "UpdateManagedAccount", service: "controltower.amazonaws.com"},
		"ecr-set-repository-policy.json": {kind: KindRepository, account: "111111111111", region: "us-east-1", repo: "shared/base",
			eventName: "SetRepositoryPolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::111111111111:user/jane.doe"},
		"ecr-set-repository-policy-by-warden.json": {kind: KindRepository, account: "222222222222", region: "us-east-1", repo: "team-a/app",
			eventName: "SetRepositoryPolicy", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/ecr-warden-execution/ecr-warden-repository"},
		"ecr-delete-repository-policy.json": {kind: KindRepository, account: "111111111111", region: "us-east-1", repo: "shared/base",
			eventName: "DeleteRepositoryPolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::111111111111:user/jane.doe"},
		"ecr-put-registry-policy.json": {kind: KindRegistryPolicy, account: "222222222222", region: "us-east-1",
			eventName: "PutRegistryPolicy", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com"},
		"ecr-delete-registry-policy.json": {kind: KindRegistryPolicy, account: "222222222222", region: "us-east-1",
			eventName: "DeleteRegistryPolicy", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com"},
		"ecr-delete-ptc-rule.json": {kind: KindPTCRule, account: "222222222222", region: "us-east-1", prefix: "docker-hub",
			eventName: "DeletePullThroughCacheRule", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-update-assume-role-policy.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "UpdateAssumeRolePolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-put-role-policy.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "PutRolePolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-delete-role-policy.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "DeleteRolePolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"ecr-tag-resource.json": {kind: KindRepository, account: "222222222222", region: "us-east-1", repo: "team-a/app",
			eventName: "TagResource", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/ci-deployer/deploy-42"},
		"ecr-untag-resource.json": {kind: KindRepository, account: "222222222222", region: "us-east-1", repo: "team-a/app",
			eventName: "UntagResource", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/ci-deployer/deploy-42"},
		"ecr-update-ptc-rule.json": {kind: KindPTCRule, account: "222222222222", region: "us-east-1", prefix: "docker-hub",
			eventName: "UpdatePullThroughCacheRule", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"ecr-put-account-setting.json": {kind: KindRegistryPolicy, account: "222222222222", region: "us-east-1",
			eventName: "PutAccountSetting", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-delete-role.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "DeleteRole", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-delete-role-permissions-boundary.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "DeleteRolePermissionsBoundary", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-put-role-permissions-boundary.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-ptc",
			eventName: "PutRolePermissionsBoundary", actorType: "IAMUser", actorARN: "arn:aws:iam::222222222222:user/ops-cleanup"},
		"iam-create-role.json": {kind: KindRole, account: "333333333333", role: "security-scanner",
			eventName: "CreateRole", actorType: "IAMUser", actorARN: "arn:aws:iam::333333333333:user/ops-cleanup"},
		"iam-create-role-execution.json": {kind: KindRole, account: "222222222222", role: "ecr-warden-execution",
			eventName: "CreateRole", actorType: "AssumedRole", actorARN: "arn:aws:sts::222222222222:assumed-role/stacksets-exec-3f6a1c0e9b2d4e5f8a7b6c5d4e3f2a1b/AWSCloudFormation"},
		"ecr-public-delete-repository-policy.json": {kind: KindPublicRepository, account: "111111111111", region: "us-east-1", repo: "tools/scanner",
			eventName: "DeleteRepositoryPolicy", actorType: "IAMUser", actorARN: "arn:aws:iam::111111111111:user/jane.doe"},
		"backfill-all-dryrun.json": {kind: KindBackfill,
			backfill: &BackfillRequest{Action: "backfill", Targets: BackfillTargets{All: true}, DryRun: true}},
		"backfill-ou.json": {kind: KindBackfill,
			backfill: &BackfillRequest{Action: "backfill", Targets: BackfillTargets{OUs: []string{"ou-ab12-11111111"}, Regions: []string{"us-east-1"}}}},
		"scheduled-sweep.json": {kind: KindBackfill,
			backfill: &BackfillRequest{Action: "backfill", Targets: BackfillTargets{All: true}, Sweep: true}},
	}
	rejected := map[string]struct {
		reason Reason
		detail string
	}{
		"ecr-create-repository-failed.json":     {ReasonFailedCall, "RepositoryAlreadyExistsException"},
		"unrelated-s3-put-object.json":          {ReasonUnknownSource, `"aws.s3"`},
		"org-create-account-result-failed.json": {ReasonNotSucceeded, "failureReason EMAIL_ALREADY_EXISTS"},
	}

	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events found: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw := readEvent(t, name)
			got, err := Parse(raw)
			if r, ok := rejected[name]; ok {
				rej, isRej := AsRejection(err)
				if !isRej {
					t.Fatalf("Parse: got %v (%+v), want a rejection %s", err, got, r.reason)
				}
				if rej.Reason != r.reason || !strings.Contains(rej.Detail, r.detail) {
					t.Fatalf("rejection = %s: %s; want %s containing %q", rej.Reason, rej.Detail, r.reason, r.detail)
				}
				if rej.Trigger.EventID == "" {
					t.Errorf("rejection lost the event id needed for the audit record")
				}
				return
			}
			w, ok := cases[name]
			if !ok {
				t.Fatalf("events/%s has no expectation in this test: add one", name)
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checks := []struct{ field, got, want string }{
				{"kind", string(got.Kind), string(w.kind)},
				{"account", got.AccountID, w.account},
				{"region", got.Region, w.region},
				{"repository", got.Repository, w.repo},
				{"role", got.RoleName, w.role},
				{"prefix", got.Prefix, w.prefix},
				{"parent", got.ParentID, w.parent},
				{"sourceParent", got.SourceParentID, w.sourceParent},
				{"method", got.Method, w.method},
				{"eventName", got.Trigger.EventName, w.eventName},
				{"actor.type", got.Trigger.Actor.Type, w.actorType},
				{"actor.arn", got.Trigger.Actor.ARN, w.actorARN},
				{"service", got.Trigger.Service, w.service},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if w.backfill != nil {
				if got.Backfill == nil || got.Backfill.String() != w.backfill.String() || got.Backfill.DryRun != w.backfill.DryRun || got.Backfill.Sweep != w.backfill.Sweep {
					t.Errorf("backfill = %+v, want %+v", got.Backfill, w.backfill)
				}
				return
			}
			if got.Trigger.EventID == "" || got.Trigger.CloudTrailEventID == "" || got.Trigger.Time == "" || got.Trigger.EventTime == "" || got.Trigger.DetailType == "" {
				t.Errorf("trigger metadata incomplete: %+v", got.Trigger)
			}
		})
	}
	for name := range cases {
		if _, err := os.Stat(filepath.Join(eventsDir, name)); err != nil {
			t.Errorf("expected sample events/%s is missing", name)
		}
	}
}

func TestTriggerKeepsTimesAsGiven(t *testing.T) {
	got, err := Parse(readEvent(t, "ecr-create-repository-api.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr := got.Trigger
	if tr.Time != "2025-03-04T10:15:42Z" || tr.EventTime != "2025-03-04T10:15:42Z" || tr.EventID != "6f87d04b-9f74-4f04-a780-7acf4b0a9b38" ||
		tr.CloudTrailEventID != "a1f3c9e2-5b7d-4e1a-9c3f-0d2b4e6f8a01" || tr.Source != "aws.ecr" || tr.DetailType != DetailTypeAPICall ||
		tr.Actor.PrincipalID != "AIDAEXAMPLEUSERID0001" || tr.Actor.AccountID != "111111111111" || tr.Actor.UserName != "platform-admin" {
		t.Fatalf("trigger = %+v", tr)
	}
	member, err := Parse(readEvent(t, "ecr-create-repository-api-member.json"))
	if err != nil {
		t.Fatal(err)
	}
	if a := member.Trigger.Actor; a.SessionIssuerARN != "arn:aws:iam::222222222222:role/ci-deployer" || a.UserName != "ci-deployer" {
		t.Fatalf("assumed-role actor = %+v", a)
	}
}

func TestActorIsRole(t *testing.T) {
	own, err := Parse(readEvent(t, "ecr-set-repository-policy-by-warden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !own.Trigger.Actor.IsRole("ecr-warden-execution") {
		t.Errorf("own write not recognised: %+v", own.Trigger.Actor)
	}
	if own.Trigger.Actor.IsRole("ecr-warden", "execution", "") {
		t.Errorf("partial role names must not match")
	}
	sso, err := Parse(readEvent(t, "ecr-put-registry-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !sso.Trigger.Actor.IsRole("AWSReservedSSO_AdministratorAccess_0123456789abcdef") {
		t.Errorf("role with a path not matched through the issuer: %+v", sso.Trigger.Actor)
	}
	cases := []struct {
		name  string
		actor Actor
		roles []string
		want  bool
	}{
		{"issuer only", Actor{SessionIssuerARN: "arn:aws-us-gov:iam::222222222222:role/team/ecr-warden-execution"}, []string{"ecr-warden-execution"}, true},
		{"assumed arn only", Actor{ARN: "arn:aws-cn:sts::222222222222:assumed-role/ecr-warden-execution/s"}, []string{"x", "ecr-warden-execution"}, true},
		{"iam user", Actor{Type: "IAMUser", ARN: "arn:aws:iam::111111111111:user/ecr-warden-execution"}, []string{"ecr-warden-execution"}, false},
		{"other role", Actor{ARN: "arn:aws:sts::111111111111:assumed-role/ci/s"}, []string{"ecr-warden-execution"}, false},
		{"service", Actor{Type: "AWSService", InvokedBy: "ecr.amazonaws.com"}, []string{"ecr-warden-execution"}, false},
		{"malformed arn", Actor{ARN: "arn:aws:sts::1:assumed-role/ecr-warden-execution"}, []string{"ecr-warden-execution"}, false},
		{"no names", Actor{ARN: "arn:aws:sts::1:assumed-role/r/s"}, nil, false},
	}
	for _, c := range cases {
		if got := c.actor.IsRole(c.roles...); got != c.want {
			t.Errorf("%s: IsRole = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCheckRegion(t *testing.T) {
	repo, _ := Parse(readEvent(t, "ecr-create-repository-api.json"))
	if err := repo.CheckRegion([]string{"us-east-1", "eu-west-1"}); err != nil {
		t.Errorf("declared region rejected: %v", err)
	}
	err := repo.CheckRegion([]string{"eu-west-1"})
	if r, ok := AsRejection(err); !ok || r.Reason != ReasonRegionNotConfigured || !strings.Contains(r.Detail, `"us-east-1"`) || r.Trigger.EventID == "" {
		t.Errorf("undeclared region: got %v", err)
	}
	acct, _ := Parse(readEvent(t, "org-account-joined.json"))
	if err := acct.CheckRegion([]string{"eu-west-1"}); err != nil {
		t.Errorf("organization events are not regional: %v", err)
	}
	pub, _ := Parse(readEvent(t, "ecr-public-create-repository.json"))
	if err := pub.CheckRegion([]string{"eu-west-1"}); err != nil {
		t.Errorf("ECR Public is not bound to hub regions: %v", err)
	}
	bf, _ := Parse([]byte(`{"action":"backfill","targets":{"regions":["us-east-1","ap-south-1"]}}`))
	err = bf.CheckRegion([]string{"us-east-1"})
	if r, ok := AsRejection(err); !ok || !strings.Contains(r.Detail, "targets.regions[1]") {
		t.Errorf("backfill region: got %v", err)
	}
}

func TestEventType(t *testing.T) {
	for name, want := range map[string]string{
		"ecr-create-repository-service.json": "AWS Service Event via CloudTrail/CreateRepository",
		"org-move-account.json":              "AWS API Call via CloudTrail/MoveAccount",
		"scheduled-sweep.json":               "sweep",
		"backfill-ou.json":                   "backfill",
	} {
		got, err := Parse(readEvent(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if got.EventType() != want {
			t.Errorf("%s: EventType = %q, want %q", name, got.EventType(), want)
		}
	}
}

// Finding 5: ecr-warden's own writes are recognised by full role ARN and
// account (and, for the member execution role, the session name ecr-warden
// sets), never by role name alone: a member administrator's look-alike role
// or an execution role under a path edits owned statements, and those edits
// must be reverted.
func TestSelfWritersRecognition(t *testing.T) {
	w := SelfWriters{Partition: "aws", HubAccount: "111111111111", MemberRole: "ecr-warden-execution",
		HubRoles: []string{"ecr-warden-drift-us-east-1", "ecr-warden-worker-us-east-1"}}
	session := func(acct, name, sess, issuer string) Actor {
		return Actor{Type: "AssumedRole", ARN: "arn:aws:sts::" + acct + ":assumed-role/" + name + "/" + sess, AccountID: acct, SessionIssuerARN: issuer}
	}
	cases := []struct {
		name    string
		actor   Actor
		account string
		want    bool
	}{
		{"member execution role in the event's account", session("222222222222", "ecr-warden-execution", "ecr-warden-worker", "arn:aws:iam::222222222222:role/ecr-warden-execution"), "222222222222", true},
		{"hub function role in the hub", session("111111111111", "ecr-warden-worker-us-east-1", "ecr-warden-worker-us-east-1", "arn:aws:iam::111111111111:role/ecr-warden-worker-us-east-1"), "111111111111", true},
		{"look-alike hub role name in a member", session("222222222222", "ecr-warden-drift-us-east-1", "x", "arn:aws:iam::222222222222:role/ecr-warden-drift-us-east-1"), "222222222222", false},
		{"execution role under a path", session("222222222222", "ecr-warden-execution", "ecr-warden-worker", "arn:aws:iam::222222222222:role/team/ecr-warden-execution"), "222222222222", false},
		{"execution role session not opened by ecr-warden", session("222222222222", "ecr-warden-execution", "admin-console", "arn:aws:iam::222222222222:role/ecr-warden-execution"), "222222222222", false},
		{"execution role of another account", session("333333333333", "ecr-warden-execution", "ecr-warden-worker", "arn:aws:iam::333333333333:role/ecr-warden-execution"), "222222222222", false},
		{"execution role in the hub", session("111111111111", "ecr-warden-execution", "ecr-warden-worker", "arn:aws:iam::111111111111:role/ecr-warden-execution"), "111111111111", false},
		{"hub role name acting in a member", session("111111111111", "ecr-warden-worker-us-east-1", "s", "arn:aws:iam::111111111111:role/ecr-warden-worker-us-east-1"), "222222222222", false},
		{"no issuer recorded", Actor{ARN: "arn:aws:sts::222222222222:assumed-role/ecr-warden-execution/ecr-warden-worker"}, "222222222222", false},
		{"other partition", session("222222222222", "ecr-warden-execution", "ecr-warden-worker", "arn:aws:iam::222222222222:role/ecr-warden-execution"), "222222222222", true},
	}
	for _, c := range cases {
		if got := w.Recognises(c.actor, c.account); got != c.want {
			t.Errorf("%s: Recognises = %v, want %v", c.name, got, c.want)
		}
	}
	if (SelfWriters{Partition: "aws-cn", HubAccount: "111111111111", MemberRole: "ecr-warden-execution"}).Recognises(cases[0].actor, "222222222222") {
		t.Error("an aws-partition session recognised by an aws-cn installation")
	}
	// The old name-only check took both look-alikes for ecr-warden.
	if !cases[2].actor.IsRole(w.HubRoles...) || !cases[3].actor.IsRole(w.MemberRole) {
		t.Error("IsRole no longer matches by name (the test's premise)")
	}
}

// Finding 6: an Organizations or Control Tower event whose envelope account
// is not the management account is rejected naming both accounts.
func TestCheckOriginManagementOnly(t *testing.T) {
	for _, name := range []string{"org-account-joined.json", "controltower-create-managed-account.json"} {
		ok, err := Parse(readEvent(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := ok.CheckOrigin("999999999999"); err != nil {
			t.Errorf("%s from the management account: %v", name, err)
		}
		err = ok.CheckOrigin("888888888888")
		rej, isRej := AsRejection(err)
		if !isRej || rej.Reason != ReasonInvalidField || !strings.Contains(rej.Detail, "999999999999") || !strings.Contains(rej.Detail, "888888888888") {
			t.Errorf("%s from another account: %v", name, err)
		}
	}
	repo, _ := Parse(readEvent(t, "ecr-create-repository-api.json"))
	if err := repo.CheckOrigin("999999999999"); err != nil {
		t.Errorf("an ECR event is not an organization event: %v", err)
	}
}

// A forged origin is named beside the event's other problems, not only once
// they are fixed: WithOrigin adds it to the parse's rejection.
func TestWithOriginNamesAForgedOriginBesideOtherProblems(t *testing.T) {
	raw := mutate(t, "org-account-joined.json", func(ev map[string]any) {
		// The record and the envelope agree (a detail.recipientAccountId
		// other than the envelope's account is a problem of its own).
		ev["account"], ev["detail"].(map[string]any)["recipientAccountId"] = "888888888888", "888888888888"
		ev["detail"].(map[string]any)["eventVersion"] = 5
	})
	tg, err := Parse(raw)
	if err == nil {
		t.Fatal("a numeric eventVersion was accepted (the test's premise)")
	}
	rej, ok := AsRejection(WithOrigin(tg, err, "999999999999"))
	if !ok {
		t.Fatalf("not a rejection: %v", err)
	}
	for _, want := range []string{"detail.eventVersion", `from account "888888888888"`} {
		if !strings.Contains(rej.Detail, want) {
			t.Errorf("the rejection does not name %q: %s", want, rej.Detail)
		}
	}
	// Named once, however often it is merged; a clean event from the
	// management account passes; a parse error stays the parse's.
	again, _ := AsRejection(WithOrigin(tg, rej, "999999999999"))
	if strings.Count(again.Detail, "888888888888") != 1 {
		t.Errorf("the origin named twice: %s", again.Detail)
	}
	ok0, err := Parse(readEvent(t, "org-account-joined.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WithOrigin(ok0, nil, "999999999999"); err != nil {
		t.Errorf("a clean event from the management account: %v", err)
	}
	if rej, _ := AsRejection(WithOrigin(ok0, nil, "888888888888")); rej == nil || !strings.Contains(rej.Detail, "888888888888") {
		t.Errorf("a clean event from another account: %v", rej)
	}
}
