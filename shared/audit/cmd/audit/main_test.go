package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The command reads a resource's history by ARN and by name through the
// default credential chain pointed at the local AWS by AWS_ENDPOINT_URL,
// exactly as `make audit RESOURCE=...` runs it.
func TestAuditCommandPrintsHistory(t *testing.T) {
	ctx := context.Background()
	s, err := localaws.Start(ctx, localaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Setenv("AWS_ENDPOINT_URL", s.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("WARDEN_AUDIT_TABLE", "audit-cli")

	db := dynamodb.NewFromConfig(s.Config("us-east-1"))
	if err := audit.CreateTable(ctx, db, "audit-cli"); err != nil {
		t.Fatal(err)
	}
	tr, err := audit.New(db, "audit-cli", audit.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:ecr:us-east-1:222222222222:repository/shared/app"
	p, err := tr.Begin(ctx, audit.Record{
		Op:      "update",
		Trigger: audit.Trigger{EventID: "6f1c2a90-aaaa", EventType: "AWS API Call via CloudTrail/CreateRepository", Source: "aws.ecr"},
		Actor:   audit.Actor{ARN: "arn:aws:sts::222222222222:assumed-role/dev/alice"},
		Target:  audit.Target{ARN: arn, Kind: "ECRRepositoryPolicy", Name: "shared/app"},
		After:   "{}", Diff: "+ EcrWardenPull: allow pull to o-a1b2c3d4e5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Failed(ctx, errors.New("ThrottlingException: Rate exceeded")); err != nil {
		t.Fatal(err)
	}

	for _, res := range []string{arn, "shared/app"} {
		var out bytes.Buffer
		if err := run(ctx, []string{"-resource", res, "-v"}, &out); err != nil {
			t.Fatalf("audit -resource %s: %v", res, err)
		}
		got := out.String()
		t.Logf("audit -resource %s -v:\n%s", res, got)
		for _, want := range []string{"DECISION", "failed", "update ECRRepositoryPolicy", "CreateRepository (6f1c2a90)",
			"222222222222:assumed-role/dev/alice", arn, "error: ThrottlingException: Rate exceeded", "+ EcrWardenPull"} {
			if !strings.Contains(got, want) {
				t.Fatalf("audit -resource %s output lacks %q:\n%s", res, want, got)
			}
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"-resource", "shared/none"}, &out); err != nil || !strings.Contains(out.String(), "no audit records") {
		t.Fatalf("unknown resource: err=%v out=%q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"-since", "1h"}, &out); err != nil || !strings.Contains(out.String(), "failed") {
		t.Fatalf("-since 1h: err=%v out=%q", err, out.String())
	}
	if err := tr.Record(ctx, audit.Record{Decision: audit.DecisionSummary, Op: "none",
		Trigger: audit.Trigger{EventID: "run-7", EventType: "backfill"},
		Target:  audit.Target{ARN: audit.UnitARN("222222222222", "us-east-1"), Kind: "Unit"},
		Counts:  &audit.Counts{Examined: 12, Unchanged: 10, Changed: 2}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"-summaries"}, &out); err != nil || !strings.Contains(out.String(), "backfill run-7") || !strings.Contains(out.String(), "222222222222/us-east-1") {
		t.Fatalf("-summaries: err=%v out=%q", err, out.String())
	}
	if err := run(ctx, []string{"-resource", ""}, io.Discard); err == nil || !strings.Contains(err.Error(), "RESOURCE") {
		t.Fatalf("empty resource: %v", err)
	}
}
