// Command worker is the Lambda function that consumes the backfill's work
// queue: each SQS message is one unit (one account in one region, with the
// part of the organization its documents depend on), converged fully by the
// shared reconcile engine. Failed units are reported as batch item failures,
// so SQS retries only them and dead-letters a unit that keeps failing while
// the rest of the run completes.
//
// This file is wiring only; the decisions are in handler.go.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// functionName names this function in role session names.
const functionName = "worker"

func main() {
	log := newLogger()
	slog.SetDefault(log)
	h, err := setup(context.Background(), log)
	if err != nil {
		// Lambda reports the exit as an init error.
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.handle)
}

// setup builds what lives for the execution environment: AWS configuration,
// the declaration, the audit trail, the lease table and the engine with its
// per-account client cache. The worker never reads the organization: the
// backfill walked it once and every unit carries what it needs.
func setup(ctx context.Context, log *slog.Logger) (*handler, error) {
	opts, err := retryOptions()
	if err != nil {
		return nil, err
	}
	cfg, err := awsapi.Load(ctx, "", opts...)
	if err != nil {
		return nil, err
	}
	self, err := awsapi.WhoAmI(ctx, cfg)
	if err != nil {
		return nil, err
	}
	path := declarationPath()
	decl, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading the declaration (%s): %w", path, err)
	}
	db := dynamodb.NewFromConfig(cfg)
	trail, err := audit.New(db, os.Getenv("WARDEN_AUDIT_TABLE"), audit.Options{Logger: log, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")})
	if err != nil {
		return nil, err
	}
	leases, err := lease.New(db, os.Getenv("WARDEN_LEASE_TABLE"), lease.Options{})
	if err != nil {
		return nil, err
	}
	members := awsapi.NewMembers(cfg, self, decl.MemberRoleName, functionName)
	engine := &reconcile.Engine{
		Decl:    decl,
		Clients: reconcile.NewClients(members),
		Exec:    &apply.Executor{Trail: trail, Leases: leases},
		Log:     log,
	}
	return &handler{decl: decl, engine: engine, trail: trail, log: log}, nil
}

// declarationPath is WARDEN_DECLARATION_FILE, else declaration.json deployed
// next to bootstrap (LAMBDA_TASK_ROOT in Lambda, the binary's directory
// elsewhere).
func declarationPath() string {
	if p := os.Getenv("WARDEN_DECLARATION_FILE"); p != "" {
		return p
	}
	if root := os.Getenv("LAMBDA_TASK_ROOT"); root != "" {
		return filepath.Join(root, "declaration.json")
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(exe), "declaration.json")
	}
	return "declaration.json"
}

// retryOptions honours the SDK's standard AWS_MAX_ATTEMPTS variable, which
// awsapi's explicit retryer would otherwise shadow, so operators and the
// fault tests can shorten the per-call attempt budget without a code change.
func retryOptions() ([]func(*awsconfig.LoadOptions) error, error) {
	v := os.Getenv("AWS_MAX_ATTEMPTS")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a whole number of attempts, at least 1", v)
	}
	return []func(*awsconfig.LoadOptions) error{awsconfig.WithRetryer(func() aws.Retryer {
		return retry.AddWithMaxAttempts(awsapi.NewRetryer(), n)
	})}, nil
}

// newLogger logs JSON lines to stdout (CloudWatch Logs) with the Lambda
// request id on every line.
func newLogger() *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr})})
}

// requestIDHandler adds the invocation's request id from the context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
