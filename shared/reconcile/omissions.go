package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Leaving out the principals IAM says do not exist, and recording what
// was left out (principal-missing), for every document the engine writes.

// omission is one principal left out of one of ecr-warden's statements.
type omission struct {
	Sid, Principal, Why string
}

// withoutMissingPrincipals returns owned without the IAM principals that do
// not exist (or that AWS refused in this invocation), dropping a statement
// only when no principal is left in it, and says what it left out.
func (e *Engine) withoutMissingPrincipals(ctx context.Context, owned []policy.Statement) ([]policy.Statement, []omission) {
	cache := cacheOf(ctx)
	var out []policy.Statement
	var left []omission
	for _, st := range owned {
		if st.Principal == nil || st.Principal.Wildcard || len(st.Principal.AWS) == 0 {
			out = append(out, st)
			continue
		}
		keep := make([]string, 0, len(st.Principal.AWS))
		for _, p := range st.Principal.AWS {
			why := ""
			switch {
			case trialExcludes(ctx, p):
				// Left out of one narrowing write only; what becomes of it
				// is recorded when the narrowing ends.
				continue
			case cache != nil && cache.isDistrusted(p):
				why = "AWS refused the document naming it and its existence could not be confirmed"
			case e.principalState(ctx, p) == principalMissing:
				why = "the IAM principal does not exist"
			}
			if why != "" {
				left = append(left, omission{Sid: st.Sid, Principal: p, Why: why})
				continue
			}
			keep = append(keep, p)
		}
		if len(keep) == len(st.Principal.AWS) {
			out = append(out, st)
			continue
		}
		if len(keep) == 0 {
			continue
		}
		cp := st.WithoutRaw()
		pr := *st.Principal
		pr.AWS = keep
		cp.Principal = &pr
		out = append(out, cp)
	}
	return out, left
}

func (c *principalCache) isDistrusted(p string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.distrusted[p]
}

// recordOmissions writes one principal-missing record per principal left
// out of a document (once per principal and document, however often the
// document is planned).
func (e *Engine) recordOmissions(ctx context.Context, cause Cause, target audit.Target, left []omission) {
	if cache := cacheOf(ctx); cache != nil {
		fresh := left[:0:0]
		cache.mu.Lock()
		for _, o := range left {
			if k := target.ARN + "|" + o.Sid + "|" + o.Principal; !cache.recorded[k] {
				cache.recorded[k] = true
				fresh = append(fresh, o)
			}
		}
		cache.mu.Unlock()
		left = fresh
	}
	sort.Slice(left, func(i, j int) bool {
		if left[i].Sid != left[j].Sid {
			return left[i].Sid < left[j].Sid
		}
		return left[i].Principal < left[j].Principal
	})
	recs := make([]audit.Record, 0, len(left))
	for _, o := range left {
		msg := fmt.Sprintf("grant %s: principal %s left out of %s: %s; the rest of the document is written, and the principal is added back once it exists (its CreateRole event or the next sweep)",
			grantOfSid(e.Decl.SidPrefix, o.Sid), o.Principal, target.ARN, o.Why)
		recs = append(recs, audit.Record{Decision: audit.DecisionPrincipalMissing, Trigger: cause.Trigger, Actor: cause.Actor, Target: target, Error: msg, DryRun: e.Exec.DryRun})
	}
	if err := e.Exec.RecordAll(ctx, recs); err != nil {
		e.log().WarnContext(ctx, "recording principals left out", "principals", len(recs), "target", target.ARN, "error", err.Error())
	}
}

// grantOfSid names the statement for people: its Sid without ecr-warden's
// prefix is the PascalCased grant name.
func grantOfSid(prefix, sid string) string {
	if rest, ok := strings.CutPrefix(sid, prefix); ok && rest != "" {
		return rest + " (statement " + sid + ")"
	}
	return "statement " + sid
}

// principalFilter is what a document's step needs to leave principals out
// and say so: why it converges and which document it is.
type principalFilter struct {
	cause  Cause
	target audit.Target
}

func (e *Engine) newPrincipalFilter(cause Cause, target audit.Target) *principalFilter {
	return &principalFilter{cause: cause, target: target}
}

// keepExisting is called by a step's Plan with ecr-warden's statements for
// the document: it returns them without principals that do not exist, and
// records (once per invocation) what it left out.
func (e *Engine) keepExisting(ctx context.Context, f *principalFilter, owned []policy.Statement) []policy.Statement {
	out, left := e.withoutMissingPrincipals(ctx, owned)
	e.recordOmissions(ctx, f.cause, f.target, left)
	return out
}

// knownMembers tells the invocation's cache which accounts are members of
// the organization (a backfill unit carries them), so no Organizations call
// is needed to decide where principals can be checked.
func knownMembers(ctx context.Context, ids []string) {
	cache := cacheOf(ctx)
	if cache == nil {
		return
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	for _, id := range ids {
		cache.members[id] = true
	}
}

// checkable reports whether a principal's account can be read: the hub
// (the function's own account) or a member of the organization (through the
// execution role). Other accounts' principals are kept unchecked and AWS
// decides. Membership comes from the unit's accounts or one DescribeAccount
// per account and invocation.
func (e *Engine) checkable(ctx context.Context, account string) bool {
	if account == e.Decl.Hub.AccountID {
		return true
	}
	if account == e.Decl.Hub.ManagementAccountID {
		return false // never a member: no execution role there
	}
	cache := cacheOf(ctx)
	if cache != nil {
		cache.mu.Lock()
		v, ok := cache.members[account]
		cache.mu.Unlock()
		if ok {
			return v
		}
	}
	v := false
	if e.Org != nil {
		a, err := e.Org.Account(ctx, account)
		v = err == nil && a.Status == "ACTIVE"
	}
	if cache != nil && ctx.Err() == nil {
		cache.mu.Lock()
		cache.members[account] = v
		cache.mu.Unlock()
	}
	return v
}
