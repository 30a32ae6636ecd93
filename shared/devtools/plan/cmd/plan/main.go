// Command plan is `make plan`: the backfill's dry run of a declaration, run locally with your own
// credentials (see package plan).
//
//	go run ./shared/devtools/plan/cmd/plan -declaration infra/declaration.json -member-role OrganizationAccountAccessRole
//
// Exit status: 0 the plan refuses and fails nothing, 1 it does (or the run failed), 2 bad input.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/cli"
	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/plan"
)

func main() {
	declaration := flag.String("declaration", "infra/declaration.json", "declaration to plan")
	memberRole := flag.String("member-role", "", "role to read members through (default: the declaration's memberRoleName; OrganizationAccountAccessRole before install)")
	orgRole := flag.String("org-role", os.Getenv("WARDEN_ORG_ROLE_ARN"), "role ARN to read Organizations through (default: WARDEN_ORG_ROLE_ARN if set, else your own credentials)")
	asJSON := flag.Bool("json", false, "print the backfill's answer as JSON")
	cli.Main("plan", os.Args[1:], "make plan DECLARATION=<file> MEMBER_ROLE=<role> ORG_ROLE=<role ARN>")
	ctx := context.Background()
	// The declaration first: its problems need no AWS, and a newcomer checking one has no credentials yet.
	if _, err := wconfig.Load(*declaration); err != nil {
		fmt.Fprintln(os.Stderr, "plan:", cli.MissingFile(err, "make plan DECLARATION=<file>, default infra/declaration.json"))
		os.Exit(2)
	}
	if *orgRole != "" {
		if err := plan.CheckOrgRole(*orgRole); err != nil {
			fmt.Fprintln(os.Stderr, "plan:", err)
			os.Exit(2)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plan: loading your AWS credentials:", err)
		os.Exit(2)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plan: no AWS credentials. The declaration is valid; to plan it, export credentials that can read "+
			"the organization and the members (read-only suffices: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "+
			"or plan against the local AWS: make emulator SEED=demo in another shell, then source build/emulator/env.sh and make plan")
		os.Exit(2)
	}
	if *orgRole != "" {
		fmt.Fprintf(os.Stderr, "plan: reading the organization through %s\n", *orgRole)
	}
	res, err := plan.Run(ctx, plan.Options{Declaration: *declaration, MemberRole: *memberRole, OrgRoleARN: *orgRole,
		Credentials: creds, Endpoint: os.Getenv("AWS_ENDPOINT_URL")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
		if hint := awsapi.EndpointDown(err); hint != "" {
			fmt.Fprintln(os.Stderr, hint)
		}
		if errors.As(err, new(plan.MismatchError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
	} else {
		plan.Print(os.Stdout, res)
	}
	if s := res.Summary; s != nil && (s.Refused > 0 || s.Failed > 0) || len(res.Failures) > 0 {
		os.Exit(1)
	}
}
