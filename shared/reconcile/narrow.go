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

// Narrowing a refusal down to the principals AWS refuses.
//
// Principals IAM could not confirm (their account cannot be read: outside
// the organization, the management account, access denied) are written and
// AWS decides. When AWS refuses a document as naming an invalid principal
// (after apply's propagation retry), one of those unconfirmed principals
// ("suspects") is the cause, but ECR does not say which. Leaving every
// suspect out would drop principals that exist; so the engine finds the
// refused ones by writing:
//
//  1. the document without any suspect: if AWS refuses that too, the cause is
//     elsewhere and the refusal stands, as it is;
//  2. then the suspects are added back by halves: a half AWS accepts stays
//     (that write is the document with it), a refused half is split again,
//     a single refused suspect is left out, and the halves set aside on the
//     way are tried together once more.
//
// One refused principal among n costs at most 2 + ceil(log2 n) writes; the
// total is bounded by n+1 writes whatever AWS answers (suspects not tried when the
// bound is reached are left out too, and recorded as untried), so it never
// loops. Every write is a full write of the protocol (lease, intent, outcome),
// so the audit trail shows each one; the principals left out get one
// principal-missing record each, naming the principal, the statement, the
// document and why. Principals AWS refused are left out of every further
// document of the invocation without another trial.

// trialKey carries the suspects one narrowing write leaves out.
type trialKey struct{}

func withTrialExclusion(ctx context.Context, exclude []string) context.Context {
	set := make(map[string]bool, len(exclude))
	for _, p := range exclude {
		set[p] = true
	}
	return context.WithValue(ctx, trialKey{}, set)
}

// trialExcludes reports whether the narrowing write ctx belongs to leaves p out.
func trialExcludes(ctx context.Context, p string) bool {
	set, _ := ctx.Value(trialKey{}).(map[string]bool)
	return set[p]
}

// verdict is what AWS made of one narrowing write.
type verdict int

const (
	accepted verdict = iota
	refusedForPrincipal
)

// narrowing is the outcome of narrow: which suspects stay, which AWS refused,
// which were never tried, and how many writes it took.
type narrowing struct {
	kept, refused, untried []string
	writes                 int
	// baseRefused: AWS refused the document without any suspect, so the
	// refusal is not theirs.
	baseRefused bool
}

// narrow finds the suspects AWS refuses. try writes the document without the
// given principals and reports AWS's verdict; an error (anything but a refusal
// for a principal) stops the narrowing. The original refusal (the document
// with every suspect) is what called it, so the full set is known to hold a
// refused one.
func narrow(suspects []string, try func(exclude []string) (verdict, error)) (narrowing, error) {
	var n narrowing
	budget := len(suspects) + 1
	attempt := func(keep []string) (verdict, error) {
		n.writes++
		var exclude []string
		for _, p := range suspects {
			if !slices.Contains(n.kept, p) && !slices.Contains(keep, p) {
				exclude = append(exclude, p)
			}
		}
		return try(exclude)
	}
	v, err := attempt(nil)
	if err != nil {
		return n, err
	}
	if v != accepted {
		n.baseRefused = true
		return n, nil
	}
	// Known-refused sets hold at least one refused principal. Halving one
	// finds a refused principal in ceil(log2 n) writes (a half AWS accepts is
	// kept, and the other half is then known refused); the halves set aside
	// on the way are tried together once: accepted, they are kept, refused,
	// they are the next known-refused set.
	known := slices.Clone(suspects)
	for len(known) > 0 {
		set := known
		var aside []string
		for len(set) > 1 {
			if n.writes >= budget {
				n.untried = append(n.untried, set...)
				n.untried = append(n.untried, aside...)
				return n, nil
			}
			left, right := set[:len(set)/2], set[len(set)/2:]
			v, err := attempt(left)
			if err != nil {
				return n, err
			}
			if v == accepted {
				n.kept = append(n.kept, left...)
				set = right
				continue
			}
			aside = append(aside, right...)
			set = left
		}
		n.refused = append(n.refused, set[0])
		if len(aside) == 0 {
			break
		}
		if n.writes >= budget {
			n.untried = append(n.untried, aside...)
			break
		}
		v, err := attempt(aside)
		if err != nil {
			return n, err
		}
		if v == accepted {
			n.kept = append(n.kept, aside...)
			break
		}
		known = aside
	}
	return n, nil
}

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
