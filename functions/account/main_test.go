package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The test topology: the functions run in the hub (moto's default account,
// as a Lambda runs in its own account), the organization lives in a separate
// management account reached through WARDEN_ORG_ROLE_ARN (as deployed), and
// members are created with CreateAccount, so their ids, the organization id
// and the OU ids are moto's random ones, substituted into
// testdata/declaration.json and into the events/ samples.
const (
	hubAccount  = "123456789012"
	mgmtAccount = "999999999999"
	region      = "us-east-1"
	memberRole  = "OrganizationAccountAccessRole"
	orgRoleName = "ecr-warden-org-read"
	auditTable  = functest.AuditTable
	ptcRoleName = "ecr-warden-ptc"
	// ptcBoundary is the PTC role's permissions boundary the member StackSet
	// creates beside the execution role (testdata/declaration.json's role).
	ptcBoundary = ptcRoleName + "-boundary"
	foreignSid  = "PlatformTeamManualPull"
)

var (
	lab           *functest.Harness
	srv           *localaws.Server
	proxy         *localaws.Proxy
	accountBin    string
	repositoryBin string
)

func TestMain(m *testing.M) {
	functest.Main(m, []string{"account", "repository", "drift", "backfill", "worker"}, func(h *functest.Harness) {
		lab, srv, proxy = h, h.Server, h.Proxy
		accountBin, repositoryBin = h.Binary("account"), h.Binary("repository")
	})
}

// world is one test's organization on a freshly reset local AWS.
type world struct {
	t        testing.TB
	ctx      context.Context
	hub      aws.Config // the test's own view of the hub (not through the proxy)
	mgmt     aws.Config
	org      *organizations.Client
	orgID    string
	rootID   string
	ouA, ouB string // OU ids
	declPath string
}

// newWorld resets the local AWS, creates the audit and lease tables in the
// hub and an organization with two OUs under the root. edit, if set, changes
// the declaration text after substitution.
func newWorld(t testing.TB, edit func(string) string) *world {
	t.Helper()
	localaws.Need(t)
	ctx := context.Background()
	if err := lab.Reset(ctx, region); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, hub: srv.Config(region)}
	mgmt, err := localaws.AccountConfig(ctx, w.hub, mgmtAccount, "OrganizationAdmin")
	if err != nil {
		t.Fatal(err)
	}
	w.mgmt = mgmt
	w.org = organizations.NewFromConfig(mgmt)
	out, err := w.org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatalf("creating the organization: %v", err)
	}
	w.orgID = aws.ToString(out.Organization.Id)
	roots, err := w.org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	w.rootID = aws.ToString(roots.Roots[0].Id)
	w.ouA = w.createOU("workloads")
	w.ouB = w.createOU("tooling")
	// The hub role the member-scan grant names (AWS refuses policies naming
	// roles that do not exist).
	w.createRole(w.hub, "security-scanner")

	text, err := os.ReadFile("testdata/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	decl := strings.NewReplacer("{{ORG}}", w.orgID, "{{OU_A}}", w.ouPath(w.ouA), "{{OU_B}}", w.ouPath(w.ouB)).Replace(string(text))
	if edit != nil {
		decl = edit(decl)
	}
	w.declPath = filepath.Join(t.TempDir(), "declaration.json")
	if err := os.WriteFile(w.declPath, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	w.seedAssumedRoles(nil, w.env()["WARDEN_ORG_ROLE_ARN"])
	return w
}

// seedAssumedRoles creates the roles ecr-warden assumes, as production's
// stacks do (the local AWS, like AWS, refuses sts:AssumeRole into a role that
// does not exist): the member execution role in members (the member
// StackSet's) and the organization reader readerARN, "" for none (the
// management stack's).
func (w *world) seedAssumedRoles(members []string, readerARN string) {
	w.t.Helper()
	err := localaws.SeedAssumedRoles(w.ctx, memberRole, ptcBoundary, members, readerARN, func(account string) (aws.Config, error) {
		return localaws.AccountConfig(w.ctx, w.hub, account, memberRole)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// deleteMemberRole deletes the member execution role in account, as a
// failed or removed member StackSet instance leaves it (its policies first,
// as IAM requires): the local AWS, like AWS, then refuses the functions'
// sts:AssumeRole into it with AccessDenied.
func (w *world) deleteMemberRole(account string) {
	w.t.Helper()
	c, role := iam.NewFromConfig(w.member(account)), aws.String(memberRole)
	attached, err := c.ListAttachedRolePolicies(w.ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role})
	if err != nil {
		w.t.Fatalf("listing the policies of %s in %s: %v", memberRole, account, err)
	}
	for _, p := range attached.AttachedPolicies {
		if _, err := c.DetachRolePolicy(w.ctx, &iam.DetachRolePolicyInput{RoleName: role, PolicyArn: p.PolicyArn}); err != nil {
			w.t.Fatalf("detaching %s from %s in %s: %v", aws.ToString(p.PolicyArn), memberRole, account, err)
		}
	}
	inline, err := c.ListRolePolicies(w.ctx, &iam.ListRolePoliciesInput{RoleName: role})
	if err != nil {
		w.t.Fatalf("listing the inline policies of %s in %s: %v", memberRole, account, err)
	}
	for _, name := range inline.PolicyNames {
		if _, err := c.DeleteRolePolicy(w.ctx, &iam.DeleteRolePolicyInput{RoleName: role, PolicyName: aws.String(name)}); err != nil {
			w.t.Fatalf("deleting %s's inline policy %s in %s: %v", memberRole, name, account, err)
		}
	}
	if _, err := c.DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: role}); err != nil {
		w.t.Fatalf("deleting %s in %s: %v", memberRole, account, err)
	}
}

func (w *world) createOU(name string) string {
	w.t.Helper()
	out, err := w.org.CreateOrganizationalUnit(w.ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(w.rootID), Name: aws.String(name)})
	if err != nil {
		w.t.Fatalf("creating OU %s: %v", name, err)
	}
	return aws.ToString(out.OrganizationalUnit.Id)
}

// ouPath is the OU's aws:PrincipalOrgPaths form.
func (w *world) ouPath(ou string) string { return w.orgID + "/" + w.rootID + "/" + ou + "/" }

// createAccount creates a member account and moves it under parent (an OU id,
// or "" for the root).
func (w *world) createAccount(name, parent string) string {
	w.t.Helper()
	out, err := w.org.CreateAccount(w.ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		w.t.Fatalf("creating account %s: %v", name, err)
	}
	st := out.CreateAccountStatus
	if st.State != orgtypes.CreateAccountStateSucceeded || aws.ToString(st.AccountId) == "" {
		w.t.Fatalf("creating account %s: state %s", name, st.State)
	}
	id := aws.ToString(st.AccountId)
	if parent != "" {
		w.move(id, w.rootID, parent)
	}
	// What the declaration expects every PTC member to have (as a platform
	// team provisions it, e.g. with a StackSet): the Docker Hub credential.
	w.createSecret(id, dockerHubSecret)
	w.seedAssumedRoles([]string{id}, "")
	return id
}

const dockerHubSecret = "ecr-pullthroughcache/docker-hub"

// createSecret stores a PTC credential secret in account (in region) and
// returns its full ARN, with the random suffix Secrets Manager appends.
func (w *world) createSecret(account, name string) string {
	w.t.Helper()
	out, err := secretsmanager.NewFromConfig(w.member(account)).CreateSecret(w.ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"username":"ci","accessToken":"not-a-token"}`)})
	if err != nil {
		w.t.Fatalf("creating secret %s in %s: %v", name, account, err)
	}
	return aws.ToString(out.ARN)
}

// secretARN is the full ARN of a secret in account (in region).
func (w *world) secretARN(account, name string) string {
	w.t.Helper()
	out, err := secretsmanager.NewFromConfig(w.member(account)).DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		w.t.Fatalf("describing secret %s in %s: %v", name, account, err)
	}
	return aws.ToString(out.ARN)
}

// createRole creates an IAM role (trusting EC2, which nothing here uses) in
// the account of cfg and returns its ARN.
func (w *world) createRole(cfg aws.Config, name string) string {
	w.t.Helper()
	out, err := iam.NewFromConfig(cfg).CreateRole(w.ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		w.t.Fatalf("creating role %s: %v", name, err)
	}
	return aws.ToString(out.Role.Arn)
}

func (w *world) move(account, from, to string) {
	w.t.Helper()
	if _, err := w.org.MoveAccount(w.ctx, &organizations.MoveAccountInput{AccountId: aws.String(account), SourceParentId: aws.String(from), DestinationParentId: aws.String(to)}); err != nil {
		w.t.Fatalf("moving %s from %s to %s: %v", account, from, to, err)
	}
}

// env is the function's environment: endpoint through the proxy (so tests
// count calls and inject faults), tables, declaration, and the management
// account's read-only role for Organizations.
func (w *world) env() map[string]string {
	env := lab.Env(w.declPath)
	env["WARDEN_ORG_ROLE_ARN"] = "arn:aws:iam::" + mgmtAccount + ":role/" + orgRoleName
	return env
}

// start runs the account function's real binary in a fresh execution
// environment (member credentials cached by an earlier process would name
// keys the reset local AWS no longer knows).
func (w *world) start() *lambdalocal.Instance {
	w.t.Helper()
	return w.startWith(w.env())
}

// startWith is start with another environment.
func (w *world) startWith(env map[string]string) *lambdalocal.Instance {
	w.t.Helper()
	inst, err := lambdalocal.Start(w.ctx, lambdalocal.Function{Name: "ecr-warden-account", Binary: accountBin, Env: env, Timeout: 60 * time.Second, AccountID: hubAccount})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { inst.Close() })
	return inst
}

// invoker is an Instance or a Pool.
type invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdalocal.Result, error)
}

// invoke delivers one event and requires the function to succeed.
func (w *world) invoke(fn invoker, event []byte) response {
	w.t.Helper()
	res, err := fn.Invoke(w.ctx, event)
	if err != nil {
		w.t.Fatalf("invoking: %v", err)
	}
	if res.Err != nil {
		w.t.Fatalf("function failed: %s: %s\nlogs:\n%s", res.Err.Type, res.Err.Message, strings.Join(res.Logs, "\n"))
	}
	var r response
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		w.t.Fatalf("decoding the response %s: %v", res.Payload, err)
	}
	return r
}

// event reads a sample from events/ and rewrites its ids to this world's:
// account 333333333333 becomes account, the sample OUs become ouA and ouB,
// the organization and root become this one's, and the envelope gets a new id.
func (w *world) event(file, account string) []byte {
	w.t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", file))
	if err != nil {
		w.t.Fatal(err)
	}
	text := strings.NewReplacer("333333333333", account, "ou-ab12-11111111", w.ouA, "ou-ab12-22222222", w.ouB,
		"o-a1b2c3d4e5", w.orgID, "r-ab12", w.rootID).Replace(string(raw))
	var ev map[string]any
	if err := json.Unmarshal([]byte(text), &ev); err != nil {
		w.t.Fatalf("%s: %v", file, err)
	}
	ev["id"] = newID()
	out, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// member returns the test's view of a member account.
func (w *world) member(account string) aws.Config {
	w.t.Helper()
	cfg, err := localaws.AccountConfig(w.ctx, w.hub, account, "test-reader")
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

// memberIn is the test's view of a member account in region.
func (w *world) memberIn(account, region string) aws.Config {
	cfg := w.member(account)
	cfg.Region = region
	return cfg
}

// hubIn is the test's view of the hub in region.
func (w *world) hubIn(region string) aws.Config {
	cfg := w.hub.Copy()
	cfg.Region = region
	return cfg
}

// registryPolicy returns a registry's policy text ("" when it has none).
func (w *world) registryPolicy(cfg aws.Config) string {
	w.t.Helper()
	out, err := ecr.NewFromConfig(cfg).GetRegistryPolicy(w.ctx, &ecr.GetRegistryPolicyInput{})
	var nf *ecrtypes.RegistryPolicyNotFoundException
	if err != nil && !errors.As(err, &nf) {
		w.t.Fatalf("reading registry policy: %v", err)
	}
	if err != nil {
		return ""
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) putRegistryPolicy(cfg aws.Config, text string) {
	w.t.Helper()
	if _, err := ecr.NewFromConfig(cfg).PutRegistryPolicy(w.ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(text)}); err != nil {
		w.t.Fatalf("putting registry policy: %v", err)
	}
}

func (w *world) repositoryPolicy(cfg aws.Config, name string) string {
	w.t.Helper()
	out, err := ecr.NewFromConfig(cfg).GetRepositoryPolicy(w.ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrtypes.RepositoryPolicyNotFoundException
	if err != nil && !errors.As(err, &nf) {
		w.t.Fatalf("reading repository policy of %s: %v", name, err)
	}
	if err != nil {
		return ""
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) createRepository(cfg aws.Config, name, policyText string) {
	w.t.Helper()
	c := ecr.NewFromConfig(cfg)
	if _, err := c.CreateRepository(w.ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		w.t.Fatalf("creating repository %s: %v", name, err)
	}
	if policyText != "" {
		if _, err := c.SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(policyText)}); err != nil {
			w.t.Fatalf("setting repository policy of %s: %v", name, err)
		}
	}
}

// statements parses a policy and returns its statements by Sid.
func (w *world) statements(text string) map[string]policy.Statement {
	w.t.Helper()
	out := map[string]policy.Statement{}
	if text == "" {
		return out
	}
	doc, err := policy.Parse(text)
	if err != nil {
		w.t.Fatalf("parsing policy %s: %v", text, err)
	}
	for _, s := range doc.Statements {
		out[s.Sid] = s
	}
	return out
}

// principals returns a statement's AWS principals, sorted, with bare ids
// written as root ARNs; nil when the statement is absent.
func (w *world) principals(text, sid string) []string {
	w.t.Helper()
	s, ok := w.statements(text)[sid]
	if !ok || s.Principal == nil {
		return nil
	}
	var out []string
	for _, p := range s.Principal.AWS {
		if policy.ValidAccountID(p) {
			p = root(p)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func root(account string) string { return "arn:aws:iam::" + account + ":root" }

func roots(accounts ...string) []string {
	out := make([]string, len(accounts))
	for i, a := range accounts {
		out[i] = root(a)
	}
	slices.Sort(out)
	return out
}

// writes counts the AWS writes (ECR, IAM, Organizations) the proxy saw since
// its last reset, by "<service>:<op>"; audit and lease writes to DynamoDB are
// the protocol's own bookkeeping and are left out.
func writes() map[string]int {
	out := map[string]int{}
	for _, c := range proxy.Calls() {
		if c.Service == "dynamodb" || c.Service == "sts" || !inventory.IsWrite(c.Op) {
			continue
		}
		out[c.Service+":"+c.Op]++
	}
	return out
}

// foreignStatement is a hand-written statement a platform team keeps in the
// hub registry policy; it names account so a departure must not touch it.
func foreignStatement(account string) string {
	return fmt.Sprintf(`{"Sid":%q,"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"arn:aws:ecr:us-east-1:%s:repository/legacy/*"}`, foreignSid, account, hubAccount)
}

// seedHub gives the hub a registry policy with one foreign statement.
func (w *world) seedHub(foreignAccount string) string {
	w.t.Helper()
	text := `{"Version":"2012-10-17","Statement":[` + foreignStatement(foreignAccount) + `]}`
	w.putRegistryPolicy(w.hub, text)
	return text
}

// role reads the PTC role's trust policy and inline policy in a member.
func (w *world) role(cfg aws.Config) (arn, trust, permission string) {
	w.t.Helper()
	c := iam.NewFromConfig(cfg)
	out, err := c.GetRole(w.ctx, &iam.GetRoleInput{RoleName: aws.String(ptcRoleName)})
	if err != nil {
		w.t.Fatalf("reading role %s: %v", ptcRoleName, err)
	}
	trust = decodeURL(w.t, aws.ToString(out.Role.AssumeRolePolicyDocument))
	names, err := c.ListRolePolicies(w.ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(ptcRoleName)})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(names.PolicyNames) != 1 {
		w.t.Fatalf("role %s has inline policies %v, want exactly one", ptcRoleName, names.PolicyNames)
	}
	p, err := c.GetRolePolicy(w.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(ptcRoleName), PolicyName: aws.String(names.PolicyNames[0])})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.Role.Arn), trust, decodeURL(w.t, aws.ToString(p.PolicyDocument))
}

// rules returns a member registry's PTC rules by prefix.
func (w *world) rules(cfg aws.Config) map[string]ecrtypes.PullThroughCacheRule {
	w.t.Helper()
	out, err := ecr.NewFromConfig(cfg).DescribePullThroughCacheRules(w.ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		w.t.Fatalf("listing PTC rules: %v", err)
	}
	m := map[string]ecrtypes.PullThroughCacheRule{}
	for _, r := range out.PullThroughCacheRules {
		m[aws.ToString(r.EcrRepositoryPrefix)] = r
	}
	return m
}

func decodeURL(t testing.TB, s string) string {
	t.Helper()
	d, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return d
}

// invalidRegistryPolicy is the fault ECR answers while a principal in a
// registry policy has not propagated yet.
func invalidRegistryPolicy(times int) localaws.Fault {
	return localaws.APIError(400, "InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'", times)
}

func dbOf(w *world) *dynamodb.Client { return dynamodb.NewFromConfig(w.hub) }
