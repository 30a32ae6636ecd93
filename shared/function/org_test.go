package function

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestOrgReaderDenied: when STS refuses the organization reader (the
// management stack not deployed yet, or WARDEN_ORG_ROLE_ARN naming another
// install's role), the first Organizations call fails with AWS's
// AccessDenied and what to do: which stack creates the role and which
// variable names it. The role does not exist in the local AWS, which
// refuses AssumeRole into it as AWS does; once it exists, the refusal and
// its explanation are gone.
func TestOrgReaderDenied(t *testing.T) {
	localaws.Need(t)
	if err := moto.Reset(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const role = "arn:aws:iam::999999999999:role/ecr-warden-organization-reader"
	base := moto.Config("us-east-1")
	listRoots := func() error {
		cfg, err := orgConfig(ctx, base, role, "account")
		if err != nil {
			t.Fatal(err)
		}
		_, err = organizations.NewFromConfig(cfg).ListRoots(ctx, &organizations.ListRootsInput{})
		return err
	}
	err := listRoots()
	if err == nil {
		t.Fatal("ListRoots through a refused reader succeeded")
	}
	for _, want := range []string{"AccessDenied", "not authorized to perform: sts:AssumeRole on resource: " + role,
		"the organization reader " + role + " (WARDEN_ORG_ROLE_ARN) cannot be assumed",
		"EcrWarden-Management", "ecr-warden-organization-reader", "ORG_ROLE="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}

	err = localaws.SeedAssumedRoles(ctx, "", "", nil, role, func(account string) (aws.Config, error) {
		return localaws.AccountConfig(ctx, base, account, "OrganizationAccountAccessRole")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := listRoots(); err != nil && strings.Contains(err.Error(), "cannot be assumed") {
		t.Errorf("the reader exists, yet: %v", err)
	}
}
