package reconcile

import (
	"context"
	"slices"
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
