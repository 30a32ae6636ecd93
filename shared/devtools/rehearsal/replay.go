package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
)

// event reads events/<name> with the sample ids replaced by the seeded ones.
func (r *run) event(name string, pairs ...string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(r.opt.Root, "events", name))
	if err != nil {
		return nil, err
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(raw))), nil
}

// invoke runs one event through a deployed function and fails on a function error.
func invoke(ctx context.Context, inst *lambdalocal.Instance, payload []byte) ([]byte, error) {
	res, err := inst.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, fmt.Errorf("%s failed: %v\n%s", inst.Function().Name, res.Err, strings.Join(res.Logs, "\n"))
	}
	return res.Payload, nil
}

// replay sends a repository event and an account event through the deployed functions, then the
// deploy-time backfill (fanned out to the deployed worker), and checks that each converged.
func (r *run) replay(ctx context.Context, d *deployed, rep *Report) error {
	memberA, err := r.config(ctx, r.org.MemberA)
	if err != nil {
		return err
	}
	// A repository created in member A (the event's own account), then its event.
	if _, err := ecr.NewFromConfig(memberA).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-a/app"),
		Tags: []ecrtypes.Tag{{Key: aws.String("share"), Value: aws.String("org")}}}); err != nil {
		return fmt.Errorf("creating team-a/app in member %s: %w", r.org.MemberA, err)
	}
	ev, err := r.event("ecr-create-repository-api-member.json", "222222222222", r.org.MemberA)
	if err != nil {
		return err
	}
	if _, err := invoke(ctx, d.inst["repository"], ev); err != nil {
		return err
	}
	pol, err := ecr.NewFromConfig(memberA).GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("team-a/app")})
	if err != nil || !strings.Contains(aws.ToString(pol.PolicyText), `"EcrWardenGrantOrgPull`) && !strings.Contains(aws.ToString(pol.PolicyText), `"EcrWarden`) {
		return fmt.Errorf("repository event: team-a/app in %s has no ecr-warden statement (%v): %s", r.org.MemberA, err, aws.ToString(pol.PolicyText))
	}
	rep.Converged = append(rep.Converged, "repository event: team-a/app in "+r.org.MemberA+" got its policy")
	r.printf("%s\n", rep.Converged[len(rep.Converged)-1])

	// Member B moves from sandbox into workloads (the OU the declaration gives pull-through cache),
	// then the event the management account's trail records.
	org := organizations.NewFromConfig(r.srv.Config(Region))
	if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(r.org.MemberB),
		SourceParentId: aws.String(r.org.SandboxOU), DestinationParentId: aws.String(r.org.WorkloadsOU)}); err != nil {
		return fmt.Errorf("moving %s: %w", r.org.MemberB, err)
	}
	ev, err = r.event("org-move-account.json", "333333333333", r.org.MemberB, "ou-ab12-11111111", r.org.SandboxOU,
		"ou-ab12-22222222", r.org.WorkloadsOU, "999999999999", r.org.Management)
	if err != nil {
		return err
	}
	if _, err := invoke(ctx, d.inst["account"], ev); err != nil {
		return err
	}
	memberB, err := r.config(ctx, r.org.MemberB)
	if err != nil {
		return err
	}
	rules, err := ecr.NewFromConfig(memberB).DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil {
		return fmt.Errorf("account event: reading the PTC rules of %s: %w", r.org.MemberB, err)
	}
	var prefixes []string
	for _, rule := range rules.PullThroughCacheRules {
		prefixes = append(prefixes, aws.ToString(rule.EcrRepositoryPrefix))
	}
	slices.Sort(prefixes)
	if !slices.Equal(prefixes, []string{"ecr-public", "hub"}) {
		return fmt.Errorf("account event: %s has PTC rules %v, want ecr-public and hub", r.org.MemberB, prefixes)
	}
	if _, err := iam.NewFromConfig(memberB).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ecr-warden-ptc")}); err != nil {
		return fmt.Errorf("account event: the PTC role in %s: %w", r.org.MemberB, err)
	}
	rep.Converged = append(rep.Converged, "account event: "+r.org.MemberB+" moved into workloads got its PTC role and rules "+strings.Join(prefixes, ", "))
	r.printf("%s\n", rep.Converged[len(rep.Converged)-1])
	// The move also handed the member's repositories to the worker (one
	// unit per hub region), drained below with the backfill's units.
	hubCfg, err := r.config(ctx, r.org.Hub)
	if err != nil {
		return err
	}
	queued, err := sqs.NewFromConfig(hubCfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(d.cfg["account"].Environment.Variables["WARDEN_WORK_QUEUE_URL"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return fmt.Errorf("account event: reading the work queue: %w", err)
	}
	moved, _ := strconv.Atoi(queued.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if moved != 1 {
		return fmt.Errorf("account event: the move of %s queued %d units for the worker, want 1 (its repositories in %s)", r.org.MemberB, moved, Region)
	}
	rep.Converged = append(rep.Converged, "account event: the move handed "+r.org.MemberB+"'s repositories to the worker (1 unit)")
	r.printf("%s\n", rep.Converged[len(rep.Converged)-1])

	// The deploy-time backfill, as the custom resource would send it, fanned out to the worker.
	var resp struct {
		Error  string `json:"error"`
		Queued int    `json:"queued"`
		Units  int    `json:"units"`
	}
	out, err := invoke(ctx, d.inst["backfill"], []byte(DeployBackfillPayload))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.Error != "" || resp.Queued == 0 {
		return fmt.Errorf("deploy-time backfill: %s (%v)", out, err)
	}
	hub, err := r.config(ctx, r.org.Hub)
	if err != nil {
		return err
	}
	q := sqs.NewFromConfig(hub)
	env := localrun.Env{QueueURL: d.cfg["backfill"].Environment.Variables["WARDEN_WORK_QUEUE_URL"]}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(env.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("reading the work queue (%s): %w", env.QueueURL, err)
	}
	env.QueueARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	dlq, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("ecr-warden-work-dlq")})
	if err != nil {
		return fmt.Errorf("finding the work dead-letter queue: %w", err)
	}
	env.DLQURL = aws.ToString(dlq.QueueUrl)
	drained, err := localrun.Drain(ctx, q, env, Region, d.inst["worker"], 1, 1, 20)
	if err != nil {
		return err
	}
	if drained.Done != resp.Queued+moved || drained.Failures != 0 || drained.DeadLettered != 0 {
		return fmt.Errorf("deploy-time backfill: %d units queued (and %d by the move), the deployed worker converged %d (%d failures, %d dead letters: %v)",
			resp.Queued, moved, drained.Done, drained.Failures, drained.DeadLettered, drained.DeadLetters)
	}
	var dry struct {
		Summary struct{ Planned, Refused, Failed int } `json:"summary"`
	}
	out, err = invoke(ctx, d.inst["backfill"], []byte(`{"action":"backfill","targets":{"all":true},"dryRun":true}`))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &dry); err != nil || dry.Summary.Planned != 0 || dry.Summary.Refused != 0 || dry.Summary.Failed != 0 {
		return fmt.Errorf("after the deploy-time backfill a dry run still plans changes: %s (%v)", out, err)
	}
	rep.Converged = append(rep.Converged, fmt.Sprintf("deploy-time backfill: %d units through the deployed worker; a dry run after it plans nothing", resp.Queued))
	r.printf("%s\n", rep.Converged[len(rep.Converged)-1])
	return nil
}

// destroyAndRedeploy deletes every stack in reverse order, checks what is retained, and creates
// the stacks again.
func (r *run) destroyAndRedeploy(ctx context.Context, stacks []deployedStack, rep *Report) error {
	for i := len(stacks) - 1; i >= 0; i-- {
		cfg, err := r.config(ctx, stacks[i].Account)
		if err != nil {
			return err
		}
		if err := r.deleteStack(ctx, cfg, stacks[i].Name); err != nil {
			return err
		}
	}
	hub, err := r.config(ctx, r.org.Hub)
	if err != nil {
		return err
	}
	if _, err := dynamodb.NewFromConfig(hub).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("ecr-warden-audit")}); err != nil {
		return fmt.Errorf("after destroy the audit table should be retained: %w", err)
	}
	rep.Retained = append(rep.Retained, "DynamoDB table ecr-warden-audit")
	r.printf("destroyed every stack; retained: %s\n", strings.Join(rep.Retained, ", "))

	// The same names again: the hub stack cannot create the retained table.
	plan, err := r.plan(r.out, "")
	if err != nil {
		return err
	}
	hubPlan := plan[len(plan)-1]
	if _, err := r.createStack(ctx, hub, hubPlan.account, hubPlan.name, hubPlan.template); err == nil {
		return errors.New("deploying the default names again over the retained audit table succeeded; the README says it fails")
	} else {
		rep.SameNamesRefused = err.Error()
		r.printf("deploying %s again with the same names is refused, as the README says: %v\n", hubPlan.name, firstLine(err.Error()))
	}

	// A reinstall with a new prefix beside the retained trail.
	if err := <-r.reinstall; err != nil {
		r.reinstall <- err
		return err
	}
	r.reinstall <- nil
	again, err := r.deploy(ctx, r.out+"-"+ReinstallPrefix, ReinstallPrefix)
	rep.Redeployed = again
	if err != nil {
		return errors.Join(errors.New("reinstalling with namePrefix "+ReinstallPrefix), err)
	}
	name := ReinstallPrefix + "-ecr-warden-repository"
	raw, err := r.signed(ctx, hub, "lambda", "GET", "/2015-03-31/functions/"+name+"/configuration", nil)
	if err != nil {
		return fmt.Errorf("reinstall: reading %s: %w", name, err)
	}
	var fc FunctionConfig
	if err := json.Unmarshal(raw, &fc); err != nil || fc.Environment.Variables["WARDEN_AUDIT_TABLE"] != ReinstallPrefix+"-ecr-warden-audit" {
		return fmt.Errorf("reinstall: %s writes to %q, want %s-ecr-warden-audit (%v)", name, fc.Environment.Variables["WARDEN_AUDIT_TABLE"], ReinstallPrefix, err)
	}
	r.printf("reinstalled with namePrefix %s beside the retained trail: %d stacks, %s writes to %s\n", ReinstallPrefix, len(again), name,
		fc.Environment.Variables["WARDEN_AUDIT_TABLE"])
	return nil
}
