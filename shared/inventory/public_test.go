package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	pubtypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

const pubPolicy = `{"Version":"2008-10-17","Statement":[{"Sid":"Foreign","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr-public:PutImage"]}]}`

func TestPublicRepositoriesAndPolicies(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := ecrpublic.NewFromConfig(fresh(t, &counts))
	for i := range 5 {
		if _, err := c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("tools/t%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String("tools/t1"), PolicyText: aws.String(pubPolicy)}); err != nil {
		t.Fatal(err)
	}
	pub := NewPublic(c, testAccount, RegistryOptions{PageSize: 2})

	counts.Reset()
	all, missing, err := pub.Repositories(ctx, nil)
	if err != nil || len(all) != 5 || missing != nil {
		t.Fatalf("all: %v %v %v", all, missing, err)
	}
	if all[1].Name != "tools/t1" || all[1].ARN != "arn:aws:ecr-public::123456789012:repository/tools/t1" || all[1].RegistryID != testAccount {
		t.Fatalf("repository: %+v", all[1])
	}
	if n := counts.Get("ECR PUBLIC", "DescribeRepositories"); n != 3 {
		t.Fatalf("5 repositories at page size 2: %d calls, want 3\n%s", n, counts.String())
	}

	found, missing, err := pub.Repositories(ctx, []string{"tools/t3", "tools/nope", "tools/t0"})
	if err != nil || len(found) != 2 || found[0].Name != "tools/t0" || strings.Join(missing, ",") != "tools/nope" {
		t.Fatalf("by name: %v missing %v %v", found, missing, err)
	}

	if text, ok, err := pub.RepositoryPolicy(ctx, "tools/t1"); err != nil || !ok || text != pubPolicy {
		t.Fatalf("policy: %q %v %v", text, ok, err)
	}
	if text, ok, err := pub.RepositoryPolicy(ctx, "tools/t2"); err != nil || ok || text != "" {
		t.Fatalf("no policy: %q %v %v", text, ok, err)
	}
	_, _, err = pub.RepositoryPolicy(ctx, "tools/later")
	var nf *pubtypes.RepositoryNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "tools/later") {
		t.Fatalf("missing repository: %v", err)
	}
}
