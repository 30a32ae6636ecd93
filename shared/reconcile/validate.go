package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// Rule validation. The PTC role's trust requires aws:SourceAccount by
// default (AWS's confused-deputy advice for service principals), but AWS
// does not document whether the pull-through-cache service sends that key
// when it assumes the role. So every rule ecr-warden creates or updates, and
// every rule that caches through the PTC role when that role's trust
// changes, is checked at once with ValidatePullThroughCacheRule, and the
// answer is audited: a trust condition that breaks pulls is reported right
// away, naming the declaration switch that turns it off, instead of looking
// converged. A rule that fails counts as failed in the report (and so in the
// unit's summary and the function's metrics).

// validationWaits are the pauses before each validation of a rule: IAM
// propagation of a just-written trust policy takes seconds.
var validationWaits = []time.Duration{0, 3 * time.Second, 7 * time.Second}

// validateWrittenRules validates the pull-through-cache rules among results
// that were just created or updated, and records the answers in one batch.
func (e *Engine) validateWrittenRules(ctx context.Context, cause Cause, results []apply.Result, rep *Report) {
	e.recordValidations(ctx, e.writtenRuleValidations(ctx, cause, results, rep))
}

// writtenRuleValidations validates the rules among results that were just
// created or updated and returns the audit records of the answers.
func (e *Engine) writtenRuleValidations(ctx context.Context, cause Cause, results []apply.Result, rep *Report) []audit.Record {
	var recs []audit.Record
	for _, res := range results {
		if res.Target.Kind != KindPTCRule || res.Outcome != apply.Changed {
			continue
		}
		rc, ok := res.Change.Detail.(plan.RuleChange)
		if !ok || (rc.Op != plan.OpCreate && rc.Op != plan.OpUpdate) {
			continue
		}
		if rec := e.validateRule(ctx, cause, res.Target, rc.After.CustomRoleARN != "", false, rep); rec != nil {
			recs = append(recs, *rec)
		}
	}
	return recs
}

// validateResults validates the rules among the results of one held batch
// (those written, and those caching through a PTC role whose trust changed)
// and records the answers in one batch. It runs after the batch's lease is
// released: validation only reads AWS, and in an account event it may wait
// for the hub's grant, which must not keep the registry's other writers
// waiting.
func (e *Engine) validateResults(ctx context.Context, cause Cause, state *desired.State, results []apply.Result, rep *Report) {
	e.recordValidations(ctx, append(e.writtenRuleValidations(ctx, cause, results, rep),
		e.validateRulesOfRole(ctx, cause, state, results, rep)...))
}

// recordValidations stores validation records in one batch. A failure is
// logged: the answer is already in the report and the function's logs.
func (e *Engine) recordValidations(ctx context.Context, recs []audit.Record) {
	if err := e.Exec.RecordAll(ctx, recs); err != nil {
		e.log().WarnContext(ctx, "recording pull-through-cache rule validations", "records", len(recs), "error", err.Error())
	}
}

// validateRulesOfRole validates, in every hub region, the account's rules
// that cache through the PTC role, after the role's trust policy changed
// (results are those of one held batch, which may hold the role with the
// rules). A rule written in the same batch was validated as written; a rule
// that does not exist yet is left to its own creation, which validates it;
// a rule whose write in the batch failed or was left out is validated when
// it is written.
func (e *Engine) validateRulesOfRole(ctx context.Context, cause Cause, state *desired.State, results []apply.Result, rep *Report) []audit.Record {
	account := ""
	validated := map[string]bool{}
	for _, res := range results {
		if res.Target.Kind == KindRoleTrustPolicy && res.Outcome == apply.Changed {
			account = res.Target.AccountID
		}
		switch {
		case res.Target.Kind != KindPTCRule:
		case res.Outcome == apply.Changed:
			validated[res.Target.ARN] = true
		case res.Outcome == apply.Failed || res.Outcome == apply.Refused:
			// Not what the declaration wants (its write failed, was held
			// back with a role document it needs, or was left out): its
			// own record says why, and AWS's answer about the rule as it
			// still is would only add a second, misleading failure. It
			// is validated once written.
			validated[res.Target.ARN] = true
		}
	}
	if account == "" || state == nil {
		return nil
	}
	var recs []audit.Record
	for _, region := range e.Decl.Hub.Regions {
		for _, r := range state.PTCRules(account, region) {
			t := ptcRuleResource(e.Decl.Hub.Partition, account, region, r.Prefix)
			if r.CustomRoleARN != "" && !validated[t.ARN] {
				if rec := e.validateRule(ctx, cause, t, true, true, rep); rec != nil {
					recs = append(recs, *rec)
				}
			}
		}
	}
	return recs
}

// validateRule asks AWS whether the rule at t works and returns the audit
// record of the answer (nil for a missing rule it was told to skip, and when
// ctx ended while the rule waited for the hub's grant).
// throughRole says the rule caches through the PTC role, so a failure may
// come from its trust's aws:SourceAccount condition. skipMissing leaves a
// rule that does not exist (yet) alone.
func (e *Engine) validateRule(ctx context.Context, cause Cause, t audit.Target, throughRole, skipMissing bool, rep *Report) *audit.Record {
	var (
		out *ecr.ValidatePullThroughCacheRuleOutput
		err error
	)
	if throughRole && !awaitHubGrant(ctx) {
		// A rule caching through the PTC role caches from the hub, whose
		// registry policy must hold this account's grant first. The
		// invocation ended while waiting: the rule stays unvalidated, as
		// after a crash between its write and its validation, and no
		// failure AWS never gave is recorded.
		return nil
	}
	// A role created or changed seconds ago may not have propagated through
	// IAM yet: a rule that fails is asked again, a few seconds apart, before
	// the failure is recorded.
	for i, wait := range validationWaits {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		out, err = e.Clients.ECR(t.AccountID, t.Region).ValidatePullThroughCacheRule(ctx,
			&ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(t.Name)})
		if err != nil || out.IsValid || ctx.Err() != nil {
			break
		}
	}
	var missing *ecrtypes.PullThroughCacheRuleNotFoundException
	if skipMissing && errors.As(err, &missing) {
		return nil
	}
	rec := audit.Record{Decision: audit.DecisionPTCValidated, Op: "validate", Trigger: cause.Trigger, Actor: cause.Actor, Target: t, DryRun: e.Exec.DryRun}
	var failure string
	switch {
	case err != nil:
		failure = fmt.Sprintf("validating pull-through-cache rule (%s): %v", t.ARN, err)
	case !out.IsValid:
		failure = fmt.Sprintf("pull-through-cache rule %s in account %s, region %s failed AWS's validation: %s",
			t.Name, t.AccountID, t.Region, aws.ToString(out.Failure))
	}
	if failure != "" {
		if throughRole && e.Decl.PullThroughCache != nil && e.Decl.PullThroughCache.Role.SourceAccount() {
			failure += fmt.Sprintf("; the rule caches through role %s, whose trust requires aws:SourceAccount, which AWS does not document "+
				"the pull-through-cache service sends: if pulls through this rule fail, set %s to false in the declaration and deploy",
				e.Decl.PullThroughCache.Role.Name, config.SourceAccountSwitch)
		}
		rec.Decision, rec.Error = audit.DecisionPTCValidationFailed, failure
		rep.Failed++
		rep.Errors = append(rep.Errors, failure)
	}
	return &rec
}
