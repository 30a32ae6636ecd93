package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// One local AWS, one counting proxy in front of it and one host build of
// the function serve the whole test binary; each test resets the state.
var (
	lab    *functest.Harness
	srv    *localaws.Server
	proxy  *localaws.Proxy
	binary string
)

const (
	hubAccount  = "123456789012" // moto's default account: the function's own
	region      = "us-east-1"
	auditTable  = functest.AuditTable
	memberRole  = "ecr-warden-execution"
	declaration = "testdata/declaration.json"
	sidPrefix   = "EcrWarden"
)

func TestMain(m *testing.M) {
	// drift too: hand edits of a repository's policy are routed to it (trigger.Routes).
	functest.Main(m, []string{"repository", "drift"}, func(h *functest.Harness) {
		lab, srv, proxy, binary = h, h.Server, h.Proxy, h.Binary("repository")
	})
}

// world is one test's AWS: a fresh local AWS with the audit and lease tables,
// an organization whose management account is the hub (moto's default
// account) and one member account created in it.
type world struct {
	t      testing.TB
	ctx    context.Context
	member string
	trail  *audit.Trail
}

func newWorld(t testing.TB) *world {
	t.Helper()
	localaws.Need(t)
	ctx := t.Context()
	if err := lab.Reset(ctx, region); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(region)
	org := organizations.NewFromConfig(cfg)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	// The role the declaration's public grant names exists, as AWS requires
	// of every principal in a policy.
	if err := localaws.CreateRole(ctx, cfg, "release"); err != nil {
		t.Fatal(err)
	}
	acct, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("team-a"), Email: aws.String("team-a@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, member: aws.ToString(acct.CreateAccountStatus.AccountId)}
	// The execution role the member StackSet gives the member (the local AWS,
	// like AWS, refuses sts:AssumeRole into a role that does not exist).
	decl, err := config.Load(declaration)
	if err != nil {
		t.Fatal(err)
	}
	if err := localaws.SeedAssumedRoles(ctx, decl.MemberRoleName, ptcBoundary(decl), []string{w.member}, "", func(string) (aws.Config, error) {
		return w.config(w.member), nil
	}); err != nil {
		t.Fatal(err)
	}
	if w.trail, err = audit.New(dynamodb.NewFromConfig(cfg), auditTable, audit.Options{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// deleteMemberRole deletes the member's execution role, as a failed or
// removed member StackSet instance leaves the account: the local AWS, like
// AWS, then refuses the function's sts:AssumeRole into it with AccessDenied.
func (w *world) deleteMemberRole() {
	w.t.Helper()
	if _, err := iam.NewFromConfig(w.config(w.member)).DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: aws.String(memberRole)}); err != nil {
		w.t.Fatalf("deleting %s in %s: %v", memberRole, w.member, err)
	}
}

// config acts in account directly on the server (not through the proxy, so
// the test's own set-up and checks are not counted).
func (w *world) config(account string) aws.Config {
	w.t.Helper()
	if account == hubAccount {
		return srv.Config(region)
	}
	cfg, err := localaws.AccountConfig(w.ctx, srv.Config(region), account, memberRole)
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func (w *world) ecr(account string) *ecr.Client { return ecr.NewFromConfig(w.config(account)) }

func (w *world) public() *ecrpublic.Client { return ecrpublic.NewFromConfig(srv.Config(region)) }

// createRepository creates a private repository, optionally tagged.
func (w *world) createRepository(account, name string, tags map[string]string) {
	w.t.Helper()
	in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
	for k, v := range tags {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := w.ecr(account).CreateRepository(w.ctx, in); err != nil {
		w.t.Fatal(err)
	}
}

// policy returns a repository's policy text, "" when it has none.
func (w *world) policy(account, name string) string {
	w.t.Helper()
	out, err := w.ecr(account).GetRepositoryPolicy(w.ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) setPolicy(account, name, text string) {
	w.t.Helper()
	if _, err := w.ecr(account).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(text)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) createPublic(name string) {
	w.t.Helper()
	if _, err := w.public().CreateRepository(w.ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) publicPolicy(name string) string {
	w.t.Helper()
	out, err := w.public().GetRepositoryPolicy(w.ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	if err != nil {
		if strings.Contains(err.Error(), "RepositoryPolicyNotFound") {
			return ""
		}
		w.t.Fatal(err)
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) setPublicPolicy(name, text string) {
	w.t.Helper()
	if _, err := w.public().SetRepositoryPolicy(w.ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(text)}); err != nil {
		w.t.Fatal(err)
	}
}

// history is the audit trail of one resource, oldest first.
func (w *world) history(arn string) []audit.Record {
	w.t.Helper()
	recs, err := w.trail.History(w.ctx, arn, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	return recs
}

// decisions renders a history as its decisions, e.g. "failed,applied".
func decisions(recs []audit.Record) string {
	var d []string
	for _, r := range recs {
		d = append(d, string(r.Decision))
	}
	return strings.Join(d, ",")
}

// start runs the real bootstrap under the local Lambda runtime, pointed at
// the counting proxy. extra adds to (or overrides) the environment.
func (w *world) start(extra map[string]string) *lambdalocal.Instance {
	w.t.Helper()
	inst, err := lambdalocal.Start(w.ctx, w.function(extra))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { inst.Close() })
	return inst
}

// startDrift starts the drift function, where the route table sends hand
// edits of repository policies.
func (w *world) startDrift() *lambdalocal.Instance {
	w.t.Helper()
	f := w.function(nil)
	f.Name, f.Binary = "ecr-warden-drift", lab.Binary("drift")
	inst, err := lambdalocal.Start(w.ctx, f)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { inst.Close() })
	return inst
}

// function is the local Lambda definition: the host build of this function
// with the environment the CDK stack gives it, pointed at the proxy.
func (w *world) function(extra map[string]string) lambdalocal.Function {
	w.t.Helper()
	abs, err := filepath.Abs(declaration)
	if err != nil {
		w.t.Fatal(err)
	}
	env := lab.Env(abs)
	for k, v := range extra {
		env[k] = v
	}
	return lambdalocal.Function{Name: "ecr-warden-repository", Binary: binary, Env: env, Region: region, Timeout: time.Minute}
}

// invoke delivers one event and returns the decoded response, or the
// function error when the invocation failed.
func (w *world) invoke(inst *lambdalocal.Instance, event []byte) (response, *lambdalocal.FunctionError) {
	w.t.Helper()
	res, err := inst.Invoke(w.ctx, event)
	if err != nil {
		w.t.Fatal(err)
	}
	if res.Err != nil {
		w.t.Logf("invocation failed: %v\nlogs:\n%s", res.Err, strings.Join(res.Logs, "\n"))
		return response{}, res.Err
	}
	var r response
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		w.t.Fatalf("response %s: %v", res.Payload, err)
	}
	return r, nil
}

// mustInvoke is invoke for deliveries that must succeed.
func (w *world) mustInvoke(inst *lambdalocal.Instance, event []byte) response {
	w.t.Helper()
	r, ferr := w.invoke(inst, event)
	if ferr != nil {
		w.t.Fatalf("invocation failed: %v", ferr)
	}
	return r
}

// event loads a sample from events/ with the sample accounts rewritten to
// this world's: the hub (111111111111) becomes moto's default account and
// the first member (222222222222) the member created in the organization.
func (w *world) event(name string, replacements ...string) []byte {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		w.t.Fatal(err)
	}
	r := strings.NewReplacer(append([]string{"111111111111", hubAccount, "222222222222", w.member}, replacements...)...)
	return []byte(r.Replace(string(b)))
}

// awsWrites counts the mutating AWS calls (ECR, ECR Public, IAM,
// Organizations) the proxy saw, leaving out DynamoDB, whose writes are the
// audit trail and the lease.
func awsWrites() int {
	n := 0
	for _, c := range proxy.Calls() {
		if c.Service != "dynamodb" && c.Service != "sts" && inventory.IsWrite(c.Op) {
			n++
		}
	}
	return n
}

// goldenFile compares a policy with testdata/<name> by meaning (policy.Equivalent),
// or rewrites the file, indented, with -update (see package golden).
func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if golden.Update() {
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(got), "", "  "); err != nil {
			t.Fatalf("policy is not JSON: %v\n%s", err, got)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden policy: %v (run `%s` to create it, then review the diff)", err, golden.Hint)
	}
	eq, err := policy.Equivalent(string(want), got)
	if err != nil {
		t.Fatal(err)
	}
	if !eq {
		t.Errorf("policy differs in meaning from %s:\ngot  %s\nwant %s\nIf the change is intended, run `%s` and review the diff.", path, got, want, golden.Hint)
	}
}

// statementJSON returns the compacted JSON of the statement with sid as it
// appears in text (not re-encoded), to check it survived byte for byte.
func statementJSON(t *testing.T, text, sid string) string {
	t.Helper()
	var doc struct {
		Statement []json.RawMessage
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("policy %s: %v", text, err)
	}
	for _, raw := range doc.Statement {
		var s struct{ Sid string }
		if json.Unmarshal(raw, &s) == nil && s.Sid == sid {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				t.Fatal(err)
			}
			return buf.String()
		}
	}
	t.Fatalf("no statement %q in %s", sid, text)
	return ""
}

// ptcBoundary is the PTC role's permissions boundary the member StackSet
// creates beside the execution role when d has a pull-through cache.
func ptcBoundary(d *config.Declaration) string {
	if d.PullThroughCache == nil {
		return ""
	}
	return d.PullThroughCache.Role.BoundaryName()
}
