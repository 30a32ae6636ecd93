package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// SeedOptions say what `make emulator SEED=demo` builds and where it writes.
type SeedOptions struct {
	// Declaration is the example declaration (default infra/declaration.json
	// under Root) whose ids are mapped onto the seeded organization.
	Declaration string
	// Root is the module root holding events/ ("" finds it).
	Root string
	// Dir receives declaration.json, events/ (every sample with the seeded
	// ids) and env.sh (the exports); default build/emulator under Root.
	Dir string
}

// Seeded is what Seed built: the ids and the files it wrote.
type Seeded struct {
	// IDs maps each example id to the seeded one, in print order, with a
	// label ("hub", "member team-a", ...).
	IDs [][3]string
	// Declaration is the rendered declaration; Events the directory of
	// rewritten sample events; EnvFile the exports as a shell file.
	Declaration, Events, EnvFile string
	// Exports are the environment variables to set (name, value), in print
	// order: endpoint, the hub's credentials, region, declaration, tables.
	Exports [][2]string
	// Created lists the roles and secrets made because the declaration names
	// them ("role team-a-ci in 123...", ...).
	Created []string
}

// Seed builds the demo organization in a running local AWS, so that
// `make invoke`, `make backfill LOCAL=1` and `make audit` have something real
// to act on: management (moto's default account), hub, members team-a (in
// OU workloads/team-a) and security (at the root), the audit and lease
// tables in the hub, the member execution role and the organization reader,
// and every role and secret the example declaration names (an emulator that
// checks principals would otherwise leave them out). It writes the
// declaration and every sample event with the seeded ids, and the exports
// that act as the hub.
func Seed(ctx context.Context, srv *localaws.Server, opt SeedOptions) (*Seeded, error) {
	if opt.Root == "" {
		root, err := lambdalocal.ModuleRoot()
		if err != nil {
			return nil, err
		}
		opt.Root = root
	}
	if opt.Declaration == "" {
		opt.Declaration = filepath.Join(opt.Root, "infra", "declaration.json")
	}
	if opt.Dir == "" {
		opt.Dir = filepath.Join(opt.Root, "build", "emulator")
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "events"), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", opt.Dir, err)
	}
	w := &world{srv: srv}
	if err := w.buildOrganization(ctx); err != nil {
		return nil, err
	}
	if err := w.renderDeclaration(opt.Declaration, opt.Dir); err != nil {
		return nil, err
	}
	if err := w.createLeaseTables(ctx); err != nil {
		return nil, err
	}
	out := &Seeded{Declaration: w.declPath, Events: filepath.Join(opt.Dir, "events"), EnvFile: filepath.Join(opt.Dir, "env.sh")}
	labels := map[string]string{exampleManagement: "management (moto's default account)", exampleHub: "hub", exampleTeamA: "member team-a (OU workloads/team-a)",
		exampleSecurity: "member security (root)", exampleOrg: "organization", exampleRoot: "root", exampleWorkloads: "OU workloads", exampleTeamAOU: "OU workloads/team-a"}
	for _, p := range w.ids {
		out.IDs = append(out.IDs, [3]string{p[0], p[1], labels[p[0]]})
	}
	created, err := w.seedPrincipals(ctx)
	if err != nil {
		return nil, err
	}
	out.Created = created
	if err := w.writeEvents(opt.Root, out.Events); err != nil {
		return nil, err
	}
	// The exports act as the hub, as the deployed functions do: make invoke
	// and make backfill LOCAL=1 hand these credentials to the functions, and
	// make audit reads the hub's table with them.
	hub, err := localaws.AccountConfig(ctx, srv.Config(region), w.hub, "ecr-warden-operator")
	if err != nil {
		return nil, fmt.Errorf("hub credentials: %w", err)
	}
	creds, err := hub.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("hub credentials: %w", err)
	}
	out.Exports = [][2]string{
		{"AWS_ENDPOINT_URL", srv.URL},
		{"AWS_ACCESS_KEY_ID", creds.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey},
		{"AWS_SESSION_TOKEN", creds.SessionToken},
		{"AWS_REGION", region},
		{"AWS_DEFAULT_REGION", region},
		{"DECLARATION", w.declPath},
		{"WARDEN_DECLARATION_FILE", w.declPath},
		{"WARDEN_AUDIT_TABLE", auditTable},
		{"WARDEN_LEASE_TABLE", leaseTable},
		{"WARDEN_ORG_ROLE_ARN", w.orgReaderARN()},
	}
	var env strings.Builder
	for _, kv := range out.Exports {
		fmt.Fprintf(&env, "export %s=%s\n", kv[0], kv[1])
	}
	if err := os.WriteFile(out.EnvFile, []byte(env.String()), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out.EnvFile, err)
	}
	return out, nil
}

// Print writes what Seed built for a person: the ids, the files and the
// exports to paste.
func (s *Seeded) Print(w io.Writer, root string) {
	fmt.Fprintln(w, "seeded the demo organization:")
	for _, id := range s.IDs {
		fmt.Fprintf(w, "  %-16s -> %-16s %s\n", id[0], id[1], id[2])
	}
	for _, c := range s.Created {
		fmt.Fprintf(w, "  created %s\n", c)
	}
	fmt.Fprintf(w, "declaration with these ids: %s\n", rel(root, s.Declaration))
	fmt.Fprintf(w, "sample events with these ids: %s/\n", rel(root, s.Events))
	fmt.Fprintf(w, "in another shell (or: source %s):\n", rel(root, s.EnvFile))
	for _, kv := range s.Exports {
		fmt.Fprintf(w, "  export %s=%s\n", kv[0], kv[1])
	}
}

// seedPrincipals creates what the declaration names but ecr-warden does not
// create itself, with the demo's own seeding (seedPrerequisites, so the
// emulator and the demo build the same organization): the member execution
// role in every member and the organization reader in the management
// account (localaws.SeedAssumedRoles, as every local world), the roles
// grants and public grants name, the PTC statement's role names in every
// member, and the PTC credential secrets in every member and hub region
// (localaws.SeedPrerequisites). It returns one line per thing created, read
// as what exists after seeding and did not before.
func (w *world) seedPrincipals(ctx context.Context) ([]string, error) {
	before, err := w.seededPrincipals(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.seedPrerequisites(ctx); err != nil {
		return nil, err
	}
	after, err := w.seededPrincipals(ctx)
	if err != nil {
		return nil, err
	}
	var created []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			created = append(created, p)
		}
	}
	return created, nil
}

// seededPrincipals lists, sorted, the roles of every account of the demo
// organization ("role <path/name> in <account>") and the secrets of every
// member in every hub region ("secret <name> in <account>/<region>").
func (w *world) seededPrincipals(ctx context.Context) ([]string, error) {
	var out []string
	for _, a := range []string{w.management, w.hub, w.teamA, w.security} {
		cfg, err := w.config(ctx, a)
		if err != nil {
			return nil, err
		}
		p := iam.NewListRolesPaginator(iam.NewFromConfig(cfg), &iam.ListRolesInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the roles of %s: %w", a, err)
			}
			for _, r := range page.Roles {
				out = append(out, fmt.Sprintf("role %s%s in %s", strings.TrimPrefix(aws.ToString(r.Path), "/"), aws.ToString(r.RoleName), a))
			}
		}
	}
	for _, m := range []string{w.teamA, w.security} {
		cfg, err := w.config(ctx, m)
		if err != nil {
			return nil, err
		}
		for _, r := range w.decl.Hub.Regions {
			c := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = r })
			p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return nil, fmt.Errorf("listing the secrets of %s/%s: %w", m, r, err)
				}
				for _, s := range page.SecretList {
					out = append(out, fmt.Sprintf("secret %s in %s/%s", aws.ToString(s.Name), m, r))
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// writeEvents writes every sample event under root/events with the seeded
// ids into dir.
func (w *world) writeEvents(root, dir string) error {
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := w.event(root, filepath.Base(f), "")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return fmt.Errorf("writing the seeded event %s: %w", filepath.Base(f), err)
		}
	}
	return nil
}
