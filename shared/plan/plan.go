// Package plan compares what AWS holds with what the declaration wants and
// returns the smallest set of changes: per policy document one Change
// (create, update, delete-owned, delete-document or none) and per
// pull-through-cache rule one RuleChange. It only ever touches statements
// ecr-warden owns (Sid prefix) and rules the declaration names or retires,
// and it treats "already equivalent" as a first-class outcome so that a
// re-run writes nothing.
//
// The package is pure: values in, values out, no I/O.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Op is what a change does to AWS.
type Op string

// Document and rule operations.
const (
	// OpCreate writes a document (or rule) where none exists.
	OpCreate Op = "create"
	// OpUpdate rewrites a document whose owned statements must change
	// (or updates a rule's credential/role in place).
	OpUpdate Op = "update"
	// OpDeleteOwned removes ecr-warden's statements from a document that
	// keeps foreign statements. In AWS this is a write of the smaller
	// document (SetRepositoryPolicy / PutRegistryPolicy / PutRolePolicy),
	// not a delete call.
	OpDeleteOwned Op = "delete-owned"
	// OpDeleteDocument deletes the whole document: its only statements were
	// ecr-warden's and none are wanted any more.
	OpDeleteDocument Op = "delete-document"
	// OpNone means AWS already holds an equivalent document: no write.
	OpNone Op = "none"
	// OpDelete deletes a retired pull-through-cache rule.
	OpDelete Op = "delete"
	// OpConflict reports a pull-through-cache rule that exists with the
	// declared prefix but a different upstream; it is never overwritten.
	OpConflict Op = "conflict"
)

// Change is the plan for one policy document.
type Change struct {
	Kind policy.DocumentKind `json:"kind"`
	// Target is the ARN of the resource the document belongs to (the
	// repository, the registry's repository/* resource, the role).
	Target string `json:"target"`
	Op     Op     `json:"op"`
	// Before is the document AWS holds now, compact JSON ("" = none).
	Before string `json:"before,omitempty"`
	// After is the document to write ("" = none, e.g. delete-document).
	After string `json:"after,omitempty"`
	// Added, Changed and Removed are owned Sids, for audit and review.
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Reason says in words why this op was chosen.
	Reason string `json:"reason"`
	// ForeignUnsafe lists statements ecr-warden does not own that the guard
	// cannot vouch for, each as "statement i (Sid ...): why". They are kept
	// byte for byte and never block a write (ecr-warden judges what it
	// adds), but they are reported (audited foreign-unsafe), never co-signed.
	ForeignUnsafe []string `json:"foreignUnsafe,omitempty"`
	// Withheld, when set, says that this change only shrinks what the
	// document holds of ecr-warden's (see Owner.Document) and what the
	// declaration wants that was left out, and why: the planned document
	// was over its size limit, or the run applies revocations only. The
	// change is written; what was left out is recorded as refused.
	Withheld string `json:"withheld,omitempty"`
	// Dropped lists the statements without the Sid prefix that this change
	// removes from a wholly owned document (Owner.Wholly), each as
	// "statement i (Sid ...) <its JSON>"; they are audited.
	Dropped []string `json:"dropped,omitempty"`
}

// removedNote says, for the statements a change removes, why they count as
// ecr-warden's: a plan that only said "removing 1 ecr-warden statement(s)"
// read as if ecr-warden had written one that someone wrote by hand with a
// Sid that happens to start with the prefix, and the review before a deploy
// is the one place to catch that.
func removedNote(prefix string, removed []string) string {
	if len(removed) == 0 {
		return ""
	}
	return fmt.Sprintf("; removed, since the Sid starts with the sidPrefix %q and the declaration does not render it: %s "+
		"(one written by hand under the prefix counts as ecr-warden's too; to keep it, give it a Sid that does not start with %q)",
		prefix, strings.Join(removed, ", "), prefix)
}

// Owner is what decides which statements are ecr-warden's and what its
// guard vouches for: the Sid prefix and this organization's id (the only
// organization a "*" principal may be confined to; "" accepts any
// well-formed id).
type Owner struct {
	Prefix string
	OrgID  string
	// ShrinkOnly plans every document as its shrinking alone: what it
	// holds of ecr-warden's kept only as far as the declaration still
	// wants it, nothing added or widened (a run that applies revocations
	// only, because a clean plan was required and the plan refused some
	// documents).
	ShrinkOnly bool
	// Wholly marks a document that is ecr-warden's alone: the trust policy
	// of the PTC role it creates. A statement in it without the Sid prefix
	// is not kept but removed (listed in Change.Dropped), because whoever
	// may assume that role gets ECR push actions and the hub's upstream
	// grant.
	Wholly bool
}

// Document plans one document for o; see the package-level Document.
//
// A revocation never waits behind growth: when the planned document is over
// its size limit (or o.ShrinkOnly is set), the change is the document that
// only shrinks: ecr-warden's statements kept only as far as the declaration
// still wants them (statements no longer wanted removed, principals,
// actions and resources no longer wanted removed from the kept ones,
// nothing added or widened; policy.Shrink), foreign statements byte for
// byte. Its Withheld names the size and what was left out. When nothing
// would shrink, an over-limit document is refused as a whole, as before.
func (o Owner) Document(kind policy.DocumentKind, target, current string, owned []policy.Statement) (Change, error) {
	return document(kind, target, current, owned, o.Prefix, o.OrgID, o.ShrinkOnly, o.Wholly)
}

// Writes reports whether the change needs an AWS call.
func (c Change) Writes() bool { return c.Op != OpNone && c.Op != "" }

// Document plans one document. current is the text AWS holds ("" when
// there is none; IAM's URL-encoded form is accepted), owned the statements
// ecr-warden wants in it (all carrying prefix; empty means "none of ours").
//
// The result is checked before it is returned: a document over the size
// limit, owned statements failing policy.Guard, or a Sid held twice by
// statements carrying the reserved prefix that may deny (a Deny, or one the
// model cannot read that does not read as an Allow) is an error naming the
// target, so nothing unsafe ever reaches apply (see keptOwned: one such
// statement is kept, and under a declared Sid it displaces the declared
// statement). Foreign statements the guard
// cannot vouch for never make an error (a write that only removes or
// narrows owned statements must not be blocked by someone else's
// statement); they are listed in ForeignUnsafe.
func Document(kind policy.DocumentKind, target, current string, owned []policy.Statement, prefix string) (Change, error) {
	return document(kind, target, current, owned, prefix, "", false, false)
}

// document plans the declared document and falls back to its shrinking
// when that is over the size limit or shrinkOnly asks for it.
func document(kind policy.DocumentKind, target, current string, owned []policy.Statement, prefix, orgID string, shrinkOnly, wholly bool) (Change, error) {
	ch, err := full(kind, target, current, owned, prefix, orgID, wholly)
	var se *policy.SizeError
	oversize := err != nil && errors.As(err, &se)
	if !oversize && (err != nil || !shrinkOnly) {
		return ch, err
	}
	cur, perr := policy.Parse(current)
	if strings.TrimSpace(current) == "" {
		cur, perr = nil, nil
	}
	if perr != nil {
		return ch, err
	}
	curOwned, _ := policy.Split(cur, prefix)
	kept, left := policy.Shrink(curOwned, owned)
	if len(left) == 0 && !oversize {
		return ch, nil // nothing the declaration wants is growth
	}
	sc, serr := full(kind, target, current, kept, prefix, orgID, wholly)
	if serr != nil {
		if oversize {
			return ch, err
		}
		return sc, serr
	}
	if oversize && !sc.Writes() {
		// Nothing to remove: the growth alone is refused, as a whole.
		return ch, err
	}
	why := "this run applies revocations only (a clean plan was required and the plan refused documents)"
	if oversize {
		why = err.Error() + "; the document was written only shrunk"
	}
	sc.Withheld = why + "; left out: " + strings.Join(left, "; ")
	if sc.Writes() {
		sc.Reason += "; only what the declaration no longer wants is removed, nothing added or widened"
	}
	return sc, nil
}

// full plans the document exactly as the declaration wants it.
func full(kind policy.DocumentKind, target, current string, owned []policy.Statement, prefix, orgID string, wholly bool) (Change, error) {
	ch := Change{Kind: kind, Target: target}
	if err := policy.CheckOwned(owned, prefix); err != nil {
		return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
	}
	var cur *policy.Document
	if strings.TrimSpace(current) != "" {
		var err error
		if cur, err = policy.Parse(current); err != nil {
			return ch, fmt.Errorf("planning %s (%s): the policy found in AWS is malformed: %w", kind, target, err)
		}
		if ch.Before, err = cur.Marshal(); err != nil {
			return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
		}
	}
	curOwned, curForeign := policy.Split(cur, prefix)
	ch.Added, ch.Changed, ch.Removed = sidDelta(curOwned, owned)
	if cur != nil {
		for i, st := range cur.Statements {
			if policy.Owned(st.Sid, prefix) {
				continue
			}
			if wholly {
				text, _ := st.MarshalJSON()
				ch.Dropped = append(ch.Dropped, policy.Where(i, st)+" "+string(text))
				continue
			}
			for _, why := range policy.StatementProblems(kind, st, orgID) {
				ch.ForeignUnsafe = append(ch.ForeignUnsafe, policy.Where(i, st)+": "+why)
			}
		}
	}
	kept, displaced, notes, err := keptOwned(cur, owned, prefix)
	if err != nil {
		return ch, fmt.Errorf("planning %s (%s): refusing to write: %w", kind, target, err)
	}
	ch.ForeignUnsafe = append(ch.ForeignUnsafe, notes...)
	if len(displaced) > 0 {
		// A statement to keep holds a declared Sid: the declared statement
		// under it is left out (noted with the kept one), everything else
		// converges beside it.
		owned = slices.DeleteFunc(slices.Clone(owned), func(s policy.Statement) bool { return displaced[s.Sid] })
	}
	declared := owned
	if len(kept) > 0 {
		// Kept as AWS holds them (among ecr-warden's statements) and
		// reported; the rest of the document converges beside them (a
		// revocation never waits behind a statement ecr-warden may not
		// remove).
		owned = append(slices.Clip(owned), kept...)
		ch.Added, ch.Changed, ch.Removed = sidDelta(curOwned, owned)
	}

	if wholly {
		curForeign = nil // removed, never kept
	}
	if len(owned) == 0 && len(curOwned) == 0 && len(ch.Dropped) == 0 {
		ch.Op = OpNone
		ch.After = ch.Before
		if cur == nil {
			ch.Reason = "no document exists and none is wanted"
		} else {
			ch.Reason = "document holds no ecr-warden statements and none are wanted; left as is"
		}
		return ch, nil
	}
	if cur != nil && len(curOwned) == len(owned) && len(ch.Added)+len(ch.Changed)+len(ch.Removed) == 0 && len(ch.Dropped) == 0 {
		// Every wanted statement is present and equivalent, nothing else of
		// ours is there, and foreign statements are untouched by a merge:
		// the merged document would be equivalent to the current one.
		ch.Op, ch.After = OpNone, ch.Before
		ch.Reason = "AWS already holds an equivalent document"
		return ch, nil
	}
	base := cur
	if base == nil {
		base = &policy.Document{Version: kind.DefaultVersion()}
	}
	if wholly && cur != nil {
		base = &policy.Document{Version: cur.Version, ID: cur.ID, Statements: curOwned}
	}
	merged, err := policy.Merge(base, owned, prefix)
	if err != nil {
		return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
	}
	if len(merged.Statements) == 0 {
		// Only possible when owned is empty and curForeign is empty.
		ch.Op = OpDeleteDocument
		ch.Reason = fmt.Sprintf("the document holds only ecr-warden statements (%d) and none are wanted", len(curOwned)) + removedNote(prefix, ch.Removed)
		return ch, nil
	}
	if ch.After, err = merged.Marshal(); err != nil {
		return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
	}
	if cur != nil && len(ch.Added)+len(ch.Removed) == 0 && len(curOwned) == len(owned) {
		// Same owned Sids, some spelled differently: ask the full
		// comparison (including hashicorp/awspolicyequivalence) whether the
		// difference matters. Added or removed Sids always matter.
		eq, err := policy.DocumentsEquivalent(cur, merged)
		if err != nil {
			return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
		}
		if eq {
			ch.Op, ch.After = OpNone, ch.Before
			ch.Added, ch.Changed, ch.Removed = nil, nil, nil
			ch.Reason = "AWS already holds an equivalent document"
			return ch, nil
		}
	}
	switch {
	case cur == nil:
		ch.Op = OpCreate
		ch.Reason = fmt.Sprintf("no document exists; writing %d ecr-warden statement(s)", len(owned))
	case len(declared) == 0:
		ch.Op = OpDeleteOwned
		ch.Reason = fmt.Sprintf("removing %d ecr-warden statement(s); keeping %d foreign statement(s) (written as an update)", len(curOwned), len(curForeign))
	default:
		ch.Op = OpUpdate
		ch.Reason = fmt.Sprintf("ecr-warden statements differ (added %d, changed %d, removed %d); keeping %d foreign statement(s)",
			len(ch.Added), len(ch.Changed), len(ch.Removed), len(curForeign))
	}
	ch.Reason += removedNote(prefix, ch.Removed)
	if len(ch.Dropped) > 0 {
		ch.Reason += fmt.Sprintf("; removing %d statement(s) without the Sid prefix: the document belongs to ecr-warden's own role and is wholly owned", len(ch.Dropped))
	}
	if err := policy.CheckSize(kind, target, ch.After); err != nil {
		var se *policy.SizeError
		if errors.As(err, &se) {
			se.Owned, se.Foreign = statementsSize(kind, owned), statementsSize(kind, curForeign)
			se.OwnedCount, se.ForeignCount = len(owned), len(curForeign)
		}
		return ch, fmt.Errorf("planning %s (%s): %w", kind, target, err)
	}
	if err := policy.Guard(kind, &policy.Document{Version: merged.Version, Statements: declared}, orgID); err != nil {
		return ch, fmt.Errorf("planning %s (%s): refusing to write: %w", kind, target, err)
	}
	return ch, nil
}

// handWrittenDenyNote says why a Deny carrying the reserved prefix is kept
// and what to do about it.
const handWrittenDenyNote = "a Deny carrying ecr-warden's Sid prefix, which the declaration never renders (someone wrote it by hand); " +
	"kept as written, since ecr-warden never removes or changes a Deny, and everything else in the document is converged beside it: " +
	"rename its Sid so it does not start with the prefix (it is then kept as a foreign statement) or delete it"

// keptOwned sorts out the statements of cur carrying the reserved prefix
// that ecr-warden may not simply rewrite as declared (want), and returns
// the ones to keep as AWS holds them, the declared Sids such a statement
// holds (displaced: the declared statement under each is left out), a note
// for each such statement (for ForeignUnsafe: what it is and what was done
// with it), or an error refusing the document. One of them never blocks the
// rest of its document: a revocation beside it is written all the same.
//
// A Deny carrying the prefix: the declaration never renders a Deny, so
// someone wrote it by hand, and deleting a Deny silently widens access. It
// is kept (a Deny only narrows, so the rest of the document can converge
// beside it: a revoked grant, or a statement added by hand to a wholly
// owned trust policy, is removed all the same).
//
// A statement carrying the prefix that the model cannot read
// (Statement.Unreadable: a bare account id as Principal, which AWS resource
// policies accept, or any shape the reader refuses) is ecr-warden's, but
// nothing says what it grants. What becomes of it follows from "no wrong
// grant": a statement of ecr-warden's that the declaration does not give
// must not keep granting, and nothing ecr-warden does may widen access.
//   - An Allow (policy.ReadsAsAllow) under a Sid the declaration does not
//     render is removed: removing an Allow only narrows. Its text is in the
//     note, since AWS no longer holds it.
//   - An Allow under a Sid the declaration renders is replaced by the
//     declared statement: what it held goes (that only narrows) and what
//     comes is exactly what the declaration gives, which the guard vouches
//     for like any declared statement.
//   - Anything else (a Deny, an Effect that cannot be read) may narrow
//     access, so removing it could widen it: it is kept byte for byte,
//     like a hand-written Deny.
//
// A statement to keep under a Sid the declaration renders is kept too, and
// the declared statement under that Sid is left out (displaced, named in
// the note): writing the declared statement would remove or change it, and
// it cannot stay beside the declared statement because a Sid is held once.
// Leaving that one grant out narrows access; refusing the whole document
// instead (as this used to) also kept every grant the declaration no longer
// gives in that document, and held back every other change to it. The
// operator renames the Sid out of the prefix (ecr-warden then keeps it as a
// foreign statement and writes the declared one), fixes the statement, or
// deletes it. A Sid held twice by statements to keep is still refused: a
// Sid is written once, and neither can be dropped.
func keptOwned(cur *policy.Document, want []policy.Statement, prefix string) (kept []policy.Statement, displaced map[string]bool, notes []string, err error) {
	if cur == nil {
		return nil, nil, nil, nil
	}
	wanted := make(map[string]policy.Statement, len(want))
	for _, s := range want {
		wanted[s.Sid] = s
	}
	var errs []error
	for i, s := range cur.Statements {
		if !policy.Owned(s.Sid, prefix) {
			continue
		}
		w, declared := wanted[s.Sid]
		why := s.Unreadable()
		switch {
		case why == "" && !strings.EqualFold(s.Effect, "Deny"):
			continue // an Allow of ours: planned as declared
		case why == "" && declared && policy.StatementsEquivalent(s, w):
			continue
		case why != "" && policy.ReadsAsAllow(s):
			done := "the declaration does not render its Sid, so it is removed (removing an Allow only narrows access; a statement of ecr-warden's the declaration does not give must not keep granting)"
			if declared {
				done = "its Sid is one the declaration renders, so it is replaced by the declared statement (what it held is an Allow, and removing an Allow only narrows access)"
			}
			notes = append(notes, fmt.Sprintf("%s: carries ecr-warden's Sid prefix but cannot be read (%s); its Effect is Allow and %s; as AWS held it: %s", policy.Where(i, s), why, done, s.Raw()))
			continue
		case slices.ContainsFunc(kept, func(k policy.Statement) bool { return k.Sid == s.Sid }):
			errs = append(errs, fmt.Errorf("%s: statement Sid %q carries ecr-warden's Sid prefix and is held twice by statements ecr-warden will not remove (a Deny, or a statement it cannot read that may not be an Allow); give each its own Sid outside the prefix or delete them", policy.Where(i, s), s.Sid))
			continue
		}
		kept = append(kept, s)
		leftOut := ""
		if declared {
			if displaced == nil {
				displaced = map[string]bool{}
			}
			displaced[s.Sid] = true
			leftOut = "; its Sid is one the declaration renders, so the declared statement under it is left out of the document (it cannot be written beside it: a Sid is held once) until the Sid is renamed out of the prefix or the statement deleted"
		}
		if why == "" {
			notes = append(notes, policy.Where(i, s)+": "+handWrittenDenyNote+leftOut)
		} else {
			notes = append(notes, fmt.Sprintf("%s: carries ecr-warden's Sid prefix but cannot be read (%s), and its Effect does not read Allow; kept as written, since removing a statement that may deny could widen access, and everything else in the document is converged beside it: fix the statement, rename its Sid so it does not start with the prefix (it is then kept as a foreign statement) or delete it%s", policy.Where(i, s), why, leftOut))
		}
	}
	return kept, displaced, notes, errors.Join(errs...)
}

// statementsSize is how many characters the statements take in a document
// of this kind (each with its separating comma).
func statementsSize(kind policy.DocumentKind, sts []policy.Statement) int {
	n := 0
	for _, s := range sts {
		b, err := s.MarshalJSON()
		if err != nil {
			continue
		}
		n += kind.Size(string(b)) + 1
	}
	return n
}

// sidDelta lists owned Sids that are new, different or gone. Each wanted
// statement is matched to one held statement of its Sid (an equivalent one
// first), so a Sid AWS holds twice (a forged copy of an owned statement, or
// a hand edit that duplicated it) lists its extra copies as removed: the
// merge writes the Sid once.
func sidDelta(current, desired []policy.Statement) (added, changed, removed []string) {
	held := make(map[string][]string, len(current))
	for _, s := range current {
		held[s.Sid] = append(held[s.Sid], policy.StatementKey(s))
	}
	want := make(map[string]bool, len(desired))
	for _, s := range desired {
		want[s.Sid] = true
		keys, ok := held[s.Sid]
		switch {
		case !ok:
			added = append(added, s.Sid)
		case !slices.Contains(keys, policy.StatementKey(s)):
			changed = append(changed, s.Sid)
		}
	}
	for _, s := range current {
		if !want[s.Sid] {
			removed = append(removed, s.Sid)
		}
	}
	for _, s := range desired {
		for range max(len(held[s.Sid])-1, 0) {
			removed = append(removed, s.Sid)
		}
	}
	return added, changed, removed
}
