package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// blindLoop is what a script that "just sets the policy" does: list each
// registry's repositories and overwrite every repository policy with one
// fixed document, reading nothing first, with the same parallelism as the
// product. It is fast because it skips everything that makes a write safe:
// it destroys foreign statements, grants by name pattern and tag to nobody in
// particular, writes every repository on every run, and records nothing.
type blindLoop struct {
	hub        aws.Config // through the counting proxy
	hubAccount string
	members    []string
	memberRole string
	orgID      string
	units      int
	perUnit    int
}

func (l blindLoop) run(ctx context.Context) (writes int, err error) {
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"OrgPull","Effect":"Allow","Principal":{"AWS":"*"},`+
		`"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],`+
		`"Condition":{"StringEquals":{"aws:PrincipalOrgID":%q}}}]}`, l.orgID)
	return fanOut(append([]string{l.hubAccount}, l.members...), l.units, func(acct string) (int, error) {
		return l.unit(ctx, acct, doc)
	})
}

func (l blindLoop) unit(ctx context.Context, account, doc string) (int, error) {
	cfg := l.hub
	if account != l.hubAccount {
		var err error
		if cfg, err = localaws.AccountConfig(ctx, l.hub, account, l.memberRole); err != nil {
			return 0, err
		}
	}
	client := ecr.NewFromConfig(cfg)
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(client, &ecr.DescribeRepositoriesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("loop: listing repositories of %s: %w", account, err)
		}
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	return fanOut(names, l.perUnit, func(n string) (int, error) {
		if _, err := client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(n), PolicyText: aws.String(doc)}); err != nil {
			return 0, fmt.Errorf("loop: setting policy of %s/%s: %w", account, n, err)
		}
		return 1, nil
	})
}
