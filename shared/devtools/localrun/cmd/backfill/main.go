// Command backfill is the local `make backfill`: it runs the real backfill
// binary with a payload and, for a real run, hands the queued units to the
// real worker binary through the local SQS queue (the fan-out Lambda's event
// source mapping performs in AWS), then prints the backfill's answer and one
// line per unit.
//
// With AWS_ENDPOINT_URL set (e.g. `make emulator` in another shell) it runs
// against that local AWS and the -declaration given. Without it, it starts a
// local AWS, seeds a small organization (2 OUs x 2 members, a few
// repositories per account) and uses a declaration generated for it, since
// the organization's ids are random.
//
//	go run ./shared/devtools/localrun/cmd/backfill -payload events/backfill-all-dryrun.json
//
// Exit status: 0 done, 1 the backfill failed or some unit failed, 2 bad input.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/cli"
	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
)

const region = "us-east-1"

func main() {
	payload := flag.String("payload", "events/backfill-all-dryrun.json", "backfill payload file")
	declaration := flag.String("declaration", "infra/declaration.json", "declaration, used only with AWS_ENDPOINT_URL")
	cli.Main("backfill", os.Args[1:], "make backfill LOCAL=1 PAYLOAD=<file> DECLARATION=<file>")
	code, err := run(context.Background(), *payload, *declaration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		if hint := awsapi.EndpointDown(err); hint != "" {
			fmt.Fprintln(os.Stderr, hint)
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, payloadFile, declFile string) (int, error) {
	payload, err := os.ReadFile(payloadFile)
	if err != nil {
		return 2, fmt.Errorf("-payload: %w", err)
	}
	dir, err := os.MkdirTemp("", "ecr-warden-backfill-*")
	if err != nil {
		return 2, err
	}
	defer os.RemoveAll(dir)

	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	var cfg aws.Config
	if endpoint == "" {
		srv, err := localaws.Start(ctx, localaws.Options{})
		if err != nil {
			return 2, err
		}
		defer srv.Stop()
		endpoint, cfg = srv.URL, srv.Config(region)
		org, err := localrun.SeedOrg(ctx, cfg, []string{"workloads", "sandbox"}, 4, localrun.MemberRole)
		if err != nil {
			return 2, err
		}
		owners := []string{org.Management}
		for _, a := range org.Accounts {
			owners = append(owners, a.ID)
		}
		for _, acct := range owners {
			c, err := localrun.Config(ctx, cfg, org.Management, acct, localrun.MemberRole)
			if err != nil {
				return 2, err
			}
			if err := localrun.CreateRepositories(ctx, c, []string{"team/app", "team/api", "misc/tool"}, 4); err != nil {
				return 2, err
			}
		}
		declFile = filepath.Join(dir, "declaration.json")
		if err := os.WriteFile(declFile, []byte(localrun.Declaration(org, region)), 0o644); err != nil {
			return 2, err
		}
		fmt.Fprintf(os.Stderr, "AWS_ENDPOINT_URL not set: started a local AWS at %s with organization %s (hub %s, %d members, 3 repositories each); declaration %s\n",
			endpoint, org.ID, org.Management, len(org.Accounts), declFile)
	} else {
		// Against a running emulator (make emulator SEED=demo): act as the
		// declared hub, from the caller's credentials (the seed's exports)
		// or the dummy ones, as the deployed functions do.
		key, secret, token := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
		if key == "" || secret == "" {
			key, secret, token = "testing", "testing", ""
		}
		cfg = aws.Config{Region: region, BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, token)}
		decl, err := wconfig.Load(declFile)
		if err != nil {
			return 2, err
		}
		if cfg, err = localaws.AccountConfig(ctx, cfg, decl.Hub.AccountID, "ecr-warden-backfill"); err != nil {
			return 2, fmt.Errorf("acting as the hub %s: %w", decl.Hub.AccountID, err)
		}
		fmt.Fprintf(os.Stderr, "backfill: running as the declared hub %s against %s\n", decl.Hub.AccountID, endpoint)
	}
	abs, err := filepath.Abs(declFile)
	if err != nil {
		return 2, err
	}
	d, err := wconfig.Load(abs)
	if err != nil {
		return 2, err
	}
	env, err := localrun.Prepare(ctx, cfg, 3, d.Hub.Regions...)
	if err != nil {
		return 2, err
	}
	vars := env.Vars()
	vars["AWS_ENDPOINT_URL"] = endpoint
	vars["WARDEN_DECLARATION_FILE"] = abs
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return 2, err
	}
	vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"] = creds.AccessKeyID, creds.SecretAccessKey
	if creds.SessionToken != "" {
		vars["AWS_SESSION_TOKEN"] = creds.SessionToken
	}
	// The organization reader the seeded emulator exports.
	if v := os.Getenv("WARDEN_ORG_ROLE_ARN"); v != "" {
		vars["WARDEN_ORG_ROLE_ARN"] = v
	}
	bins := map[string]string{}
	for _, fn := range []string{"backfill", "worker"} {
		if bins[fn], err = lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, dir); err != nil {
			return 2, err
		}
	}
	fn := func(name string) lambdalocal.Function {
		return lambdalocal.Function{Name: "ecr-warden-" + name, Binary: bins[name], Env: vars, Region: region, Timeout: 15 * time.Minute, InitTimeout: 15 * time.Minute}
	}
	bf, err := lambdalocal.Start(ctx, fn("backfill"))
	if err != nil {
		return 2, err
	}
	defer bf.Close()
	res, err := bf.Invoke(ctx, payload)
	if err != nil {
		return 2, err
	}
	if res.Err != nil {
		fmt.Println(strings.Join(res.Logs, "\n"))
		return 1, res.Err
	}
	// The plan as text first (each diff reads better unquoted than inside a
	// JSON string), then the answer without its plan, so the counts and
	// refusals end the output instead of scrolling away above the diffs.
	var whole map[string]json.RawMessage
	_ = json.Unmarshal(res.Payload, &whole)
	var plan []struct{ Diff string }
	_ = json.Unmarshal(whole["plan"], &plan)
	delete(whole, "plan")
	if len(plan) > 0 {
		fmt.Printf("plan (%d changes):\n", len(plan))
		for _, p := range plan {
			fmt.Println(p.Diff)
		}
		fmt.Println("answer (without the plan above):")
	}
	short, _ := json.Marshal(whole)
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, short, "", "  ")
	fmt.Println(pretty.String())
	var resp struct {
		Error    string
		RunID    string
		Queued   int
		Failures []any
		Missing  []string
		Summary  *struct{ Refused, Failed int }
	}
	_ = json.Unmarshal(res.Payload, &resp)
	if resp.Error != "" {
		fmt.Println("the payload was refused (every problem above, with its field path): nothing was planned or written")
		return 1, nil
	}
	// The run goes on for what it found, but a target the operator named was
	// not there: say so, and exit 1 however the rest went.
	done := 0
	if len(resp.Missing) > 0 {
		fmt.Println(missingTargets(resp.Missing))
		done = 1
	}
	if resp.Queued == 0 {
		fmt.Println(nextStep(resp.RunID, resp.Summary != nil && (resp.Summary.Refused > 0 || resp.Summary.Failed > 0)))
		if len(resp.Failures) > 0 {
			return 1, nil
		}
		return done, nil
	}
	worker, err := lambdalocal.Start(ctx, fn("worker"))
	if err != nil {
		return 2, err
	}
	defer worker.Close()
	dr, err := localrun.Drain(ctx, sqs.NewFromConfig(cfg), env, region, worker, 10, 1, 50)
	if err != nil {
		return 2, err
	}
	for _, d := range dr.Deliveries {
		for _, l := range d.Result.Logs {
			if strings.Contains(l, `"unit converged"`) || strings.Contains(l, `"unit failed`) {
				fmt.Println(l)
			}
		}
	}
	fmt.Printf("worker: %d units converged, %d failed deliveries, %d dead-lettered\n", dr.Done, dr.Failures, dr.DeadLettered)
	fmt.Println(nextStep(resp.RunID, dr.Failures > 0 || dr.DeadLettered > 0))
	if dr.Failures > 0 || dr.DeadLettered > 0 {
		return 1, nil
	}
	return done, nil
}

// nextStep is the output's last line: where the run's records are, and
// which of them to read first when something was refused or failed.
func nextStep(runID string, problems bool) string {
	if runID == "" {
		return ""
	}
	if problems {
		return fmt.Sprintf("next: %s (each record's error says what to fix)", audit.RunCommand(runID, audit.DecisionRefused, audit.DecisionFailed))
	}
	return fmt.Sprintf("next: %s (every record of this run)", audit.RunCommand(runID))
}

// missingTargets says which of the payload's targets the organization does
// not hold: nothing was planned or written for them, and the usual cause
// locally is a payload with the example's ids (events/) against the seeded
// emulator, whose ids are its own.
func missingTargets(ids []string) string {
	return fmt.Sprintf("not in the organization: %s; nothing was planned or written for them (check the ids; against make emulator SEED=demo, "+
		"use its payloads with the seeded ids, build/emulator/events/)", strings.Join(ids, ", "))
}
