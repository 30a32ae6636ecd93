// Command doctor checks ecr-warden's prerequisites with your own read-only
// credentials (the management account's), before or after `cdk deploy`:
//
//	go run ./shared/doctor/cmd/doctor [-declaration infra/declaration.json] [-reader-role OrganizationAccountAccessRole] [-delegated-admin <account>] [-control-tower-home-region <region>]
//
// It prints one line per check, with the fix for each that fails, and exits
// 1 when any fails (2 on bad usage). With AWS_ENDPOINT_URL it runs against
// the local AWS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/cli"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/doctor"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// flagProblems names what is wrong with the flags the checks take on trust: a mistyped one would be
// checked as given (an account "not registered", a forwarding region that "sees no events")
// instead of named.
func flagProblems(decl *config.Declaration, delegated, ctHome string) []string {
	var bad []string
	if delegated != "" && !accountID.MatchString(delegated) {
		bad = append(bad, fmt.Sprintf("-delegated-admin %q: want the 12-digit account id of the StackSets delegated administrator", delegated))
	}
	if ctHome != "" && !policy.ValidRegion(ctHome) {
		bad = append(bad, fmt.Sprintf("-control-tower-home-region (CT_REGION) %q: want a region name like eu-west-1", ctHome))
	} else if ctHome != "" && policy.RegionPartition(ctHome) != decl.Hub.Partition {
		bad = append(bad, fmt.Sprintf("-control-tower-home-region (CT_REGION) %q: a region of partition %s, but the declaration's hub.partition is %s",
			ctHome, policy.RegionPartition(ctHome), decl.Hub.Partition))
	}
	return bad
}

func main() {
	declPath := flag.String("declaration", "infra/declaration.json", "the declaration to check against")
	reader := flag.String("reader-role", "OrganizationAccountAccessRole", "role to assume in the hub and members for read-only checks")
	delegated := flag.String("delegated-admin", "", "account that deploys the member StackSet as delegated administrator, if any")
	ctHome := flag.String("control-tower-home-region", "", "the controlTowerHomeRegion the deploy is given (CT_REGION), if any")
	cli.Main("doctor", os.Args[1:], `make doctor ARGS="..."`)
	ctx := context.Background()
	decl, err := config.Load(*declPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor:", cli.MissingFile(err, "make doctor DECLARATION=<file>, default infra/declaration.json"))
		os.Exit(2)
	}
	bad := flagProblems(decl, *delegated, *ctHome)
	if len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "doctor: "+strings.Join(bad, "; "))
		os.Exit(2)
	}
	base, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor: loading your AWS credentials:", err)
		os.Exit(2)
	}
	if base.Region == "" {
		base.Region = decl.Hub.Regions[0]
	}
	if _, err := base.Credentials.Retrieve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "doctor: no AWS credentials: export the management account's (read-only suffices: AWS_PROFILE, or "+
			"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); against make emulator SEED=demo, its management account: "+
			"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN= make doctor")
		os.Exit(2)
	}
	id, err := sts.NewFromConfig(base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor: who am I (sts:GetCallerIdentity):", err)
		if hint := awsapi.EndpointDown(err); hint != "" {
			fmt.Fprintln(os.Stderr, hint)
		}
		os.Exit(2)
	}
	if me := aws.ToString(id.Account); me != decl.Hub.ManagementAccountID {
		fmt.Fprintf(os.Stderr, "doctor: these credentials are account %s's, not the declaration's management account %s "+
			"(hub.managementAccountId): the checks read Organizations, CloudTrail and the trusted services as %s, which "+
			"only the management account (or a delegated administrator, for the organization) can: use its credentials, "+
			"or, if these are the management account's, correct hub.managementAccountId (the declared-ids check says so)\n",
			me, decl.Hub.ManagementAccountID, me)
	}
	ok := doctor.Print(os.Stdout, doctor.Run(ctx, doctor.Options{
		Decl: decl, Management: base, DelegatedAdmin: *delegated, ControlTowerHomeRegion: *ctHome,
		Account: AssumeIn(base, aws.ToString(id.Account), decl.Hub.Partition, *reader),
	}))
	if !ok {
		os.Exit(1)
	}
}

// AssumeIn acts in an account: with the caller's own credentials in their
// own account, else through role in that account.
func AssumeIn(base aws.Config, self, partition, role string) func(ctx context.Context, account, region string) (aws.Config, error) {
	return func(ctx context.Context, account, region string) (aws.Config, error) {
		cfg := base.Copy()
		cfg.Region = region
		if account == self {
			return cfg, nil
		}
		arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, role)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), arn))
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return aws.Config{}, fmt.Errorf("assuming %s: %w", arn, err)
		}
		return cfg, nil
	}
}
