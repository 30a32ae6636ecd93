// Package function is what every ecr-warden Lambda function builds from its
// environment at cold start: the JSON logger with the request id, the SDK
// configuration, the function's own identity, the declaration, the audit
// trail, the lease table, the Organizations reader (for the functions that
// read the organization) and the reconcile engine over all of them. It lives
// for the execution environment, so each functions/<name>/main.go is a few
// lines of wiring and each handler holds only what it decides with.
//
// It also holds the one path every event handler shares: an event that
// retrying cannot help is recorded as a short "rejected" audit record (Reject).
package function

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/workqueue"
)

// Environment variables of the function runtime contract that Load reads.
// A function-specific one (the backfill's queue, drift's own role names) is
// declared in that function's Spec.Env and read with Spec.Var.
const (
	// DeclarationFile is the declaration's path; unset means declaration.json
	// next to bootstrap (LAMBDA_TASK_ROOT, or the binary's directory).
	DeclarationFile = "WARDEN_DECLARATION_FILE"
	// AuditTable is the DynamoDB audit table.
	AuditTable = "WARDEN_AUDIT_TABLE"
	// LeaseTable is the DynamoDB lease table.
	LeaseTable = "WARDEN_LEASE_TABLE"
	// OrgRoleARN is the management account's read-only role for
	// Organizations ("" = the function's own credentials). Declaring it is
	// what gives a function an Organizations reader.
	OrgRoleARN = "WARDEN_ORG_ROLE_ARN"
	// WorkQueueURL is the worker's SQS queue. Declaring it gives the engine
	// a queue (reconcile.Engine.Queue): the backfill fans out through it and
	// the account function hands a moved account's repositories to it.
	WorkQueueURL = "WARDEN_WORK_QUEUE_URL"
	// SelfRoleNames is the drift function's list of the hub functions' own
	// role names (comma separated; the stack computes them): writes made in
	// their sessions are ecr-warden's and are not re-converged.
	SelfRoleNames = "WARDEN_SELF_ROLE_NAMES"
)

// required are the variables every function reads.
var required = []string{DeclarationFile, AuditTable, LeaseTable}

// Spec says which function is starting and which WARDEN_ variables it reads.
type Spec struct {
	// Name is the function's short name ("repository", "account", ...): it
	// names its role sessions in member CloudTrail.
	Name string
	// Env is every WARDEN_ variable the function reads, and so exactly what
	// the CDK stack must set: infra's TestFunctionEnvIsWhatEachMainReads
	// compares the two. It must hold DeclarationFile, AuditTable and
	// LeaseTable; OrgRoleARN when the function reads the organization; and
	// any variable the function reads itself through Var.
	Env []string
}

// Var is the value of a WARDEN_ variable the spec declares. Reading an
// undeclared one panics at cold start: the stack would not set it, so the
// function would silently see "" in AWS.
func (s Spec) Var(name string) string {
	if !slices.Contains(s.Env, name) {
		panic(fmt.Sprintf("function %s reads %s, which its Spec.Env does not declare (the stack sets only declared variables)", s.Name, name))
	}
	return os.Getenv(name)
}

// Env is what a function builds once per execution environment.
type Env struct {
	Spec Spec
	Log  *slog.Logger
	// AWS is the function's own SDK configuration (awsapi.Load).
	AWS  aws.Config
	Self awsapi.Identity
	Decl *config.Declaration
	// DeclarationPath is where Decl was read from, for messages.
	DeclarationPath string
	// DeclarationSHA256 is the hex SHA-256 of the declaration file's bytes.
	DeclarationSHA256 string
	Trail             *audit.Trail
	// Leases takes each document's lease in its region's lease table.
	Leases *lease.Regional
	// Org reads the organization; nil unless the spec declares OrgRoleARN
	// (the worker reads it only for a unit older than reconcile.WorkFreshFor).
	Org    *inventory.Org
	Engine *reconcile.Engine
}

// Load builds the Env for spec from the process environment. Every error
// names the variable or file at fault; a function exits on one at init
// (Run), rather than failing later on every event.
func Load(ctx context.Context, spec Spec, log *slog.Logger) (*Env, error) {
	for _, name := range required {
		if !slices.Contains(spec.Env, name) {
			return nil, fmt.Errorf("function %s: Spec.Env must declare %s (every function reads it)", spec.Name, name)
		}
	}
	cfg, err := awsapi.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	self, err := awsapi.WhoAmI(ctx, cfg)
	if err != nil {
		return nil, err
	}
	path := declarationPath(spec.Var(DeclarationFile))
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading the declaration (%s): %w", path, err)
	}
	decl, err := config.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("loading the declaration (%s):\n%w", path, err)
	}
	// Every audit record carries the hash of the exact bytes validated here,
	// which is the hash the deploy's custom resource names: a record says
	// which declaration it enforced.
	sum := sha256.Sum256(raw)
	declSHA := hex.EncodeToString(sum[:])
	if self.AccountID != decl.Hub.AccountID {
		log.Warn("running outside the declared hub account: the hub's documents are reached through the member role",
			"self", self.AccountID, "hub", decl.Hub.AccountID)
	}
	var org *inventory.Org
	if slices.Contains(spec.Env, OrgRoleARN) {
		orgCfg, err := orgConfig(ctx, cfg, spec.Var(OrgRoleARN), spec.Name)
		if err != nil {
			return nil, err
		}
		// The validated declaration's organization id is trusted (every OU
		// path in it must start with it, and make doctor compares it with
		// the organization), which saves a DescribeOrganization per
		// execution environment.
		org = inventory.NewOrg(organizations.NewFromConfig(orgCfg), inventory.OrgOptions{OrgID: decl.Hub.OrganizationID})
	}
	db := dynamodb.NewFromConfig(cfg)
	trail, err := audit.New(db, spec.Var(AuditTable), audit.Options{Logger: log, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
		Writer: self.ARN, DeclarationSHA256: declSHA})
	if err != nil {
		return nil, err
	}
	leases, err := lease.New(db, spec.Var(LeaseTable), lease.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	regional, err := regionalLeases(cfg, decl.Hub.Regions, spec.Var(LeaseTable), leases, log)
	if err != nil {
		return nil, err
	}
	engine := &reconcile.Engine{
		Decl:    decl,
		Clients: reconcile.NewClients(awsapi.NewMembers(cfg, self, decl.MemberRoleName, spec.Name)),
		Exec:    &apply.Executor{Trail: trail, Leases: regional},
		Log:     log,
		Region:  cfg.Region,
		Views:   reconcile.NewOrgViews(regional),
	}
	if org != nil { // a nil *inventory.Org in the interface would not be nil
		engine.Org = org
	}
	if slices.Contains(spec.Env, WorkQueueURL) && spec.Var(WorkQueueURL) != "" {
		engine.Queue = workqueue.Queue{Client: sqs.NewFromConfig(cfg), URL: spec.Var(WorkQueueURL)}
	}
	return &Env{Spec: spec, Log: log, AWS: cfg, Self: self, Decl: decl, DeclarationPath: path,
		DeclarationSHA256: declSHA, Trail: trail, Leases: regional, Org: org, Engine: engine}, nil
}

// Run is a function's main: it logs JSON (NewLogger) as the default logger,
// loads the Env and starts the Lambda runtime with what handler returns (a
// handler function or a lambda.Handler). An init failure is logged and ends
// the process, which Lambda reports as an init error and retries the event.
func Run(spec Spec, handler func(*Env) any) {
	log := NewLogger()
	slog.SetDefault(log)
	env, err := Load(context.Background(), spec, log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(handler(env))
}

// declarationPath is the WARDEN_DECLARATION_FILE value, else declaration.json
// deployed next to bootstrap (LAMBDA_TASK_ROOT in Lambda, the binary's
// directory elsewhere).
func declarationPath(set string) string {
	if set != "" {
		return set
	}
	if root := os.Getenv("LAMBDA_TASK_ROOT"); root != "" {
		return filepath.Join(root, "declaration.json")
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(exe), "declaration.json")
	}
	return "declaration.json"
}

// regionalLeases takes each document's lease in its own region's lease table
// (lease.Regional): every hub region's stack has one, under the same name,
// and a function that writes another region's document (the primary region's
// workers, IAM's global events in the partition's IAM events region, us-east-1
// in aws) must meet that region's own functions there. own is the function's region's leaser.
func regionalLeases(cfg aws.Config, regions []string, table string, own *lease.Leaser, log *slog.Logger) (*lease.Regional, error) {
	byRegion := map[string]*lease.Leaser{cfg.Region: own}
	for _, r := range regions {
		if r == cfg.Region {
			continue
		}
		l, err := lease.New(dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.Region = r }), table, lease.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		byRegion[r] = l
	}
	return lease.NewRegional(cfg.Region, byRegion)
}
