package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
)

const region = "us-east-1"

// TestPlanIsTheBackfillDryRun: on a seeded organization in the local AWS, `make plan` (Run) answers
// exactly the plan the deployed backfill's dry run answers (same documents, ops, diffs and counts),
// also when it reads members through OrganizationAccountAccessRole as before an install. After that
// declaration is applied, a declaration with one more grant plans exactly that grant's statements.
func TestPlanIsTheBackfillDryRun(t *testing.T) {
	localaws.Need(t)
	ctx := t.Context()
	srv, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg := srv.Config(region)
	org, err := localrun.SeedOrg(ctx, cfg, []string{"workloads", "sandbox"}, 2, localrun.MemberRole)
	if err != nil {
		t.Fatal(err)
	}
	if err := localrun.CreateRepositories(ctx, cfg, []string{"team/app", "apps/web", "apps/api", "other/x"}, 4); err != nil {
		t.Fatal(err)
	}
	for _, a := range org.Accounts {
		member, err := localrun.Config(ctx, cfg, org.Management, a.ID, localrun.MemberRole)
		if err != nil {
			t.Fatal(err)
		}
		if err := localrun.CreateRepositories(ctx, member, []string{"team/svc", "apps/web"}, 4); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	d0 := filepath.Join(dir, "declaration.json")
	if err := os.WriteFile(d0, []byte(localrun.Declaration(org, region)), 0o644); err != nil {
		t.Fatal(err)
	}

	// The backfill as deployed: its own tables and queue, a dry run.
	lenv, err := localrun.Prepare(ctx, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	bins := filepath.Join(dir, "bin")
	start := func(fn string) *lambdalocal.Instance {
		bin, err := lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, bins)
		if err != nil {
			t.Fatal(err)
		}
		env := lenv.Vars()
		maps.Copy(env, map[string]string{"WARDEN_DECLARATION_FILE": d0, "AWS_ENDPOINT_URL": srv.URL, "WARDEN_ORG_ROLE_ARN": ""})
		inst, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: "ecr-warden-" + fn, Binary: bin, Env: env, Region: region,
			Timeout: 3 * time.Minute, InitTimeout: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { inst.Close() })
		return inst
	}
	backfill := start("backfill")
	invoke := func(payload string) Result {
		res, err := backfill.Invoke(ctx, []byte(payload))
		if err != nil || res.Err != nil {
			t.Fatalf("backfill %s: %v %v\n%s", payload, err, res.Err, strings.Join(res.Logs, "\n"))
		}
		var r Result
		if err := json.Unmarshal(res.Payload, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	dry := invoke(Payload)
	if dry.Summary == nil || dry.Summary.Planned == 0 {
		t.Fatalf("the dry run plans nothing: %+v", dry)
	}
	creds := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}
	// A declaration whose management account is mistyped is refused before anything is built or
	// planned, naming the field and the organization's value (before, it planned the real
	// management account as a member, every unit of it failing to assume the execution role).
	var wrongIDs map[string]any
	if err := json.Unmarshal([]byte(localrun.Declaration(org, region)), &wrongIDs); err != nil {
		t.Fatal(err)
	}
	wrongIDs["hub"].(map[string]any)["managementAccountId"] = "999999999999"
	dWrong := filepath.Join(dir, "wrong-ids.json")
	if b, _ := json.Marshal(wrongIDs); os.WriteFile(dWrong, b, 0o644) != nil {
		t.Fatal("writing", dWrong)
	}
	if got, err := Run(ctx, Options{Declaration: dWrong, Credentials: creds, Endpoint: srv.URL}); got != nil ||
		!errors.As(err, new(MismatchError)) || !strings.Contains(err.Error(), "hub.managementAccountId is 999999999999, but the organization's is "+org.Management) {
		t.Errorf("wrong managementAccountId: %+v, %v; want a MismatchError naming the field and %s", got, err, org.Management)
	}
	for _, role := range []string{"", "OrganizationAccountAccessRole"} {
		got, err := Run(ctx, Options{Declaration: d0, MemberRole: role, Credentials: creds, Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sorted(got.Plan), sorted(dry.Plan)) || !reflect.DeepEqual(got.Summary, dry.Summary) ||
			got.Units != dry.Units || got.Accounts != dry.Accounts {
			t.Errorf("make plan (member role %q) differs from the backfill dry run:\nplan %+v %+v\ndry run %+v %+v", role, got.Summary, got.Plan, dry.Summary, dry.Plan)
		}
		if role == "" {
			var out bytes.Buffer
			Print(&out, got)
			t.Logf("make plan:\n%s", out.String())
			if !strings.Contains(out.String(), "documents examined") || !strings.Contains(out.String(), "+ ") {
				t.Errorf("printed plan lacks the diff or the counts:\n%s", out.String())
			}
		}
	}

	// Apply d0 (fan-out through the worker), then plan one more grant.
	run := invoke(`{"action":"backfill","targets":{"all":true}}`)
	drained, err := localrun.Drain(ctx, sqs.NewFromConfig(cfg), lenv, region, start("worker"), 10, 1, 20)
	if err != nil || drained.Done != run.Units || drained.Failures != 0 {
		t.Fatalf("applying the declaration: %d of %d units (%d failures): %v", drained.Done, run.Units, drained.Failures, err)
	}
	var decl map[string]any
	if err := json.Unmarshal([]byte(localrun.Declaration(org, region)), &decl); err != nil {
		t.Fatal(err)
	}
	decl["grants"] = append(decl["grants"].([]any), map[string]any{"name": "apps-pull", "repositories": []string{"apps/*"},
		"access": "pull", "principals": map[string]any{"organization": true}, "placement": "repository", "registries": map[string]any{"hub": true}})
	d1 := filepath.Join(dir, "changed.json")
	b, _ := json.Marshal(decl)
	if err := os.WriteFile(d1, b, 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := Run(ctx, Options{Declaration: d1, Credentials: creds, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	Print(&out, changed)
	t.Logf("make plan of the changed declaration:\n%s", out.String())
	var targets []string
	for _, c := range changed.Plan {
		targets = append(targets, c.Op+" "+c.Target)
		if !strings.Contains(c.Diff, `+ "EcrWardenAppsPull`) || strings.Contains(c.Diff, "- ") || strings.Contains(c.Diff, "~ ") {
			t.Errorf("%s: the diff is not exactly the new grant:\n%s", c.Target, c.Diff)
		}
	}
	sort.Strings(targets)
	want := []string{"create arn:aws:ecr:us-east-1:" + org.Management + ":repository/apps/api",
		"create arn:aws:ecr:us-east-1:" + org.Management + ":repository/apps/web"}
	if !reflect.DeepEqual(targets, want) || changed.Summary.Planned != 2 || changed.Summary.Refused != 0 {
		t.Errorf("the changed declaration plans %v (%+v), want exactly %v", targets, changed.Summary, want)
	}
}

func sorted(c []Change) []Change {
	out := append([]Change(nil), c...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Diff < out[j].Diff
	})
	return out
}
