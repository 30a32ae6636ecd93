package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// Stale write records. A write whose process died between its intent and its
// outcome (or whose outcome was recorded unknown) stays in the audit trail's
// sparse by-pending index. An event writer settles the ones of a document it
// is about to write (apply's reconcileHistory), but a document that needs no
// write, or that only units write, would keep them for good. So the sweep,
// which queries that index once per run anyway (audit.Trail.Stale, for the
// StalePending metric), settles every one it finds from what AWS holds now:
// one read per stale record, nothing on the event path, no query more.

// SettleStale settles stale write records (audit.Trail.Stale: pending or
// unknown, older than any invocation) from what AWS holds of each one's
// document now: applied when AWS holds what the write meant to write, else
// failed, with a note saying what was found. It returns the records it could
// not settle (the document could not be read: the next sweep tries again)
// and why. A record another writer settled meanwhile counts as settled.
func (e *Engine) SettleStale(ctx context.Context, recs []audit.Record) (left []audit.Record, err error) {
	var errs []error
	for _, r := range recs {
		held, rerr := e.holding(ctx, r)
		if rerr != nil {
			left = append(left, r)
			errs = append(errs, fmt.Errorf("settling stale %s record %s of %s: %w", r.Decision, r.ID, r.Target.ARN, rerr))
			continue
		}
		d, note := audit.DecisionFailed, "settled by the sweep: AWS does not hold this write's document (it holds: "+orNothing(held.Text)+")"
		if held.Holds == apply.HoldsAfter {
			d, note = audit.DecisionApplied, "settled by the sweep: AWS holds this write's document"
		}
		if r.Error != "" {
			note += "; before: " + r.Error
		}
		serr := e.Exec.Trail.Resume(r).Settle(ctx, d, note)
		var settled *ddbtypes.ConditionalCheckFailedException
		if serr != nil && !errors.As(serr, &settled) {
			left = append(left, r)
			errs = append(errs, fmt.Errorf("settling stale %s record %s of %s: %w", r.Decision, r.ID, r.Target.ARN, serr))
		}
	}
	return left, errors.Join(errs...)
}

// holding reads the document of a write record's target and compares it
// with what the write meant to write (After) and was planned from (Before).
func (e *Engine) holding(ctx context.Context, r audit.Record) (apply.Holding, error) {
	t := r.Target
	c := apply.Change{Before: r.Before, After: r.After}
	doc := func(text string, _ bool, err error) (apply.Holding, error) {
		if err != nil {
			return apply.Holding{}, err
		}
		return apply.Compare(text, c), nil
	}
	switch t.Kind {
	case KindRepositoryPolicy:
		return doc(inventory.NewRegistry(e.Clients.ECR(t.AccountID, t.Region), t.AccountID, t.Region, inventory.RegistryOptions{}).RepositoryPolicy(ctx, t.Name))
	case KindRegistryPolicy:
		return doc(inventory.NewRegistry(e.Clients.ECR(t.AccountID, t.Region), t.AccountID, t.Region, inventory.RegistryOptions{}).RegistryPolicy(ctx))
	case KindPublicRepositoryPolicy:
		return doc(inventory.NewPublic(e.Clients.Public(t.AccountID), t.AccountID, inventory.RegistryOptions{}).RepositoryPolicy(ctx, t.Name))
	case KindRoleTrustPolicy:
		cur, err := inventory.NewRoles(e.Clients.IAM(t.AccountID), t.AccountID).Role(ctx, t.Name)
		return doc(cur.TrustPolicy, cur.Exists, err)
	case KindRoleInlinePolicy:
		_, name, ok := strings.Cut(t.ARN, "/policy/")
		if !ok {
			return apply.Holding{}, fmt.Errorf("no policy name in %s", t.ARN)
		}
		cur, err := inventory.NewRoles(e.Clients.IAM(t.AccountID), t.AccountID).Role(ctx, t.Name, name)
		return doc(cur.InlinePolicies[name], cur.Exists, err)
	case KindPTCRule:
		after, okA := plan.ParseRule(r.After)
		before, okB := plan.ParseRule(r.Before)
		if !okA || !okB {
			return apply.Holding{}, fmt.Errorf("the record's rules are not in the form ecr-warden writes: %q, %q", r.Before, r.After)
		}
		rules, err := e.readRules(ctx, e.Clients.ECR(t.AccountID, t.Region), t.AccountID, t.Region)
		if err != nil {
			return apply.Holding{}, err
		}
		return ruleHolding(rules, plan.RuleChange{Prefix: t.Name, Before: before, After: after}), nil
	}
	return apply.Holding{}, fmt.Errorf("no way to read a %q document", t.Kind)
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}
