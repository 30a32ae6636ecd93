package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Where the engine narrows: the writes an event makes one at a time
// (runPolicyStep) and the batches a unit, a member or the hub holder makes
// (applyHeld), and the audit records that settle a narrowing.

// suspects are the IAM principals of ecr-warden's statements in a document
// AWS refused that IAM did not confirm as existing, sorted.
func (e *Engine) suspects(ctx context.Context, after string) []string {
	doc, err := policy.Parse(after)
	if err != nil {
		return nil
	}
	var out []string
	for _, st := range doc.Statements {
		if !strings.HasPrefix(st.Sid, e.Decl.SidPrefix) || st.Principal == nil {
			continue
		}
		for _, p := range st.Principal.AWS {
			if principalARN.MatchString(p) && !slices.Contains(out, p) && e.principalState(ctx, p) != principalExists {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// refusedForPrincipalErr reports whether err is AWS refusing a document for
// a principal.
func refusedForPrincipalErr(err error) bool {
	return err != nil && awsapi.Classify(err) == awsapi.PrincipalNotReady
}

// settleNarrowing remembers the principals the narrowing left out (for every
// further document of this invocation) and records one principal-missing
// decision per principal and statement, saying why.
func (e *Engine) settleNarrowing(ctx context.Context, cause Cause, target audit.Target, refusedDoc string, n narrowing, refusal error) {
	cache := cacheOf(ctx)
	why := map[string]string{}
	for _, p := range n.refused {
		why[p] = fmt.Sprintf("AWS refuses a document naming it (%v) and IAM cannot confirm that it exists; found by narrowing the refusal down (%d writes)", refusal, n.writes)
	}
	for _, p := range n.untried {
		why[p] = fmt.Sprintf("AWS refused the document naming it with other unconfirmed principals; not tried alone because the narrowing stops after %d writes", n.writes)
	}
	if cache != nil {
		cache.mu.Lock()
		for p := range why {
			cache.distrusted[p] = true
		}
		cache.mu.Unlock()
	}
	doc, err := policy.Parse(refusedDoc)
	if err != nil {
		return
	}
	var left []omission
	for _, st := range doc.Statements {
		if !strings.HasPrefix(st.Sid, e.Decl.SidPrefix) || st.Principal == nil {
			continue
		}
		for _, p := range st.Principal.AWS {
			if w, ok := why[p]; ok {
				left = append(left, omission{Sid: st.Sid, Principal: p, Why: w})
			}
		}
	}
	e.recordOmissions(ctx, cause, target, left)
}

// causeOf is the audit cause of a step.
func causeOf(s apply.Step) Cause { return Cause{Trigger: s.Trigger, Actor: s.Actor} }

// runPolicyStep runs one document's step (its own lease); when AWS refuses
// the document for a principal, it narrows the refusal down (narrow) and
// returns the last write AWS accepted. A refusal the suspects do not explain
// is returned as it is.
func (e *Engine) runPolicyStep(ctx context.Context, step apply.Step) (apply.Result, error) {
	ctx = WithPrincipalCache(ctx)
	res, err := e.Exec.Run(ctx, step)
	refusal := cmpErr(err, res.Err)
	if !refusedForPrincipalErr(refusal) || res.Change.After == "" {
		return res, err
	}
	suspects := e.suspects(ctx, res.Change.After)
	if len(suspects) == 0 {
		return res, err
	}
	e.log().WarnContext(ctx, "AWS refused a document for a principal; narrowing down which of the principals IAM could not confirm it refuses",
		"target", step.Target.ARN, "suspects", suspects, "error", refusal.Error())
	trial := step
	trial.PrincipalWait = 0 // the refusal outlasted the propagation retry already
	best, bestErr := res, err
	n, nerr := narrow(suspects, func(exclude []string) (verdict, error) {
		r, err := e.Exec.Run(withTrialExclusion(ctx, exclude), trial)
		if werr := cmpErr(err, r.Err); werr != nil {
			if refusedForPrincipalErr(werr) {
				return refusedForPrincipal, nil
			}
			best, bestErr = r, err
			return accepted, werr
		}
		best, bestErr = r, nil
		return accepted, nil
	})
	if nerr != nil || n.baseRefused {
		return best, bestErr
	}
	e.settleNarrowing(ctx, causeOf(step), step.Target, res.Change.After, n, refusal)
	return best, bestErr
}

// applyHeld is Exec.ApplyHeld for a unit's batch, plus the narrowing of every
// document in it that AWS refused for a principal: each such document is
// narrowed down under the same held lease (each trial re-plans the document,
// reads it again and writes it as a batch of one: intent, fenced write,
// outcome), and its failure leaves the unit's error once a trial is accepted.
func (e *Engine) applyHeld(ctx context.Context, h apply.HeldLease, items []apply.HeldChange) ([]apply.Result, error) {
	ctx = WithPrincipalCache(ctx)
	results, err := e.Exec.ApplyHeld(ctx, h, items)
	if e.Exec.DryRun {
		return results, err
	}
	for i, res := range results {
		if i >= len(items) || res.Outcome != apply.Failed || !refusedForPrincipalErr(res.Err) || !res.Change.Document || res.Change.After == "" {
			continue
		}
		suspects := e.suspects(ctx, res.Change.After)
		if len(suspects) == 0 {
			continue
		}
		trial := items[i].Step
		trial.PrincipalWait = 0
		e.log().WarnContext(ctx, "AWS refused a document of a unit for a principal; narrowing down which of the principals IAM could not confirm it refuses",
			"target", trial.Target.ARN, "suspects", suspects, "error", res.Err.Error())
		var best *apply.Result
		n, nerr := narrow(suspects, func(exclude []string) (verdict, error) {
			tctx := withTrialExclusion(ctx, exclude)
			c, perr := trial.Plan(tctx)
			rs, aerr := e.Exec.ApplyHeld(tctx, h, []apply.HeldChange{{Step: trial, Change: c, Err: perr}})
			if len(rs) != 1 {
				return accepted, cmpErr(aerr, errors.New("narrowing write returned no result"))
			}
			r := rs[0]
			switch {
			case r.Outcome == apply.Failed && refusedForPrincipalErr(r.Err):
				return refusedForPrincipal, nil
			case r.Outcome == apply.Failed:
				return accepted, cmpErr(r.Err, aerr)
			}
			best = &r
			return accepted, aerr
		})
		if nerr != nil {
			err = errors.Join(err, nerr)
			continue
		}
		if n.baseRefused || best == nil {
			continue
		}
		e.settleNarrowing(ctx, causeOf(trial), trial.Target, res.Change.After, n, res.Err)
		results[i] = *best
		err = withoutErr(err, res.Err)
	}
	return results, err
}

// cmpErr is the first non-nil error.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// withoutErr removes target (the failure a narrowing has since repaired)
// from err, which ApplyHeld builds with errors.Join.
func withoutErr(err, target error) error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if errors.Is(err, target) {
			return nil
		}
		return err
	}
	var keep []error
	for _, e := range joined.Unwrap() {
		if !errors.Is(e, target) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}
