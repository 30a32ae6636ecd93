package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Shrinking: what ecr-warden may still write when it may not write what the
// declaration wants (the planned document is over its size limit, or a run
// applies revocations only). A revocation must never wait behind growth, so
// the owned statements a document holds are kept only as far as the
// declaration still wants them: nothing is added or widened, and everything
// no longer wanted goes.

// Shrink returns the owned statements of current kept only as far as want
// (the owned statements the declaration wants) still asks for them:
//
//   - a statement whose Sid is not wanted any more is left out;
//   - one equivalent to the wanted statement is kept as it is (its text);
//   - otherwise it becomes the intersection of both: the principals,
//     actions and resources found in both (a "*" on one side gives the
//     other side's), with the conditions of both ANDed. Where both carry
//     the same operator and key with different values, the values both
//     hold are kept for a matching operator (StringEquals, ArnLike, ...:
//     fewer values match fewer requests) and all of them for a negated one
//     (StringNotEquals, ...: more values exclude more); any other operator,
//     a NotPrincipal/NotAction/NotResource that differs, a condition key
//     spelled twice in one block in different case, or an empty
//     intersection leaves the statement out.
//
// Every statement returned therefore allows no request that current and
// want do not both allow. The result keeps current's order and holds each
// Sid once. left names, per wanted Sid, what the result does not grant that
// want does (for the audit record of what was left out); Sids absent from
// left are kept as wanted.
func Shrink(current, want []Statement) (kept []Statement, left []string) {
	wanted := make(map[string]Statement, len(want))
	for _, w := range want {
		wanted[w.Sid] = w
	}
	// One statement per Sid, even where AWS holds a Sid twice (a copy made
	// by hand under an owned Sid): an equivalent one as it is, else the
	// first that intersects; at the place of the Sid's first statement.
	have := map[string]Statement{}
	for _, c := range current {
		if w, ok := wanted[c.Sid]; ok && StatementsEquivalent(c, w) {
			if _, done := have[c.Sid]; !done {
				have[c.Sid] = c
			}
		}
	}
	for _, c := range current {
		if _, done := have[c.Sid]; done {
			continue
		}
		if w, ok := wanted[c.Sid]; ok {
			if n, ok := intersect(c, w); ok {
				have[c.Sid] = n
			}
		}
	}
	placed := map[string]bool{}
	for _, c := range current {
		if k, ok := have[c.Sid]; ok && !placed[c.Sid] {
			kept = append(kept, k)
			placed[c.Sid] = true
		}
	}
	for _, w := range want {
		k, ok := have[w.Sid]
		if !ok {
			left = append(left, fmt.Sprintf("statement %s not added", w.Sid))
			continue
		}
		if StatementsEquivalent(k, w) {
			continue
		}
		var parts []string
		if m := missingPrincipals(k.Principal, w.Principal); len(m) > 0 {
			parts = append(parts, fmt.Sprintf("%d principal(s) not added (%s)", len(m), abbreviate(m, 10)))
		}
		if m := missing(k.Action, w.Action, strings.ToLower); len(m) > 0 {
			parts = append(parts, fmt.Sprintf("action(s) not added (%s)", abbreviate(m, 10)))
		}
		if m := missing(k.Resource, w.Resource, nil); len(m) > 0 {
			parts = append(parts, fmt.Sprintf("resource(s) not added (%s)", abbreviate(m, 10)))
		}
		if StatementKey(Statement{Condition: k.Condition}) != StatementKey(Statement{Condition: w.Condition}) {
			parts = append(parts, "the declared conditions not applied (the narrower of the held and declared ones kept)")
		}
		if len(parts) == 0 {
			parts = append(parts, "not rewritten as declared")
		}
		left = append(left, fmt.Sprintf("statement %s: %s", w.Sid, strings.Join(parts, ", ")))
	}
	return kept, left
}

// intersect is the statement allowing only what both a and b allow (a's
// Sid and spelling where they agree), or false when there is none or it
// cannot be said in one statement.
func intersect(a, b Statement) (Statement, bool) {
	if !strings.EqualFold(a.Effect, "Allow") || !strings.EqualFold(b.Effect, "Allow") {
		return Statement{}, false
	}
	for _, pair := range [][2]StringList{{a.NotAction, b.NotAction}, {a.NotResource, b.NotResource}} {
		if StatementKey(Statement{Action: pair[0]}) != StatementKey(Statement{Action: pair[1]}) {
			return Statement{}, false
		}
	}
	if StatementKey(Statement{NotPrincipal: a.NotPrincipal}) != StatementKey(Statement{NotPrincipal: b.NotPrincipal}) {
		return Statement{}, false
	}
	out := Statement{Sid: a.Sid, Effect: a.Effect, NotPrincipal: a.NotPrincipal, NotAction: a.NotAction, NotResource: a.NotResource}
	var ok bool
	if out.Principal, ok = intersectPrincipal(a.Principal, b.Principal); !ok {
		return Statement{}, false
	}
	if out.Action, ok = intersectList(a.Action, b.Action, strings.ToLower); !ok {
		return Statement{}, false
	}
	if out.Resource, ok = intersectList(a.Resource, b.Resource, nil); !ok {
		return Statement{}, false
	}
	if out.Condition, ok = andConditions(a.Condition, b.Condition); !ok {
		return Statement{}, false
	}
	return out, true
}

// intersectList is the values of a that b also holds (compared through
// norm), "*" on one side standing for the other side's values; both absent
// is absent, one absent is no intersection.
func intersectList(a, b StringList, norm func(string) string) (StringList, bool) {
	if len(a) == 0 && len(b) == 0 {
		return nil, true
	}
	switch {
	case len(a) == 0 || len(b) == 0:
		return nil, false
	case slices.Contains(a, "*"):
		return slices.Clone(b), true
	case slices.Contains(b, "*"):
		return slices.Clone(a), true
	}
	in := make(map[string]bool, len(b))
	for _, v := range b {
		in[key(v, norm)] = true
	}
	var out StringList
	for _, v := range a {
		if in[key(v, norm)] {
			out = append(out, v)
		}
	}
	return out, len(out) > 0
}

func key(v string, norm func(string) string) string {
	if norm != nil {
		return norm(v)
	}
	return v
}

// principalKey compares AWS principals the way AWS stores them (an account
// id is its root ARN).
func principalKey(v string) string {
	if id, ok := accountOfRoot(v); ok {
		return id
	}
	return v
}

// intersectPrincipal is the principals both a and b name, per type.
func intersectPrincipal(a, b *Principal) (*Principal, bool) {
	switch {
	case a == nil && b == nil:
		return nil, true
	case a == nil || b == nil:
		return nil, false
	case a.Wildcard:
		cp := *b
		return &cp, true
	case b.Wildcard:
		cp := *a
		return &cp, true
	}
	var out Principal
	n := 0
	for _, f := range []struct {
		a, b StringList
		to   *StringList
		norm func(string) string
	}{
		{a.AWS, b.AWS, &out.AWS, principalKey},
		{a.Service, b.Service, &out.Service, nil},
		{a.Federated, b.Federated, &out.Federated, nil},
		{a.CanonicalUser, b.CanonicalUser, &out.CanonicalUser, nil},
	} {
		if len(f.a) == 0 || len(f.b) == 0 {
			continue // a type only one side names: nobody both allow
		}
		if v, ok := intersectList(f.a, f.b, f.norm); ok {
			*f.to = v
			n += len(v)
		}
	}
	return &out, n > 0
}

// andConditions is a's and b's conditions together (see Shrink).
func andConditions(a, b Condition) (Condition, bool) {
	if len(a) == 0 && len(b) == 0 {
		return nil, true
	}
	if len(CaseSplitKeys(a))+len(CaseSplitKeys(b)) > 0 {
		// A key spelled twice in one block: which value IAM tests is
		// not documented, so no narrower statement can be vouched for.
		return nil, false
	}
	out := Condition{}
	add := func(op, k string, v StringList) {
		if out[op] == nil {
			out[op] = map[string]StringList{}
		}
		out[op][k] = v
	}
	for op, kv := range a {
		for k, v := range kv {
			add(op, k, v)
		}
	}
	for op, kv := range b {
		for k, v := range kv {
			var held StringList
			var heldKey string
			for hk, hv := range out[op] {
				if strings.EqualFold(hk, k) {
					held, heldKey = hv, hk
				}
			}
			if heldKey == "" {
				add(op, k, v)
				continue
			}
			if sameSet(held, v) {
				continue
			}
			switch {
			case negatedOperator(op):
				add(op, heldKey, union(held, v))
			case matchingOperator(op):
				both, ok := intersectList(held, v, nil)
				if !ok || slices.Contains(held, "*") || slices.Contains(v, "*") {
					return nil, false
				}
				add(op, heldKey, both)
			default:
				return nil, false
			}
		}
	}
	return out, true
}

// matchingOperator reports an operator whose listed values are
// alternatives a request must match one of: fewer values, fewer requests.
func matchingOperator(op string) bool {
	base := strings.TrimSuffix(strings.TrimPrefix(op, "ForAnyValue:"), "IfExists")
	switch base {
	case "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike":
		return true
	}
	return false
}

// negatedOperator reports an operator whose listed values a single-valued
// key must match none of: more values, fewer requests.
func negatedOperator(op string) bool {
	switch strings.TrimSuffix(op, "IfExists") {
	case "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike":
		return true
	}
	return false
}

func sameSet(a, b StringList) bool {
	x, y := sortedSet(a, nil), sortedSet(b, nil)
	return slices.Equal(x, y)
}

func union(a, b StringList) StringList {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// missing is the values of want that have does not hold (by norm).
func missing(have, want StringList, norm func(string) string) []string {
	if slices.Contains(have, "*") {
		return nil
	}
	in := map[string]bool{}
	for _, v := range have {
		in[key(v, norm)] = true
	}
	var out []string
	for _, v := range want {
		if !in[key(v, norm)] {
			out = append(out, v)
		}
	}
	return out
}

func missingPrincipals(have, want *Principal) []string {
	if want == nil || want.Wildcard {
		if have != nil && have.Wildcard || want == nil {
			return nil
		}
		return []string{"*"}
	}
	if have == nil {
		have = &Principal{}
	}
	if have.Wildcard {
		return nil
	}
	var out []string
	out = append(out, missing(have.AWS, want.AWS, principalKey)...)
	out = append(out, missing(have.Service, want.Service, nil)...)
	out = append(out, missing(have.Federated, want.Federated, nil)...)
	out = append(out, missing(have.CanonicalUser, want.CanonicalUser, nil)...)
	return out
}

// abbreviate lists at most n values and says how many more there are.
func abbreviate(vs []string, n int) string {
	if len(vs) <= n {
		return strings.Join(vs, ", ")
	}
	return strings.Join(vs[:n], ", ") + fmt.Sprintf(" and %d more", len(vs)-n)
}
