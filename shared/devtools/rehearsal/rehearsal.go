// Package rehearsal is `make deploy-local`: the CDK app's stacks, synthesized by the real `cdk synth`
// with the `local` context switch, created on the local AWS's CloudFormation in the documented order
// (Management, then the member template as plain stacks in two members, then the hub), each stack as
// its own account of a seeded organization; then every deployed function's configuration is read
// back and its deployed bootstrap (the bytes uploaded as its asset) runs under the local Lambda
// runtime with exactly that environment and as exactly that role, so replayed events converge
// through what was deployed. Resource types the emulator skipped are listed, never hidden. Last,
// the stacks are destroyed and deployed again.
//
// What `local` replaces, and why, is documented in infra/app/local.go.
package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// Region is the rehearsal's hub region.
const Region = "us-east-1"

// ReinstallPrefix is the namePrefix of the installation deployed after the destroy: the retained
// audit table and log groups keep the default names taken (README "Uninstall / reinstall").
const ReinstallPrefix = "v2"

// DeployBackfillPayload is what the deploy-time custom resource sends (infra/app.DeployBackfillPayload
// without allowRefusals; infra's tests keep the two equal). `local` leaves the custom resource out,
// so the rehearsal sends it itself once the hub stack exists.
const DeployBackfillPayload = `{"action":"backfill","targets":{"all":true},"dryRun":false,"requireCleanPlan":true}`

// accessRole is the role the local AWS creates in every account the organization creates: the
// rehearsal deploys as it, as a person with OrganizationAccountAccessRole would.
const accessRole = "OrganizationAccountAccessRole"

// functions are the hub's functions as in functions/<name>.
var functions = []string{"repository", "account", "backfill", "worker", "drift"}

// Options say where the module and the CDK CLI are and where progress goes.
type Options struct {
	// Root is the module root ("" finds it).
	Root string
	// CDK is the CDK CLI (default <Root>/.tools/node_modules/.bin/cdk, which `make cdk-cli` installs).
	CDK string
	// Out receives the progress lines (nil discards them).
	Out io.Writer
}

// Report is what a rehearsal did.
type Report struct {
	Org Org
	// Stacks are the stacks of the first deploy, in order; Redeployed those after destroy (with
	// ReinstallPrefix).
	Stacks, Redeployed []deployedStack
	// SameNamesRefused is the error of deploying the default names again over the retained resources.
	SameNamesRefused string
	// SkippedTypes are the resource types the emulator skipped, with counts ("AWS::X::Y (2)").
	SkippedTypes []string
	// Functions are the deployed function configurations read back, by function name.
	Functions map[string]FunctionConfig
	// Converged lists what each replay changed, in order.
	Converged []string
	// Retained lists what survived the destroy (the audit table).
	Retained []string
}

// Org is the seeded organization: the management account (the local AWS's default account), the
// hub and two members in their own OUs.
type Org struct {
	ID, RootID                        string
	Management, Hub, MemberA, MemberB string
	WorkloadsOU, SandboxOU            string
}

type run struct {
	opt Options
	srv *localaws.Server
	dir string
	out string // cdk.out of the default installation
	// reinstall is the synthesis with ReinstallPrefix, made while the first installation is tested.
	reinstall chan error
	org       Org
	log       io.Writer
}

func (r *run) printf(format string, args ...any) { fmt.Fprintf(r.log, format, args...) }

// Run performs the rehearsal on a local AWS it starts and stops.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Root == "" {
		root, err := lambdalocal.ModuleRoot()
		if err != nil {
			return nil, err
		}
		opt.Root = root
	}
	if opt.CDK == "" {
		opt.CDK = filepath.Join(opt.Root, ".tools", "node_modules", ".bin", "cdk")
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	dir, err := os.MkdirTemp("", "ecr-warden-rehearsal-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	r := &run{opt: opt, srv: srv, dir: dir, out: filepath.Join(dir, "cdk.out"), log: opt.Out}
	return r.rehearse(ctx)
}

func (r *run) rehearse(ctx context.Context) (*Report, error) {
	rep := &Report{Functions: map[string]FunctionConfig{}}
	if err := r.seed(ctx); err != nil {
		return nil, err
	}
	rep.Org = r.org
	r.printf("organization %s: management %s, hub %s, members %s (workloads) and %s (sandbox)\n",
		r.org.ID, r.org.Management, r.org.Hub, r.org.MemberA, r.org.MemberB)
	if err := r.build(ctx); err != nil {
		return nil, err
	}
	if err := r.synth(ctx, r.out, ""); err != nil {
		return nil, err
	}
	r.reinstall = make(chan error, 1)
	go func() { r.reinstall <- r.synth(ctx, r.out+"-"+ReinstallPrefix, ReinstallPrefix) }()
	defer func() { <-r.reinstall }()
	stacks, err := r.deploy(ctx, r.out, "")
	if err != nil {
		return rep, err
	}
	rep.Stacks = stacks
	rep.SkippedTypes = skippedTypes(stacks)
	r.printf("resource types the local AWS skipped (not created, so not rehearsed):\n")
	for _, t := range rep.SkippedTypes {
		r.printf("  %s\n", t)
	}
	fns, err := r.startFunctions(ctx, rep)
	if err != nil {
		return rep, err
	}
	defer fns.close()
	if err := r.replay(ctx, fns, rep); err != nil {
		return rep, err
	}
	if err := r.destroyAndRedeploy(ctx, stacks, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// seed creates the organization: OUs workloads and sandbox, and the hub and two members.
func (r *run) seed(ctx context.Context) error {
	c := organizations.NewFromConfig(r.srv.Config(Region))
	o, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		return fmt.Errorf("creating the organization: %w", err)
	}
	r.org.ID, r.org.Management = aws.ToString(o.Organization.Id), aws.ToString(o.Organization.MasterAccountId)
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) == 0 {
		return fmt.Errorf("listing the roots: %v", err)
	}
	r.org.RootID = aws.ToString(roots.Roots[0].Id)
	ou := func(name string) (string, error) {
		out, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(r.org.RootID), Name: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("creating OU %s: %w", name, err)
		}
		return aws.ToString(out.OrganizationalUnit.Id), nil
	}
	if r.org.WorkloadsOU, err = ou("workloads"); err != nil {
		return err
	}
	if r.org.SandboxOU, err = ou("sandbox"); err != nil {
		return err
	}
	account := func(name, parent string) (string, error) {
		out, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			return "", fmt.Errorf("creating account %s: %w", name, err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		if parent != "" {
			if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
				SourceParentId: aws.String(r.org.RootID), DestinationParentId: aws.String(parent)}); err != nil {
				return "", fmt.Errorf("moving account %s: %w", name, err)
			}
		}
		return id, nil
	}
	if r.org.Hub, err = account("hub", ""); err != nil {
		return err
	}
	if r.org.MemberA, err = account("team-a", r.org.WorkloadsOU); err != nil {
		return err
	}
	r.org.MemberB, err = account("team-b", r.org.SandboxOU)
	return err
}

// declaration is the rehearsal's declaration: organization-wide pull on team-a/* and shared/* in
// the hub and every member, and pull-through cache (with a rule caching from the hub) in the
// workloads OU only, so an account moved there gains it.
func (r *run) declaration() string {
	return fmt.Sprintf(`{
  "hub": {"accountId": %q, "regions": [%q], "partition": "aws", "organizationId": %q, "managementAccountId": %q},
  "grants": [
    {"name": "org-pull", "repositories": ["team-a/*", "shared/*"], "access": "pull", "principals": {"organization": true},
     "placement": "repository", "registries": {"hub": true, "allMembers": true}}
  ],
  "pullThroughCache": {
    "members": {"ous": ["%s/%s/%s/"]},
    "rules": [
      {"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws", "upstreamRegistry": "ecr-public"},
      {"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}
    ]
  }
}
`, r.org.Hub, Region, r.org.ID, r.org.Management, r.org.ID, r.org.RootID, r.org.WorkloadsOU)
}

// build builds the functions for this host into an asset root with the declaration.
func (r *run) build(ctx context.Context) error {
	decl := filepath.Join(r.dir, "declaration.json")
	if err := os.WriteFile(decl, []byte(r.declaration()), 0o644); err != nil {
		return err
	}
	assets := filepath.Join(r.dir, "assets")
	for _, fn := range functions {
		bin, err := lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, assets)
		if err != nil {
			return err
		}
		if err := copyFile(decl, filepath.Join(filepath.Dir(bin), "declaration.json")); err != nil {
			return err
		}
	}
	return nil
}

// synth runs the real `cdk synth` with the local switch (and prefix, if any) into out.
func (r *run) synth(ctx context.Context, out, prefix string) error {
	args := []string{"synth", "--quiet", "--output", out, "-c", "declaration=" + filepath.Join(r.dir, "declaration.json"),
		"-c", "assetRoot=" + filepath.Join(r.dir, "assets"), "-c", "local=true"}
	if prefix != "" {
		args = append(args, "-c", "namePrefix="+prefix)
	}
	cmd := exec.CommandContext(ctx, r.opt.CDK, args...)
	cmd.Dir = r.opt.Root
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_VERSION_CHECK=1", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
	r.printf("cdk %s\n", strings.Join(args, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cdk synth (local): %v\n%s", err, out)
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// config acts as account in the rehearsal region (the management account is the default one).
func (r *run) config(ctx context.Context, account string) (aws.Config, error) {
	base := r.srv.Config(Region)
	if account == r.org.Management {
		return base, nil
	}
	return localaws.AccountConfig(ctx, base, account, accessRole)
}

// stackPlan is one stack to create: its name, account and template.
type stackPlan struct {
	name, account string
	template      []byte
	assets        bool // publish <name>.assets.json first
}

// plan lists the stacks of the synthesis in dir in the documented order: Management, Members (the
// StackSet), the member template as a plain stack in each member (what the StackSet would create
// there), the hub.
func (r *run) plan(dir, prefix string) ([]stackPlan, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name+".template.json")) }
	p := ""
	if prefix != "" {
		p = prefix + "-"
	}
	var out []stackPlan
	for _, s := range []struct{ name, account string }{
		{p + "EcrWarden-Management", r.org.Management}, {p + "EcrWarden-Members", r.org.Management},
	} {
		t, err := read(s.name)
		if err != nil {
			return nil, fmt.Errorf("reading the synthesized template of %s: %w", s.name, err)
		}
		out = append(out, stackPlan{s.name, s.account, t, true})
	}
	member, err := memberTemplate(out[1].template)
	if err != nil {
		return nil, err
	}
	for _, m := range []string{r.org.MemberA, r.org.MemberB} {
		out = append(out, stackPlan{"StackSet-" + p + "ecr-warden-members-" + m, m, member, false})
	}
	hub := p + "EcrWarden-Hub-" + Region
	t, err := read(hub)
	if err != nil {
		return nil, fmt.Errorf("reading the synthesized template of %s: %w", hub, err)
	}
	return append(out, stackPlan{hub, r.org.Hub, t, true}), nil
}

// memberTemplate is the TemplateBody of the Members stack's StackSet.
func memberTemplate(members []byte) ([]byte, error) {
	var t struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(members, &t); err != nil {
		return nil, err
	}
	for _, res := range t.Resources {
		if body, ok := res.Properties["TemplateBody"].(string); ok && res.Type == "AWS::CloudFormation::StackSet" {
			return []byte(body), nil
		}
	}
	return nil, errors.New("the Members template holds no StackSet with a TemplateBody")
}

// deploy creates every stack of the synthesis in dir in order.
func (r *run) deploy(ctx context.Context, dir, prefix string) ([]deployedStack, error) {
	plan, err := r.plan(dir, prefix)
	if err != nil {
		return nil, err
	}
	var out []deployedStack
	for _, s := range plan {
		cfg, err := r.config(ctx, s.account)
		if err != nil {
			return out, err
		}
		if s.assets {
			if err := r.bootstrapEnvironment(ctx, cfg, s.account); err != nil {
				return out, err
			}
			if err := r.publishAssets(ctx, cfg, dir, s.account, s.name); err != nil {
				return out, err
			}
		}
		ds, err := r.createStack(ctx, cfg, s.account, s.name, s.template)
		if err != nil {
			return out, err
		}
		r.printf("created %s in %s: %d resources, %d skipped by the local AWS\n", ds.Name, ds.Account, ds.Created, len(ds.Skipped))
		out = append(out, ds)
	}
	return out, nil
}

// skippedTypes counts the skipped resources by type.
func skippedTypes(stacks []deployedStack) []string {
	n := map[string]int{}
	for _, s := range stacks {
		for _, sk := range s.Skipped {
			t, _, _ := strings.Cut(sk, " ")
			n[t]++
		}
	}
	var out []string
	for t, c := range n {
		out = append(out, fmt.Sprintf("%s (%d)", t, c))
	}
	sort.Strings(out)
	return out
}
