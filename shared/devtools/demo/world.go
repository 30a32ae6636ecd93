package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// The example ids the sample declaration and events/ use. moto makes up its
// own organization, OU and account ids, so the demo maps each example id to
// the one moto generated and rewrites the declaration and every replayed
// event with that mapping.
const (
	exampleHub        = "111111111111"
	exampleTeamA      = "222222222222"
	exampleSecurity   = "333333333333"
	exampleManagement = "999999999999"
	exampleOrg        = "o-a1b2c3d4e5"
	exampleRoot       = "r-ab12"
	exampleWorkloads  = "ou-ab12-11111111"
	exampleTeamAOU    = "ou-ab12-22222222"
)

// Names the demo gives the local tables, roles and region.
const (
	region     = "us-east-1"
	auditTable = "ecr-warden-audit"
	leaseTable = "ecr-warden-leases"
	// accessRole is the role moto's CreateAccount makes in every new account
	// (as Organizations does); the demo assumes it for its own reads and
	// set-up (localaws.AccountConfig).
	accessRole = "OrganizationAccountAccessRole"
	// orgReadRole is what the management stack offers the functions
	// (WARDEN_ORG_ROLE_ARN): Organizations answers only in the management
	// account.
	orgReadRole = "ecr-warden-org-read"
)

// world is the local AWS the demo builds: a moto server, a counting proxy the
// functions talk through, and an organization shaped like the example
// declaration's.
type world struct {
	srv   *localaws.Server
	proxy *localaws.Proxy

	management, hub, teamA, security string
	orgID, rootID, workloadsOU       string
	teamAOU                          string

	// ids maps each example id to the generated one, in print order.
	ids [][2]string
	// declPath is the rendered declaration the functions read.
	declPath string
	decl     *config.Declaration
	trail    *audit.Trail
}

// buildOrganization creates the organization: moto's default account is the
// management account; hub, team-a and security are created in it; OUs
// workloads and workloads/team-a hold team-a. It also creates the audit and
// lease tables in the hub, where the functions run.
func (w *world) buildOrganization(ctx context.Context) error {
	org := organizations.NewFromConfig(w.srv.Config(region))
	out, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		return fmt.Errorf("creating the organization: %w", err)
	}
	w.orgID = aws.ToString(out.Organization.Id)
	w.management = aws.ToString(out.Organization.MasterAccountId)
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) == 0 {
		return fmt.Errorf("listing the organization's root: %v", err)
	}
	w.rootID = aws.ToString(roots.Roots[0].Id)
	if w.workloadsOU, err = createOU(ctx, org, w.rootID, "workloads"); err != nil {
		return err
	}
	if w.teamAOU, err = createOU(ctx, org, w.workloadsOU, "team-a"); err != nil {
		return err
	}
	if w.hub, err = createAccount(ctx, org, "hub"); err != nil {
		return err
	}
	if w.teamA, err = createAccount(ctx, org, "team-a"); err != nil {
		return err
	}
	if w.security, err = createAccount(ctx, org, "security"); err != nil {
		return err
	}
	if err := moveAccount(ctx, org, w.teamA, w.rootID, w.teamAOU); err != nil {
		return err
	}
	w.ids = [][2]string{
		{exampleManagement, w.management}, {exampleHub, w.hub}, {exampleTeamA, w.teamA}, {exampleSecurity, w.security},
		{exampleOrg, w.orgID}, {exampleRoot, w.rootID}, {exampleWorkloads, w.workloadsOU}, {exampleTeamAOU, w.teamAOU},
	}
	hub, err := w.config(ctx, w.hub)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(hub)
	if err := audit.CreateTable(ctx, db, auditTable); err != nil {
		return fmt.Errorf("creating the audit table: %w", err)
	}
	if err := lease.CreateTable(ctx, db, leaseTable); err != nil {
		return fmt.Errorf("creating the lease table: %w", err)
	}
	w.trail, err = audit.New(db, auditTable, audit.Options{})
	return err
}

// createLeaseTables creates the lease table in the declaration's other hub
// regions too (after renderDeclaration): the functions take a document's
// lease in its own region's table, as each hub region's stack has one.
func (w *world) createLeaseTables(ctx context.Context) error {
	hub, err := w.config(ctx, w.hub)
	if err != nil {
		return err
	}
	return lease.CreateTables(ctx, hub, leaseTable, w.decl.Hub.Regions)
}

func createOU(ctx context.Context, org *organizations.Client, parent, name string) (string, error) {
	out, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("creating OU %s under %s: %w", name, parent, err)
	}
	return aws.ToString(out.OrganizationalUnit.Id), nil
}

// createAccount creates an account in the organization (moto completes it at
// once) and returns its id.
func createAccount(ctx context.Context, org *organizations.Client, name string) (string, error) {
	out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		return "", fmt.Errorf("creating account %s: %w", name, err)
	}
	return aws.ToString(out.CreateAccountStatus.AccountId), nil
}

func moveAccount(ctx context.Context, org *organizations.Client, account, from, to string) error {
	if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(account), SourceParentId: aws.String(from), DestinationParentId: aws.String(to)}); err != nil {
		return fmt.Errorf("moving account %s to %s: %w", account, to, err)
	}
	return nil
}

// seedPrerequisites creates what the declaration expects before ecr-warden
// runs (the local AWS, like AWS, refuses policies naming missing roles and
// PTC rules naming missing secrets): the roles it names, in their accounts
// (the PTC statement roles in both members), and the PTC credential secrets
// in both members.
func (w *world) seedPrerequisites(ctx context.Context) error {
	known := func(a string) bool { return a == w.hub || a == w.teamA || a == w.security || a == w.management }
	err := localaws.SeedPrerequisites(ctx, w.decl, []string{w.teamA, w.security}, known, func(account, r string) (aws.Config, error) {
		cfg, err := w.config(ctx, account)
		cfg.Region = r
		return cfg, err
	})
	if err != nil {
		return fmt.Errorf("creating the roles and secrets the declaration names: %w", err)
	}
	return w.seedAssumedRoles(ctx, []string{w.teamA, w.security}, w.orgReaderARN())
}

// orgReaderARN is the organization reader the functions are given
// (WARDEN_ORG_ROLE_ARN), in the management account.
func (w *world) orgReaderARN() string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", w.management, orgReadRole)
}

// seedAssumedRoles creates the roles ecr-warden assumes, as production's
// stacks do: the declaration's member execution role in members (the member
// StackSet's) and the organization reader readerARN ("" for none; the
// management stack's). The local AWS, like AWS, refuses sts:AssumeRole into
// a role that does not exist.
func (w *world) seedAssumedRoles(ctx context.Context, members []string, readerARN string) error {
	err := localaws.SeedAssumedRoles(ctx, w.decl.MemberRoleName, w.ptcBoundary(), members, readerARN, func(a string) (aws.Config, error) {
		return w.config(ctx, a)
	})
	if err != nil {
		return fmt.Errorf("creating the roles ecr-warden assumes: %w", err)
	}
	return nil
}

// ptcBoundary is the PTC role's permissions boundary the member StackSet
// creates in every member when the declaration has a pull-through cache.
func (w *world) ptcBoundary() string {
	if w.decl.PullThroughCache == nil {
		return ""
	}
	return w.decl.PullThroughCache.Role.BoundaryName()
}

// seedMember creates, in a new member, the execution role the member
// StackSet deploys to it and, for a PTC member, the secrets and the PTC
// statement roles the declaration names.
func (w *world) seedMember(ctx context.Context, account string) error {
	if err := w.seedAssumedRoles(ctx, []string{account}, ""); err != nil {
		return err
	}
	known := func(a string) bool { return a == account }
	d := *w.decl
	if d.PullThroughCache == nil {
		return nil
	}
	err := localaws.SeedPrerequisites(ctx, &d, []string{account}, known, func(a, r string) (aws.Config, error) {
		cfg, err := w.config(ctx, a)
		cfg.Region = r
		return cfg, err
	})
	if err != nil {
		return fmt.Errorf("creating the declared secrets and roles in %s: %w", account, err)
	}
	return nil
}

// config acts in account directly on the server, so the demo's own set-up
// and reads are not counted by the proxy.
func (w *world) config(ctx context.Context, account string) (aws.Config, error) {
	base := w.srv.Config(region)
	if account == w.management {
		return base, nil
	}
	cfg, err := localaws.AccountConfig(ctx, base, account, accessRole)
	if err != nil {
		return aws.Config{}, fmt.Errorf("acting in account %s: %w", account, err)
	}
	return cfg, nil
}

func (w *world) ecr(ctx context.Context, account string) (*ecr.Client, error) {
	cfg, err := w.config(ctx, account)
	if err != nil {
		return nil, err
	}
	return ecr.NewFromConfig(cfg), nil
}

// renderDeclaration writes the declaration at src with every example id
// replaced by the generated one into dir, validates it, and keeps its path
// for the functions.
func (w *world) renderDeclaration(src, dir string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("reading the declaration: %w", err)
	}
	text := w.replacer().Replace(string(b))
	decl, err := config.Parse([]byte(text))
	if err != nil {
		return fmt.Errorf("declaration %s with the demo's ids: %w", src, err)
	}
	if decl.Hub.AccountID != w.hub || decl.Hub.ManagementAccountID != w.management {
		return fmt.Errorf("declaration %s: the demo maps the example ids onto its organization (hub %s, management %s, members %s and %s, organization %s), "+
			"but hub.accountId is %s and hub.managementAccountId is %s; start from infra/declaration.json",
			src, exampleHub, exampleManagement, exampleTeamA, exampleSecurity, exampleOrg, decl.Hub.AccountID, decl.Hub.ManagementAccountID)
	}
	w.declPath = filepath.Join(dir, "declaration.json")
	if err := os.WriteFile(w.declPath, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing the demo's declaration: %w", err)
	}
	w.decl = decl
	return nil
}

// replacer maps example ids to generated ones; extra pairs (old, new) come
// first so an event can name another account for an example id.
func (w *world) replacer(extra ...string) *strings.Replacer {
	pairs := append([]string(nil), extra...)
	for _, p := range w.ids {
		pairs = append(pairs, p[0], p[1])
	}
	return strings.NewReplacer(pairs...)
}

// event loads events/<name> from the module root with the demo's ids, and
// extra replacements (old, new) applied first. A non-empty id gives the event
// a new EventBridge id, so a rewritten sample is a different delivery.
func (w *world) event(root, name, id string, extra ...string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		return nil, fmt.Errorf("reading sample event: %w", err)
	}
	text := w.replacer(extra...).Replace(string(b))
	if id == "" {
		return []byte(text), nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("sample event events/%s: %w", name, err)
	}
	m["id"] = id
	return json.Marshal(m)
}

// createRepository creates a private repository with tags in account.
func (w *world) createRepository(ctx context.Context, account, name string, tags map[string]string) error {
	c, err := w.ecr(ctx, account)
	if err != nil {
		return err
	}
	in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
	for k, v := range tags {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := c.CreateRepository(ctx, in); err != nil {
		return fmt.Errorf("creating repository %s in %s: %w", name, account, err)
	}
	return nil
}

// repositoryPolicy returns a repository's policy text, "" when it has none.
func (w *world) repositoryPolicy(ctx context.Context, account, name string) (string, error) {
	c, err := w.ecr(ctx, account)
	if err != nil {
		return "", err
	}
	out, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the policy of repository %s in %s: %w", name, account, err)
	}
	return aws.ToString(out.PolicyText), nil
}

func (w *world) setRepositoryPolicy(ctx context.Context, account, name, text string) error {
	c, err := w.ecr(ctx, account)
	if err != nil {
		return err
	}
	if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(text)}); err != nil {
		return fmt.Errorf("setting the policy of repository %s in %s: %w", name, account, err)
	}
	return nil
}

// registryPolicy returns a registry's policy text, "" when it has none.
func (w *world) registryPolicy(ctx context.Context, account string) (string, error) {
	c, err := w.ecr(ctx, account)
	if err != nil {
		return "", err
	}
	out, err := c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	var nf *ecrtypes.RegistryPolicyNotFoundException
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the registry policy of %s: %w", account, err)
	}
	return aws.ToString(out.PolicyText), nil
}

// ptcRules lists a registry's pull-through-cache rules.
func (w *world) ptcRules(ctx context.Context, account string) ([]ecrtypes.PullThroughCacheRule, error) {
	c, err := w.ecr(ctx, account)
	if err != nil {
		return nil, err
	}
	out, err := c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		return nil, fmt.Errorf("listing the pull-through-cache rules of %s: %w", account, err)
	}
	return out.PullThroughCacheRules, nil
}

// role returns a role's trust policy and its inline policies by name
// (decoded: IAM returns them URL-encoded).
func (w *world) role(ctx context.Context, account, name string) (trust string, inline map[string]string, err error) {
	cfg, err := w.config(ctx, account)
	if err != nil {
		return "", nil, err
	}
	c := iam.NewFromConfig(cfg)
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return "", nil, fmt.Errorf("reading role %s in %s: %w", name, account, err)
	}
	trust, err = unescape(aws.ToString(r.Role.AssumeRolePolicyDocument))
	if err != nil {
		return "", nil, err
	}
	names, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		return "", nil, fmt.Errorf("listing inline policies of role %s in %s: %w", name, account, err)
	}
	inline = map[string]string{}
	for _, p := range names.PolicyNames {
		out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)})
		if err != nil {
			return "", nil, fmt.Errorf("reading inline policy %s of role %s in %s: %w", p, name, account, err)
		}
		if inline[p], err = unescape(aws.ToString(out.PolicyDocument)); err != nil {
			return "", nil, err
		}
	}
	return trust, inline, nil
}

// publicPolicy returns an ECR Public repository's policy in the hub.
func (w *world) publicPolicy(ctx context.Context, name string) (string, error) {
	cfg, err := w.config(ctx, w.hub)
	if err != nil {
		return "", err
	}
	out, err := ecrpublic.NewFromConfig(cfg).GetRepositoryPolicy(ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("reading the policy of public repository %s: %w", name, err)
	}
	return aws.ToString(out.PolicyText), nil
}

func (w *world) createPublic(ctx context.Context, name string) error {
	cfg, err := w.config(ctx, w.hub)
	if err != nil {
		return err
	}
	if _, err := ecrpublic.NewFromConfig(cfg).CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		return fmt.Errorf("creating public repository %s: %w", name, err)
	}
	return nil
}
