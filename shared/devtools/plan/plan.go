// Package plan is `make plan`: the plan a deploy would apply, before the deploy. It is the backfill's
// own dry run, not a second planner: the real backfill binary (built for this host) runs under the
// local Lambda runtime with the caller's own credentials, reads the organization (directly, or
// through a reader role) and each member through a configurable role (the execution role after
// install, OrganizationAccountAccessRole before it), and answers the plan per document with its
// readable diff and the counts.
//
// The dry run writes nothing to AWS, but it records each planned change in the audit trail and
// its setup needs a lease table; both go to a throwaway local DynamoDB this package starts
// (AWS_ENDPOINT_URL_DYNAMODB), so read-only credentials are enough and the real audit trail is not
// touched.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/install"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// Payload is the backfill dry run over every target: what the deploy-time backfill plans first.
const Payload = `{"action":"backfill","targets":{"all":true},"dryRun":true}`

// Sink tables in the throwaway local DynamoDB.
const (
	sinkAuditTable = "ecr-warden-plan-audit"
	sinkLeaseTable = "ecr-warden-plan-lease"
)

// Options say what to plan and how to read AWS.
type Options struct {
	// Declaration is the declaration file to plan.
	Declaration string
	// MemberRole is the role read in members (and in the hub when the credentials are not the
	// hub's): "" means the declaration's memberRoleName (after install); OrganizationAccountAccessRole
	// before it. The desired documents do not depend on it.
	MemberRole string
	// OrgRoleARN is the role read for Organizations; "" means the credentials' own (the management
	// account, or a delegated administrator).
	OrgRoleARN string
	// Credentials are the caller's (read-only suffices).
	Credentials aws.Credentials
	// Endpoint, when set, is a local AWS to plan against instead of AWS.
	Endpoint string
	// Payload overrides the dry-run payload (a narrower target); it must be a dry run.
	Payload string
}

// Result is the backfill's dry-run answer.
type Result struct {
	Error    string            `json:"error,omitempty"`
	RunID    string            `json:"runId,omitempty"`
	Request  string            `json:"request,omitempty"`
	Regions  []string          `json:"regions,omitempty"`
	Accounts int               `json:"accounts"`
	Units    int               `json:"units"`
	Summary  *reconcile.Report `json:"summary,omitempty"`
	Plan     []Change          `json:"plan,omitempty"`
	// Failures are units that could not be planned (e.g. a member role that cannot be assumed).
	Failures []struct {
		Account string `json:"account"`
		Region  string `json:"region"`
		Error   string `json:"error"`
	} `json:"failures,omitempty"`
	PlanTruncated string `json:"planTruncated,omitempty"`
}

// Change is one document of the plan.
type Change struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Op     string `json:"op"`
	Diff   string `json:"diff"`
}

// Run plans opt.Declaration with the real backfill binary.
func Run(ctx context.Context, opt Options) (*Result, error) {
	decl, err := config.Load(opt.Declaration) // its errors name the file
	if err != nil {
		return nil, err
	}
	if err := checkIDs(ctx, opt, decl); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ecr-warden-plan-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	declPath, err := withMemberRole(opt.Declaration, opt.MemberRole, dir)
	if err != nil {
		return nil, err
	}
	bin, err := lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/backfill", filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	sink, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		return nil, fmt.Errorf("starting the local DynamoDB the dry run records into: %w", err)
	}
	defer sink.Stop()
	db := dynamodb.NewFromConfig(sink.Config(decl.Hub.Regions[0]))
	if err := audit.CreateTable(ctx, db, sinkAuditTable); err != nil {
		return nil, err
	}
	if err := lease.CreateTable(ctx, db, sinkLeaseTable); err != nil {
		return nil, err
	}
	env := map[string]string{
		"WARDEN_DECLARATION_FILE":   declPath,
		"WARDEN_AUDIT_TABLE":        sinkAuditTable,
		"WARDEN_LEASE_TABLE":        sinkLeaseTable,
		"WARDEN_WORK_QUEUE_URL":     "",
		"WARDEN_ORG_ROLE_ARN":       opt.OrgRoleARN,
		"AWS_ENDPOINT_URL_DYNAMODB": sink.URL,
		"AWS_ACCESS_KEY_ID":         opt.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     opt.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN":         opt.Credentials.SessionToken,
	}
	if opt.Endpoint != "" {
		env["AWS_ENDPOINT_URL"] = opt.Endpoint
	}
	inst, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: "ecr-warden-plan", Binary: bin, Env: env,
		Region: decl.Hub.Regions[0], Timeout: 15 * time.Minute, InitTimeout: time.Minute})
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	payload := opt.Payload
	if payload == "" {
		payload = Payload
	}
	res, err := inst.Invoke(ctx, []byte(payload))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, runFailed(res.Err, res.Logs, opt.OrgRoleARN)
	}
	var out Result
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		return nil, fmt.Errorf("decoding the dry run's answer: %w", err)
	}
	if out.Error != "" {
		return &out, fmt.Errorf("the backfill refused the payload: %s", out.Error)
	}
	return &out, nil
}

// checkIDs compares the declaration's hub ids with the organization, read as the dry run reads it
// (through opt.OrgRoleARN, else with the caller's credentials), before anything is built: a wrong
// managementAccountId would otherwise plan the real management account as a member, and a wrong
// hub.accountId fail every hub unit with an AssumeRole refusal that does not say which id is wrong.
// An organization it cannot read is left to the dry run, whose failure says what to do.
func checkIDs(ctx context.Context, opt Options, decl *config.Declaration) error {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(policy.OrganizationsEventsRegion(decl.Hub.Partition)),
		awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: opt.Credentials}))
	if err != nil {
		return nil
	}
	if opt.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(opt.Endpoint)
	}
	if opt.OrgRoleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), opt.OrgRoleARN))
	}
	wrong, err := inventory.NewOrg(organizations.NewFromConfig(cfg), inventory.OrgOptions{}).
		Mismatches(ctx, decl.Hub.OrganizationID, decl.Hub.ManagementAccountID, decl.Hub.AccountID)
	if err != nil || len(wrong) == 0 {
		return nil
	}
	var lines []string
	for _, m := range wrong {
		lines = append(lines, "  "+m.String())
	}
	return MismatchError{fmt.Sprintf("declaration %s does not match the organization these credentials read (nothing was planned):\n%s\n"+
		"correct these fields in the declaration, or use the credentials of organization %s's management account",
		opt.Declaration, strings.Join(lines, "\n"), decl.Hub.OrganizationID)}
}

// CheckOrgRole says what is wrong with an ORG_ROLE (or WARDEN_ORG_ROLE_ARN) that is not an IAM
// role ARN with a 12-digit account, before anything is built: the backfill would refuse it at
// init (function.ParseRoleARN, the check asked here too), and the dry run's failure would name
// only WARDEN_ORG_ROLE_ARN.
func CheckOrgRole(roleARN string) error {
	if _, _, _, err := function.ParseRoleARN(roleARN); err == nil {
		return nil
	}
	return MismatchError{fmt.Sprintf("ORG_ROLE (-org-role; default WARDEN_ORG_ROLE_ARN) %q is not a role ARN: want the "+
		"organization reader's, arn:aws:iam::<management account>:role/%s, or set neither ORG_ROLE nor WARDEN_ORG_ROLE_ARN to read the organization "+
		"with your own credentials", roleARN, install.Name(install.OrgReaderRole))}
}

// MismatchError is bad input (a declaration whose hub ids are not the organization's, an ORG_ROLE
// that is no role ARN): the plan command exits 2, not 1 as for a failed run.
type MismatchError struct{ msg string }

func (e MismatchError) Error() string { return e.msg }

// runFailed says why the dry run failed: the function's own message (not
// its Go error type, which tells an operator nothing), the log lines other
// than the runtime's echo of that message, and, when reading the
// organization failed, the credentials that can.
func runFailed(fe *lambdalocal.FunctionError, logs []string, orgRole string) error {
	msg := fe.Message
	if msg == "" {
		msg = fe.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the backfill dry run failed: %s", msg)
	for _, l := range logs {
		if !strings.Contains(l, `\"errorMessage\"`) && strings.TrimSpace(l) != "" {
			b.WriteString("\n  " + l)
		}
	}
	if strings.Contains(msg, "walking the organization") || strings.Contains(msg, "organization") && strings.Contains(msg, "AccessDenied") {
		if orgRole == "" {
			b.WriteString("\nnext: these credentials cannot read the organization (ListRoots, ListOrganizationalUnitsForParent, " +
				"ListAccountsForParent): use the management account's (or a delegated administrator's) credentials, or " +
				"ORG_ROLE=<reader role ARN> (after an install: arn:aws:iam::<management>:role/ecr-warden-organization-reader; " +
				"on make emulator SEED=demo, source build/emulator/env.sh sets WARDEN_ORG_ROLE_ARN, which make plan uses)")
		} else {
			b.WriteString("\nnext: the organization is read through " + orgRole + ": check that your credentials may assume it and that it may list the organization")
		}
	}
	return errors.New(b.String())
}

// withMemberRole returns the declaration to run: the file itself, or a copy whose memberRoleName
// is role (the only field changed; it decides which role is assumed, not what is desired).
func withMemberRole(path, role, dir string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil || role == "" {
		return abs, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("declaration %s: %w", path, err)
	}
	m["memberRoleName"], _ = json.Marshal(role)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "declaration.json")
	return out, os.WriteFile(out, b, 0o644)
}

// Print writes the plan as a person reads it: per document its operation, kind and target and
// the statements added (+), changed (~) and removed (-), then the counts and any refusal or failure.
func Print(w io.Writer, r *Result) {
	changes := append([]Change(nil), r.Plan...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].Target < changes[j].Target })
	for _, c := range changes {
		// A diff's first line names its op and target ("create ecr-registry-policy arn:..."); a
		// header above it would say the same twice.
		if !strings.HasPrefix(c.Diff, c.Op+" ") {
			fmt.Fprintf(w, "%s %s %s\n", c.Op, c.Kind, c.Target)
		}
		fmt.Fprintf(w, "%s\n\n", strings.TrimRight(c.Diff, "\n"))
	}
	if r.PlanTruncated != "" {
		fmt.Fprintf(w, "(plan truncated: %s)\n", r.PlanTruncated)
	}
	fmt.Fprintf(w, "%s: %d accounts, %d units", r.Request, r.Accounts, r.Units)
	if s := r.Summary; s != nil {
		fmt.Fprintf(w, "; documents examined %d, unchanged %d, to change %d, refused %d, failed %d\n",
			s.Examined, s.Unchanged, s.Planned, s.Refused, s.Failed)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  ! %s\n", e)
		}
	} else {
		fmt.Fprintln(w)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  ! unit %s/%s: %s\n", f.Account, f.Region, f.Error)
	}
	if s := r.Summary; s != nil && (s.Refused > 0 || s.Failed > 0) || len(r.Failures) > 0 {
		fmt.Fprintln(w, "not clean (exit 1): while the plan refuses or fails a document, the deploy-time backfill applies only "+
			"revocations (requireCleanPlan). Fix each ! above and run make plan again, or deploy with ALLOW_REFUSALS=true to apply the rest anyway.")
	} else if s := r.Summary; s != nil && s.Planned == 0 && len(r.Plan) == 0 {
		fmt.Fprintln(w, "clean: nothing to change, AWS already matches the declaration.")
	} else {
		fmt.Fprintln(w, "clean: a deploy of this declaration applies exactly this plan.")
	}
}
