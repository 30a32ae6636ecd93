package localaws

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"
)

// pushPolicy is the seed-style ECR Public repository policy (Version 2008-10-17).
const pushPolicy = `{"Version":"2008-10-17","Statement":[{"Sid":"EcrWardenPublish","Effect":"Allow",` +
	`"Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["ecr-public:BatchCheckLayerAvailability",` +
	`"ecr-public:PutImage","ecr-public:InitiateLayerUpload","ecr-public:UploadLayerPart","ecr-public:CompleteLayerUpload"]}]}`

func TestECRPublicRepositories(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecrpublic.NewFromConfig(fresh(t, "us-east-1"))

	out := must[*ecrpublic.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{
		RepositoryName: aws.String("tools/scanner"),
		Tags:           []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}},
	}))
	repo := out.Repository
	if got, want := aws.ToString(repo.RepositoryArn), "arn:aws:ecr-public::"+hub+":repository/tools/scanner"; got != want {
		t.Errorf("ARN = %s, want %s", got, want)
	}
	if aws.ToString(repo.RegistryId) != hub || !strings.HasPrefix(aws.ToString(repo.RepositoryUri), "public.ecr.aws/") || repo.CreatedAt == nil {
		t.Errorf("repository = %+v", repo)
	}
	_, err := c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/scanner")})
	wantErr[*types.RepositoryAlreadyExistsException](t, err, "tools/scanner")
	for _, bad := range []string{"Tools", "a", "tools//x", "-lead", strings.Repeat("a", 206)} {
		_, err = c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(bad)})
		wantErr[*types.InvalidParameterException](t, err, "repositoryName")
	}
	for i := range 4 {
		must[*ecrpublic.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("tools/t%d", i))}))
	}

	// Describe: by names, all in pages, unknown names.
	named := must[*ecrpublic.DescribeRepositoriesOutput](t)(c.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{RepositoryNames: []string{"tools/t1", "tools/scanner"}}))
	if len(named.Repositories) != 2 || aws.ToString(named.Repositories[0].RepositoryName) != "tools/t1" {
		t.Errorf("describe by name = %+v", named.Repositories)
	}
	var names []string
	pages := 0
	pager := ecrpublic.NewDescribeRepositoriesPaginator(c, &ecrpublic.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	for pager.HasMorePages() {
		p := must[*ecrpublic.DescribeRepositoriesOutput](t)(pager.NextPage(ctx))
		pages++
		for _, r := range p.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if pages != 3 || strings.Join(names, ",") != "tools/scanner,tools/t0,tools/t1,tools/t2,tools/t3" {
		t.Errorf("paged describe = %d pages %v", pages, names)
	}
	_, err = c.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{RepositoryNames: []string{"tools/missing"}})
	wantErr[*types.RepositoryNotFoundException](t, err, "tools/missing")

	// Tags by ARN.
	arn := repo.RepositoryArn
	must[*ecrpublic.TagResourceOutput](t)(c.TagResource(ctx, &ecrpublic.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("share"), Value: aws.String("public")}}}))
	must[*ecrpublic.UntagResourceOutput](t)(c.UntagResource(ctx, &ecrpublic.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}))
	tags := must[*ecrpublic.ListTagsForResourceOutput](t)(c.ListTagsForResource(ctx, &ecrpublic.ListTagsForResourceInput{ResourceArn: arn}))
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "share" {
		t.Errorf("tags = %+v", tags.Tags)
	}
	_, err = c.ListTagsForResource(ctx, &ecrpublic.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:" + hub + ":repository/tools/scanner")})
	wantErr[*types.InvalidParameterException](t, err, "resourceArn")

	// Delete.
	must[*ecrpublic.DeleteRepositoryOutput](t)(c.DeleteRepository(ctx, &ecrpublic.DeleteRepositoryInput{RepositoryName: aws.String("tools/t3")}))
	_, err = c.DeleteRepository(ctx, &ecrpublic.DeleteRepositoryInput{RepositoryName: aws.String("tools/t3")})
	wantErr[*types.RepositoryNotFoundException](t, err)
}

func TestECRPublicRepositoryPolicy(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecrpublic.NewFromConfig(fresh(t, "us-east-1"))
	name := aws.String("tools/scanner")
	must[*ecrpublic.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: name}))

	_, err := c.GetRepositoryPolicy(ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: name})
	wantErr[*types.RepositoryPolicyNotFoundException](t, err, "tools/scanner")
	set := must[*ecrpublic.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(pushPolicy)}))
	if aws.ToString(set.PolicyText) != pushPolicy || aws.ToString(set.RegistryId) != hub {
		t.Errorf("set = %+v", set)
	}
	got := must[*ecrpublic.GetRepositoryPolicyOutput](t)(c.GetRepositoryPolicy(ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: name}))
	if aws.ToString(got.PolicyText) != pushPolicy {
		t.Errorf("get = %s", aws.ToString(got.PolicyText))
	}

	must[*ecrpublic.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(padTo(pushPolicy, 10240))}))
	_, err = c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(padTo(pushPolicy, 10241))})
	wantErr[*types.InvalidParameterException](t, err, "10240")
	_, err = c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(`{"Statement":"nope"`)})
	wantErr[*types.InvalidParameterException](t, err, "Invalid repository policy provided")
	_, err = c.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String("tools/missing"), PolicyText: aws.String(pushPolicy)})
	wantErr[*types.RepositoryNotFoundException](t, err)

	del := must[*ecrpublic.DeleteRepositoryPolicyOutput](t)(c.DeleteRepositoryPolicy(ctx, &ecrpublic.DeleteRepositoryPolicyInput{RepositoryName: name}))
	if aws.ToString(del.PolicyText) != padTo(pushPolicy, 10240) {
		t.Errorf("delete returned %d characters, want the last policy set", len(aws.ToString(del.PolicyText)))
	}
	_, err = c.DeleteRepositoryPolicy(ctx, &ecrpublic.DeleteRepositoryPolicyInput{RepositoryName: name})
	wantErr[*types.RepositoryPolicyNotFoundException](t, err)
}

// ECR Public answers only in us-east-1; state is per account; Reset wipes it.
func TestECRPublicRegionAccountsAndReset(t *testing.T) {
	Need(t)
	ctx := context.Background()
	hubCfg := fresh(t, "us-east-1")
	west := ecrpublic.NewFromConfig(srv.Config("eu-west-1"))
	_, err := west.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/x")})
	wantErr[*types.UnsupportedCommandException](t, err, "eu-west-1", "us-east-1")

	hubPub := ecrpublic.NewFromConfig(hubCfg)
	memberPub := ecrpublic.NewFromConfig(member(t, hubCfg, "222222222222"))
	must[*ecrpublic.CreateRepositoryOutput](t)(hubPub.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/x")}))
	m := must[*ecrpublic.CreateRepositoryOutput](t)(memberPub.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/x")}))
	if got := aws.ToString(m.Repository.RepositoryArn); got != "arn:aws:ecr-public::222222222222:repository/tools/x" {
		t.Errorf("member ARN = %s", got)
	}
	must[*ecrpublic.SetRepositoryPolicyOutput](t)(memberPub.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String("tools/x"), PolicyText: aws.String(pushPolicy)}))
	_, err = hubPub.GetRepositoryPolicy(ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: aws.String("tools/x")})
	wantErr[*types.RepositoryPolicyNotFoundException](t, err)
	_, err = hubPub.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{RegistryId: aws.String("222222222222")})
	wantErr[*types.InvalidParameterException](t, err, "registryId")

	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	all := must[*ecrpublic.DescribeRepositoriesOutput](t)(hubPub.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{}))
	if len(all.Repositories) != 0 {
		t.Errorf("after reset: %d public repositories", len(all.Repositories))
	}
}
