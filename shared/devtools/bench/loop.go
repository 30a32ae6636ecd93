package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

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

// blindPolicy is the one document both loops write to every repository.
func blindPolicy(orgID string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"OrgPull","Effect":"Allow","Principal":{"AWS":"*"},`+
		`"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],`+
		`"Condition":{"StringEquals":{"aws:PrincipalOrgID":%q}}}]}`, orgID)
}

func (l blindLoop) run(ctx context.Context) (writes int, err error) {
	doc := blindPolicy(l.orgID)
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

//go:embed blind_loop.py
var boto3LoopScript []byte

// boto3Loop is the blind-overwrite loop as the issue measures it: a boto3
// script (blind_loop.py) doing what a copied sample does, one call after
// another. Its wall time is the script's own, from its first call.
type boto3Loop struct {
	endpoint   string // the counting proxy
	region     string
	hubAccount string
	members    []string
	memberRole string
	policy     string
}

func (l boto3Loop) run(ctx context.Context, dir string) (writes int, took time.Duration, err error) {
	script := filepath.Join(dir, "blind_loop.py")
	if err := os.WriteFile(script, boto3LoopScript, 0o600); err != nil {
		return 0, 0, err
	}
	job, err := json.Marshal(map[string]any{"endpoint": l.endpoint, "region": l.region, "hub": l.hubAccount,
		"members": l.members, "role": l.memberRole, "policy": l.policy})
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, localaws.Python(), script)
	cmd.Stdin = bytes.NewReader(job)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("boto3 loop: %w: %s", err, stderr.String())
	}
	var res struct {
		Writes  int
		Seconds float64
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, 0, fmt.Errorf("boto3 loop: reading its answer %q: %w", out, err)
	}
	return res.Writes, time.Duration(res.Seconds * float64(time.Second)), nil
}
