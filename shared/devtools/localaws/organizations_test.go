package localaws

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// DescribeAccount carries Account.Paths as AWS documents it, so a reader of
// the organization makes the calls it makes in AWS (none to climb the tree).
func TestDescribeAccountAnswersThePath(t *testing.T) {
	ctx := context.Background()
	c := organizations.NewFromConfig(fresh(t, "us-east-1"))
	org := must[*organizations.CreateOrganizationOutput](t)(c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}))
	orgID := aws.ToString(org.Organization.Id)
	roots := must[*organizations.ListRootsOutput](t)(c.ListRoots(ctx, &organizations.ListRootsInput{}))
	root := aws.ToString(roots.Roots[0].Id)
	outer := must[*organizations.CreateOrganizationalUnitOutput](t)(c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(root), Name: aws.String("workloads")}))
	inner := must[*organizations.CreateOrganizationalUnitOutput](t)(c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: outer.OrganizationalUnit.Id, Name: aws.String("prod")}))
	created := must[*organizations.CreateAccountOutput](t)(c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("app"), Email: aws.String("app@example.com")}))
	id := aws.ToString(created.CreateAccountStatus.AccountId)

	paths := func() []string {
		t.Helper()
		out := must[*organizations.DescribeAccountOutput](t)(c.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)}))
		return out.Account.Paths
	}
	if got, want := paths(), orgID+"/"+root+"/"+id+"/"; len(got) != 1 || got[0] != want {
		t.Errorf("under the root: Paths %q, want [%q]", got, want)
	}
	must[*organizations.MoveAccountOutput](t)(c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(root), DestinationParentId: inner.OrganizationalUnit.Id}))
	want := orgID + "/" + root + "/" + aws.ToString(outer.OrganizationalUnit.Id) + "/" + aws.ToString(inner.OrganizationalUnit.Id) + "/" + id + "/"
	if got := paths(); len(got) != 1 || got[0] != want {
		t.Errorf("after the move: Paths %q, want [%q]", got, want)
	}
}
