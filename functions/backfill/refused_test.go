package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TestRolePolicyIAMRefusesIsNotDeadLettered: a member holds a role of the
// PTC role's name, made by hand, whose inline policy leaves ecr-warden's no
// room under IAM's 10,240-character aggregate of a role's inline policies
// (the local AWS refuses past it, as IAM does, with LimitExceeded). Its unit
// used to fail on that write at every receive and land in the dead-letter
// queue, at every sweep. Now the write's audit record is settled refused
// with IAM's answer, the fromHub rule that needs the policy is left out
// with it, the rest of the member converges, and no unit is dead-lettered.
func TestRolePolicyIAMRefusesIsNotDeadLettered(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	member := w.org.Accounts[0].ID
	roles := iam.NewFromConfig(w.cfg(member, region))
	if _, err := roles.CreateRole(w.ctx, &iam.CreateRoleInput{RoleName: aws.String(ptcRole),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	legacy := `{"Version":"2012-10-17","Statement":[{"Sid":"Legacy","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::legacy/` + strings.Repeat("x", 9900) + `"}]}`
	if _, err := roles.PutRolePolicy(w.ctx, &iam.PutRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String("legacy"), PolicyDocument: aws.String(legacy)}); err != nil {
		t.Fatal(err)
	}
	bf := w.start("backfill", nil)
	worker := w.start("worker", nil)

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	dr := w.drain(worker)
	if run.Queued != 10 || dr.Done != 10 || dr.Failures != 0 || dr.DeadLettered != 0 {
		t.Fatalf("want all 10 units converged, none retried or dead-lettered; got queued %d, %+v", run.Queued, dr)
	}

	// IAM holds what it held: the hand-made policy, not ecr-warden's.
	names, err := roles.ListRolePolicies(w.ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(ptcRole)})
	if err != nil || strings.Join(names.PolicyNames, ",") != "legacy" {
		t.Errorf("role's inline policies %v (%v), want legacy alone", names, err)
	}
	roleARN := "arn:aws:iam::" + member + ":role/" + ptcRole
	policyARN := roleARN + "/policy/" + ptcRole
	hubRule := policy.RegistryARN("aws", region, member) + "/pull-through-cache-rule/hub"
	byTarget := map[string]audit.Record{}
	var summary *audit.Record
	for _, r := range w.runRecords(run.RunID) {
		byTarget[r.Target.ARN] = r
		if r.Decision == audit.DecisionSummary && r.Target.ARN == audit.UnitARN(member, region) {
			summary = &r
		}
	}
	pol := byTarget[policyARN]
	if pol.Decision != audit.DecisionRefused || pol.Op == "" || pol.After == "" {
		t.Errorf("role policy record %s op %q; want the write's record settled refused", pol.Decision, pol.Op)
	}
	for _, want := range []string{"aws-refused:", "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role " + ptcRole,
		"still holds the document the change was planned from", "aws iam list-role-policies --role-name " + ptcRole} {
		if !strings.Contains(pol.Error, want) {
			t.Errorf("role policy refusal %q does not say %q", pol.Error, want)
		}
	}
	if r := byTarget[hubRule]; r.Decision != audit.DecisionRefused || !strings.Contains(r.Error, "needs "+policyARN) {
		t.Errorf("fromHub rule record %s %q; want refused, naming the policy it needs", r.Decision, r.Error)
	}
	if summary == nil || summary.Counts.Refused != 2 || summary.Counts.Failed != 0 || summary.Error != "" {
		t.Errorf("unit summary %+v; want 2 refused, none failed", summary)
	}

	// The rest of the member converged: its other rule, its repositories.
	rules, err := w.ecr(member, region).DescribePullThroughCacheRules(w.ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, r := range rules.PullThroughCacheRules {
		prefixes = append(prefixes, aws.ToString(r.EcrRepositoryPrefix))
	}
	if strings.Join(prefixes, ",") != "ecr-public" {
		t.Errorf("member's rules %v, want ecr-public alone (hub left out with the role's policy)", prefixes)
	}
	if p := w.policy(member, region, "team/app"); !strings.Contains(p, "EcrWardenOrgPull") {
		t.Errorf("member's repository policy %q, want the org grant", p)
	}
	// A member with room converged its role fully.
	other := iam.NewFromConfig(w.cfg(w.org.Accounts[1].ID, region))
	_, err = other.GetRolePolicy(w.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String(ptcRole)})
	var missing *iamtypes.NoSuchEntityException
	if errors.As(err, &missing) || err != nil {
		t.Errorf("another member's PTC role policy: %v", err)
	}
}
