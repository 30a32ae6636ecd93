// Command audit prints the audit trail from DynamoDB: a resource's history
// (`make audit RESOURCE=<arn or repository name>`), a time window (-since),
// writes that never got an outcome (-stale), or the backfill and sweep unit
// summaries (`make audit SUMMARIES=1`, -summaries). It uses the default AWS
// credential chain, so it works against AWS and, with AWS_ENDPOINT_URL,
// against the local emulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}

// run is main with its arguments and output injected, for tests.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	defTable := os.Getenv("WARDEN_AUDIT_TABLE")
	if defTable == "" {
		defTable = "ecr-warden-audit"
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	resource := fs.String("resource", "", "repository/registry/role ARN, or a bare repository name")
	table := fs.String("table", defTable, "audit table (default from WARDEN_AUDIT_TABLE)")
	region := fs.String("region", "", "AWS region of the table (default from the AWS config)")
	limit := fs.Int("limit", 100, "show at most this many of the latest records (0 = all)")
	since := fs.Duration("since", 0, "without -resource: every record of the last DURATION (e.g. 24h)")
	stale := fs.Duration("stale", 0, "list writes still pending after DURATION (crashed between intent and outcome)")
	verbose := fs.Bool("v", false, "also print each record's statement diff")
	summaries := fs.Bool("summaries", false, "the backfill and sweep unit summaries of the last -since (default 24h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *summaries && *since <= 0 {
		*since = 24 * time.Hour
	}
	if *stale <= 0 && *resource == "" && *since <= 0 {
		return errors.New("say what to show: -resource <ARN or repository name> (make audit RESOURCE=...), -since <duration>, or -stale <duration>")
	}
	var opts []func(*config.LoadOptions) error
	if *region != "" {
		opts = append(opts, config.WithRegion(*region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("loading AWS config: %w", err)
	}
	if cfg.Region == "" {
		return errors.New("no AWS region: set AWS_REGION or pass -region")
	}
	trail, err := audit.New(dynamodb.NewFromConfig(cfg), *table, audit.Options{})
	if err != nil {
		return err
	}
	var recs []audit.Record
	if *summaries {
		now := time.Now()
		if recs, err = trail.Summaries(ctx, now.Add(-*since), now); err != nil {
			return err
		}
		if len(recs) == 0 {
			fmt.Fprintf(stdout, "no unit summaries in table %s in the last %s\n", *table, *since)
			return nil
		}
		return audit.WriteSummaries(stdout, recs)
	}
	switch {
	case *stale > 0:
		recs, err = trail.Stale(ctx, time.Now().Add(-*stale))
	case *resource != "":
		recs, err = trail.History(ctx, *resource, *limit)
	default:
		now := time.Now()
		recs, err = trail.Window(ctx, now.Add(-*since), now)
	}
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "no audit records found in table %s\n", *table)
		return nil
	}
	return audit.WriteTable(stdout, recs, *verbose)
}
