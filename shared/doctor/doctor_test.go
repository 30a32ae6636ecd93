package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/controltower"
	ctdocument "github.com/aws/aws-sdk-go-v2/service/controltower/document"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

var srv *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &srv) }

const (
	region     = "us-east-1"
	execRole   = "ecr-warden-execution"
	readerRole = "OrganizationAccountAccessRole" // moto's CreateAccount makes it in every member
	trailName  = "organization-trail"
)

// world is the demo-shaped organization: the management account (moto's
// default) holds the organization; hub, team-a and security are members.
type world struct {
	ctx                  context.Context
	mgmt                 aws.Config
	hub, teamA, security string
	decl                 *config.Declaration
}

func (w *world) in(account string) aws.Config {
	cfg, err := localaws.AccountConfig(w.ctx, w.mgmt, account, readerRole)
	if err != nil {
		panic(err)
	}
	return cfg
}

// newWorld builds the organization with every prerequisite in place.
func newWorld(t *testing.T) *world {
	t.Helper()
	localaws.Need(t)
	ctx := context.Background()
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	w := &world{ctx: ctx, mgmt: srv.Config(region)}
	org := organizations.NewFromConfig(w.mgmt)
	o, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		name string
		dst  *string
	}{{"hub", &w.hub}, {"team-a", &w.teamA}, {"security", &w.security}} {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(a.name), Email: aws.String(a.name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		*a.dst = aws.ToString(out.CreateAccountStatus.AccountId)
	}
	text := fmt.Sprintf(`{
  "hub": {"accountId": %q, "regions": ["us-east-1"], "partition": "aws", "organizationId": %q, "managementAccountId": %q},
  "memberRoleName": %q,
  "grants": [{"name": "security-scan", "repositories": ["*"], "access": "pull",
    "principals": {"roles": ["arn:aws:iam::%s:role/security-scanner"]}, "placement": "registry", "registries": {"hub": true, "allMembers": true}}],
  "pullThroughCache": {"members": {"all": true}, "role": {"name": "ecr-warden-ptc"},
    "rules": [{"prefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io", "credentialSecret": "ecr-pullthroughcache/docker-hub"}],
    "statementPrincipals": {"accountRoot": true, "roleNames": ["ecr-pull-through-cache-user"]}}
}`, w.hub, aws.ToString(o.Organization.Id), aws.ToString(o.Organization.MasterAccountId), execRole, w.security)
	if w.decl, err = config.Parse([]byte(text)); err != nil {
		t.Fatal(err)
	}
	// The member StackSet's execution role, the declared roles and secrets.
	for _, m := range []string{w.teamA, w.security} {
		if err := localaws.CreateRole(ctx, w.in(m), execRole); err != nil {
			t.Fatal(err)
		}
	}
	known := func(string) bool { return true }
	err = localaws.SeedPrerequisites(ctx, w.decl, []string{w.teamA, w.security}, known, func(account, r string) (aws.Config, error) {
		cfg := w.in(account)
		cfg.Region = r
		return cfg, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The organization trail (its bucket first) and StackSets trusted access.
	w.createBucket(t, "org-trail-logs")
	ct := cloudtrail.NewFromConfig(w.mgmt)
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(trailName), S3BucketName: aws.String("org-trail-logs"),
		IsMultiRegionTrail: aws.Bool(true), IsOrganizationTrail: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(trailName)}); err != nil {
		t.Fatal(err)
	}
	if _, err := org.EnableAWSServiceAccess(ctx, &organizations.EnableAWSServiceAccessInput{ServicePrincipal: aws.String(StackSetsPrincipal)}); err != nil {
		t.Fatal(err)
	}
	return w
}

// createBucket makes an S3 bucket with one signed request (the project
// has no S3 client; CloudTrail only needs the bucket to exist).
func (w *world) createBucket(t *testing.T, name string) {
	t.Helper()
	localaws.Need(t)
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodPut, srv.URL+"/"+name, nil)
	sum := sha256.Sum256(nil)
	creds, _ := w.mgmt.Credentials.Retrieve(w.ctx)
	if err := v4.NewSigner().SignHTTP(w.ctx, creds, req, hex.EncodeToString(sum[:]), "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("creating bucket %s: HTTP %d", name, resp.StatusCode)
	}
}

// useControlTower enables Control Tower's trusted access and creates its
// landing zone in home, as setting up Control Tower does.
func (w *world) useControlTower(t *testing.T, home string) {
	t.Helper()
	if _, err := organizations.NewFromConfig(w.mgmt).EnableAWSServiceAccess(w.ctx, &organizations.EnableAWSServiceAccessInput{ServicePrincipal: aws.String(ControlTowerPrincipal)}); err != nil {
		t.Fatal(err)
	}
	cfg := w.mgmt.Copy()
	cfg.Region = home
	if _, err := controltower.NewFromConfig(cfg).CreateLandingZone(w.ctx, &controltower.CreateLandingZoneInput{Version: aws.String("3.3"),
		Manifest: ctdocument.NewLazyDocument(map[string]any{"governedRegions": []string{home}})}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) run(delegated string) []Result { return w.runWith(delegated, "") }

func (w *world) runWith(delegated, ctHome string) []Result {
	return Run(w.ctx, Options{Decl: w.decl, Management: w.mgmt, DelegatedAdmin: delegated, ControlTowerHomeRegion: ctHome,
		Account: func(_ context.Context, account, r string) (aws.Config, error) {
			if account == "123456789012" {
				return srv.Config(r), nil
			}
			cfg, err := localaws.AccountConfig(w.ctx, srv.Config(r), account, readerRole)
			return cfg, err
		}})
}

func failing(results []Result) []string {
	var out []string
	for _, r := range results {
		if !r.OK {
			out = append(out, r.Check)
		}
	}
	return out
}

// TestDoctor: on the demo-shaped organization with every prerequisite in
// place every check passes (Control Tower not in use: said so, and passed);
// removing each prerequisite in turn fails exactly its check, with a fix.
func TestDoctor(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	res := w.run("")
	var b strings.Builder
	if !Print(&b, res) || len(res) != 8 {
		t.Fatalf("want 8 passing checks on the complete organization:\n%s", b.String())
	}
	if r := res[2]; r.Check != CheckCTHome || !strings.Contains(r.Detail, "not in use") {
		t.Errorf("without Control Tower the home-region check passes saying so: %+v", r)
	}
	t.Logf("complete organization:\n%s", b.String())

	for _, c := range []struct {
		check     string
		delegated bool
		remove    func(t *testing.T, w *world)
	}{
		{CheckTrail, false, func(t *testing.T, w *world) {
			if _, err := cloudtrail.NewFromConfig(w.mgmt).StopLogging(w.ctx, &cloudtrail.StopLoggingInput{Name: aws.String(trailName)}); err != nil {
				t.Fatal(err)
			}
		}},
		{CheckStackSets, false, func(t *testing.T, w *world) {
			if _, err := organizations.NewFromConfig(w.mgmt).DisableAWSServiceAccess(w.ctx, &organizations.DisableAWSServiceAccessInput{ServicePrincipal: aws.String(StackSetsPrincipal)}); err != nil {
				t.Fatal(err)
			}
		}},
		{CheckDelegated, true, func(t *testing.T, w *world) {}}, // the hub is not registered (TestDoctorDelegatedAdmin passes it)
		{CheckScope, false, func(t *testing.T, w *world) {
			if _, err := ecr.NewFromConfig(w.in(w.hub)).PutAccountSetting(w.ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}); err != nil {
				t.Fatal(err)
			}
		}},
		{CheckRoles, false, func(t *testing.T, w *world) {
			if _, err := iam.NewFromConfig(w.in(w.teamA)).DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: aws.String("ecr-pull-through-cache-user")}); err != nil {
				t.Fatal(err)
			}
		}},
		// A role of the declared name under another path: GetRole by name found it and the check
		// passed, but the policy names the ARN, which does not exist (AWS refuses the document).
		{CheckRoles, false, func(t *testing.T, w *world) {
			c := iam.NewFromConfig(w.in(w.teamA))
			if _, err := c.DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: aws.String("ecr-pull-through-cache-user")}); err != nil {
				t.Fatal(err)
			}
			if err := localaws.CreateRole(w.ctx, w.in(w.teamA), "moved/ecr-pull-through-cache-user"); err != nil {
				t.Fatal(err)
			}
		}},
		{CheckSecrets, false, func(t *testing.T, w *world) {
			if _, err := secretsmanager.NewFromConfig(w.in(w.security)).DeleteSecret(w.ctx, &secretsmanager.DeleteSecretInput{
				SecretId: aws.String("ecr-pullthroughcache/docker-hub"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
		}},
		{CheckSidPrefix, false, func(t *testing.T, w *world) {
			w.putHubRegistryPolicy(t, "EcrWardenStagingSecurityScanRoles")
		}},
		{CheckMemberRole, false, func(t *testing.T, w *world) {
			if _, err := iam.NewFromConfig(w.in(w.security)).DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: aws.String(execRole)}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.check, func(t *testing.T) {
			w := newWorld(t)
			c.remove(t, w)
			delegated := ""
			if c.delegated {
				delegated = w.hub
			}
			res := w.run(delegated)
			var b strings.Builder
			Print(&b, res)
			if got := failing(res); len(got) != 1 || got[0] != c.check {
				t.Fatalf("failing checks %v, want exactly [%s]:\n%s", got, c.check, b.String())
			}
			for _, r := range res {
				if !r.OK && (r.Fix == "" || r.Detail == "") {
					t.Errorf("%s fails without a detail and a fix: %+v", r.Check, r)
				}
			}
			t.Log(b.String())
		})
	}
}

// TestDoctorDeclaredIDs: a declaration whose hub ids are not the
// organization's (a mistyped management account, hub account or organization
// id, or the credentials of another organization) fails one check that names
// each wrong field with the value the organization has, and runs none of the
// checks that read through those ids: before, a wrong managementAccountId
// listed the real management account as a member without the execution role,
// and a wrong hub.accountId failed registry-scope, declared-roles and
// sid-prefix with AssumeRole errors into an account that is not there.
func TestDoctorDeclaredIDs(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	org, mgmt, hub := w.decl.Hub.OrganizationID, w.decl.Hub.ManagementAccountID, w.decl.Hub.AccountID
	for _, c := range []struct {
		name   string
		edit   func(h *config.Hub)
		detail []string
		fix    []string
	}{
		{"management account", func(h *config.Hub) { h.ManagementAccountID = "999999999999" },
			[]string{"hub.managementAccountId is 999999999999, but the organization's is " + mgmt},
			[]string{"hub.managementAccountId to " + mgmt}},
		{"hub account", func(h *config.Hub) { h.AccountID = "111111111111" },
			[]string{"hub.accountId 111111111111 is not an active account of the organization"},
			[]string{"hub.accountId to the hub registry's account"}},
		{"organization and both accounts", func(h *config.Hub) {
			h.OrganizationID, h.ManagementAccountID, h.AccountID = "o-a1b2c3d4e5", "999999999999", "111111111111"
		},
			[]string{"hub.organizationId is o-a1b2c3d4e5, but the organization's is " + org,
				"hub.managementAccountId is 999999999999", "hub.accountId 111111111111 is not"},
			[]string{"hub.organizationId to " + org, "hub.managementAccountId to " + mgmt, "hub.accountId to",
				"management account's credentials of organization o-a1b2c3d4e5"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			saved := w.decl.Hub
			defer func() { w.decl.Hub = saved }()
			c.edit(&w.decl.Hub)
			res := w.run("")
			var b strings.Builder
			if Print(&b, res) {
				t.Fatalf("passed with wrong ids:\n%s", b.String())
			}
			if got := failing(res); len(got) != 1 || got[0] != CheckDeclaredIDs {
				t.Fatalf("failing checks %v, want exactly [%s]:\n%s", got, CheckDeclaredIDs, b.String())
			}
			for _, r := range res {
				switch r.Check {
				case CheckMemberRole, CheckScope, CheckRoles, CheckSecrets, CheckSidPrefix:
					t.Errorf("%s ran with ids that do not match the organization: %+v", r.Check, r)
				case CheckDeclaredIDs:
					for _, want := range c.detail {
						if !strings.Contains(r.Detail, want) {
							t.Errorf("detail %q lacks %q", r.Detail, want)
						}
					}
					for _, want := range c.fix {
						if !strings.Contains(r.Fix, want) {
							t.Errorf("fix %q lacks %q", r.Fix, want)
						}
					}
				}
			}
			if !strings.Contains(b.String(), "not run until the declaration's ids match the organization: member-role") {
				t.Errorf("the summary does not say which checks did not run:\n%s", b.String())
			}
			t.Log(b.String())
		})
	}
	if w.decl.Hub.AccountID != hub {
		t.Fatal("the hub was not restored")
	}
}

// TestDoctorDelegatedAdmin: deploying the member StackSet from a delegated
// administrator (CallAs DELEGATED_ADMIN) passes once that account is
// registered for StackSets, and fails exactly its check, with the
// registration as the fix, while it is not.
func TestDoctorDelegatedAdmin(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	res := w.run(w.hub)
	var b strings.Builder
	Print(&b, res)
	got := failing(res)
	if len(got) != 1 || got[0] != CheckDelegated {
		t.Fatalf("failing checks %v, want exactly [%s]:\n%s", got, CheckDelegated, b.String())
	}
	for _, r := range res {
		if r.Check == CheckDelegated && (strings.Contains(r.Detail, "cannot list") || !strings.Contains(r.Fix, "register-delegated-administrator --account-id "+w.hub)) {
			t.Errorf("unregistered: %+v, want a detail saying it is not registered and the registration as the fix", r)
		}
	}
	if _, err := organizations.NewFromConfig(w.mgmt).RegisterDelegatedAdministrator(w.ctx, &organizations.RegisterDelegatedAdministratorInput{
		AccountId: aws.String(w.hub), ServicePrincipal: aws.String(StackSetsPrincipal)}); err != nil {
		t.Fatal(err)
	}
	res = w.run(w.hub)
	b.Reset()
	if !Print(&b, res) || len(res) != 9 {
		t.Fatalf("want 9 passing checks with a registered delegated administrator:\n%s", b.String())
	}
	t.Log(b.String())
}

// TestDoctorControlTowerHomeRegion: with Control Tower in use, the check
// passes when the deploy forwards from the landing zone's home region, and
// fails, naming the home region in its fix, when it forwards from another
// (nothing declared or given: us-east-1 only) or the landing zone cannot be
// found. The declaration's hub.controlTowerHomeRegion and the CT_REGION the
// deploy is given count alike.
func TestDoctorControlTowerHomeRegion(t *testing.T) {
	localaws.Need(t)
	for _, c := range []struct {
		name, home, given, declared string
		ok                          bool
		fix                         string
	}{
		{"home region given", "eu-west-1", "eu-west-1", "", true, ""},
		{"home region declared", "eu-west-1", "", "eu-west-1", true, ""},
		{"home region us-east-1, nothing given", "us-east-1", "", "", true, ""},
		{"home region not given", "eu-west-1", "", "", false, "hub.controlTowerHomeRegion"},
		{"another region given", "us-east-1", "eu-west-1", "", false, "hub.controlTowerHomeRegion to us-east-1"},
		{"another region declared", "us-east-1", "", "eu-west-1", false, "hub.controlTowerHomeRegion to us-east-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.decl.Hub.ControlTowerHomeRegion = c.declared
			w.useControlTower(t, c.home)
			res := w.runWith("", c.given)
			var b strings.Builder
			Print(&b, res)
			got := failing(res)
			if c.ok && len(got) != 0 || !c.ok && (len(got) != 1 || got[0] != CheckCTHome) {
				t.Fatalf("failing checks %v (want ok=%v for %s):\n%s", got, c.ok, CheckCTHome, b.String())
			}
			for _, r := range res {
				if r.Check == CheckCTHome && !c.ok && (r.Detail == "" || !strings.Contains(r.Fix, c.fix)) {
					t.Errorf("%+v: want a detail and a fix with %q", r, c.fix)
				}
			}
			t.Log(b.String())
		})
	}
}

// putHubRegistryPolicy writes the hub's registry policy with one statement
// per Sid, each granting the security member pull, as an installation with
// that Sid would have written it.
func (w *world) putHubRegistryPolicy(t *testing.T, sids ...string) {
	t.Helper()
	var sts []string
	for _, sid := range sids {
		sts = append(sts, fmt.Sprintf(`{"Sid":%q,"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"arn:aws:ecr:%s:%s:repository/*"}`, sid, w.security, region, w.hub))
	}
	text := `{"Version":"2012-10-17","Statement":[` + strings.Join(sts, ",") + `]}`
	if _, err := ecr.NewFromConfig(w.in(w.hub)).PutRegistryPolicy(w.ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(text)}); err != nil {
		t.Fatal(err)
	}
}

// TestDoctorSidPrefixOverlap: statements of the hub registry policy show
// installations whose sidPrefix overlaps this one's (EcrWarden): one whose
// prefix this one's starts (EcrWardenStaging: this installation would remove
// its statements), one whose prefix starts this one's (Ecr+Ward: it would
// remove this one's), and one that carries this prefix but that the
// declaration does not render (whose, the policy cannot say). The check
// fails naming each Sid and the prefix it shows, with the fix; this
// installation's own statement and a foreign one pass, and so does an
// installation whose prefix shares only a beginning.
func TestDoctorSidPrefixOverlap(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	check := func() Result {
		t.Helper()
		for _, r := range w.run("") {
			if r.Check == CheckSidPrefix {
				return r
			}
		}
		t.Fatal("no sid-prefix check")
		return Result{}
	}
	w.putHubRegistryPolicy(t, "EcrWardenSecurityScanRoles", "TeamReplication", "EcrWardSecurityScanRoles", "EcrWardenStagingSecurityScanRoles", "EcrWardenRetiredGrantAccounts")
	r := check()
	t.Log(r)
	if r.OK {
		t.Fatalf("overlapping installations pass: %+v", r)
	}
	for _, want := range []string{
		`EcrWardenStagingSecurityScanRoles (rendered like EcrWardenSecurityScanRoles by an installation with sidPrefix "EcrWardenStaging", which this one's prefix starts`,
		`EcrWardSecurityScanRoles (rendered like EcrWardenSecurityScanRoles by an installation with sidPrefix "EcrWard", which starts this one's prefix`,
		`EcrWardenRetiredGrantAccounts (whose?`,
		"hub registry policy in " + region,
	} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	if strings.Contains(r.Detail, "TeamReplication") || strings.Contains(r.Detail, "EcrWardenSecurityScanRoles (") {
		t.Errorf("detail reports a foreign or an own statement: %s", r.Detail)
	}
	if !strings.Contains(r.Fix, "EcrWardenProd and EcrWardenStage") || !strings.Contains(r.Fix, "earlier declaration") {
		t.Errorf("fix %q: want the prefixes to pick and the word on this installation's own leftovers", r.Fix)
	}
	if !strings.Contains(r.Fix, `if someone wrote one by hand with a Sid that happens to start with "EcrWarden", the backfill removes it too: to keep it, give it a Sid that does not start with "EcrWarden" before the deploy`) {
		t.Errorf("fix %q: want the word on a statement written by hand under the prefix", r.Fix)
	}
	w.putHubRegistryPolicy(t, "EcrWardenSecurityScanRoles", "TeamReplication", "WardenProdSecurityScanRoles")
	if r := check(); !r.OK {
		t.Errorf("own, foreign and unrelated statements fail: %+v", r)
	}
}

// The last line sums the checks up: which failed, and which did not run
// because the organization could not be read.
func TestPrintSumsUp(t *testing.T) {
	var b strings.Builder
	if !Print(&b, []Result{{Check: CheckTrail, OK: true}, {Check: CheckStackSets, OK: true}}) ||
		!strings.HasSuffix(b.String(), "all 2 checks passed\n") {
		t.Errorf("all passed:\n%s", b.String())
	}
	b.Reset()
	if Print(&b, []Result{{Check: CheckTrail, Detail: "no trail", Fix: "create one"}, {Check: CheckStackSets, OK: true},
		{Check: CheckOrgReadable, Detail: "cannot walk", Fix: "management credentials"}}) {
		t.Error("Print reported success with failures")
	}
	want := "2 of 3 checks failed (cloudtrail, organization); not run until the organization can be read: member-role, registry-scope, declared-roles, ptc-secrets, sid-prefix: apply each fix above, then run make doctor again\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("got:\n%s\nwant last line:\n%s", b.String(), want)
	}
}
