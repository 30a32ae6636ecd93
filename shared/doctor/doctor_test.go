package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
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

func TestMain(m *testing.M) {
	s, err := localaws.Start(context.Background(), localaws.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local AWS:", err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

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

func (w *world) run(delegated string) []Result {
	return Run(w.ctx, Options{Decl: w.decl, Management: w.mgmt, DelegatedAdmin: delegated,
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
// place every check passes; removing each prerequisite in turn fails
// exactly its check, with a fix.
func TestDoctor(t *testing.T) {
	w := newWorld(t)
	res := w.run("")
	var b strings.Builder
	if !Print(&b, res) || len(res) != 6 {
		t.Fatalf("want 6 passing checks on the complete organization:\n%s", b.String())
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
		{CheckDelegated, true, func(t *testing.T, w *world) {}}, // the hub is not registered
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
		{CheckSecrets, false, func(t *testing.T, w *world) {
			if _, err := secretsmanager.NewFromConfig(w.in(w.security)).DeleteSecret(w.ctx, &secretsmanager.DeleteSecretInput{
				SecretId: aws.String("ecr-pullthroughcache/docker-hub"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
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
	// (moto's RegisterDelegatedAdministrator does not know the StackSets
	// principal, so the passing case of that check is not exercised here.)
}
