package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	awspolicy "github.com/hashicorp/awspolicyequivalence"
)

// What "equal" means here
//
// Two documents are equivalent when AWS would evaluate them the same way for
// the reasons ecr-warden cares about, regardless of spelling:
//
//   - statement order does not matter, and within a statement neither does
//     the order of actions, resources, principals or condition values;
//   - a single string equals a one-element list;
//   - a bare account id "123456789012" equals "arn:<partition>:iam::123456789012:root"
//     (AWS rewrites the first into the second when it stores a policy);
//   - action names compare case-insensitively ("ecr:batchgetimage" is
//     ecr:BatchGetImage), as do condition keys; duplicates in a list count once;
//     a key one operator block spells twice in different case is kept apart
//     under its spellings (IAM does not document which value it tests), so
//     such a statement equals none written with the key once;
//   - a missing Version equals "2008-10-17" (IAM's default).
//
// Sids, Effects, resource ARNs, condition operators and values are compared
// exactly. "*" and {"AWS": "*"} are kept distinct even though AWS treats them
// alike in most resource policies: rewriting one into the other is a change a
// reviewer should see. Equivalent first compares ecr-warden's canonical forms
// (cheap, so the common no-op costs little) and then asks
// hashicorp/awspolicyequivalence, the comparison Terraform's AWS provider
// uses, about the canonical texts; either saying "equal" is enough.

// Normalize returns a copy of doc in canonical form (see above) with the
// statement order kept. Its statements carry no original text.
func Normalize(doc *Document) *Document {
	if doc == nil {
		return nil
	}
	out := &Document{Version: doc.Version, ID: doc.ID, Statements: make([]Statement, len(doc.Statements))}
	if out.Version == "" {
		out.Version = VersionLegacy
	}
	for i, s := range doc.Statements {
		out.Statements[i] = NormalizeStatement(s)
	}
	return out
}

// NormalizeStatement returns s in canonical form (see Normalize).
func NormalizeStatement(s Statement) Statement {
	if s.unreadable != "" {
		return s // nothing to normalise: only its text says what it is
	}
	out := Statement{Sid: s.Sid, Effect: s.Effect}
	out.Principal = normalizePrincipal(s.Principal)
	out.NotPrincipal = normalizePrincipal(s.NotPrincipal)
	out.Action = sortedSet(s.Action, strings.ToLower)
	out.NotAction = sortedSet(s.NotAction, strings.ToLower)
	out.Resource = sortedSet(s.Resource, nil)
	out.NotResource = sortedSet(s.NotResource, nil)
	if len(s.Condition) > 0 {
		out.Condition = make(Condition, len(s.Condition))
		for op, kv := range s.Condition {
			split := caseSplit(kv)
			m := make(map[string]StringList, len(kv))
			for k, v := range kv {
				lk := strings.ToLower(k)
				if split[lk] {
					// Spelled twice in one block: IAM compares keys
					// without case, and whether it tests both values or
					// one is not documented. Kept apart under their
					// spellings, so the statement equals nothing
					// ecr-warden renders and is never vouched for as one.
					lk += "\x00" + k
				}
				m[lk] = sortedSet(v, nil)
			}
			out.Condition[op] = m
		}
	}
	return out
}

// caseSplit returns the lower-cased condition keys that one operator block
// spells more than once, in different case ("aws:PrincipalAccount" and
// "aws:principalaccount"); nil when there is none.
func caseSplit(kv map[string]StringList) map[string]bool {
	if len(kv) < 2 {
		return nil // the common block: one key
	}
	var out map[string]bool
	seen := make(map[string]bool, len(kv))
	for k := range kv {
		lk := strings.ToLower(k)
		if seen[lk] {
			if out == nil {
				out = map[string]bool{}
			}
			out[lk] = true
		}
		seen[lk] = true
	}
	return out
}

// CaseSplitKeys names, sorted, every condition key that c spells more than
// once in one operator block in different case, one entry per key with its
// spellings: `StringNotEquals "aws:PrincipalAccount" / "aws:principalaccount"`.
func CaseSplitKeys(c Condition) []string {
	var out []string
	for op, kv := range c {
		split := caseSplit(kv)
		spellings := map[string][]string{}
		for k := range kv {
			if lk := strings.ToLower(k); split[lk] {
				spellings[lk] = append(spellings[lk], strconv.Quote(k))
			}
		}
		for _, sp := range spellings {
			slices.Sort(sp)
			out = append(out, op+" "+strings.Join(sp, " / "))
		}
	}
	slices.Sort(out)
	return out
}

func normalizePrincipal(p *Principal) *Principal {
	if p == nil {
		return nil
	}
	if p.Wildcard {
		return &Principal{Wildcard: true}
	}
	return &Principal{
		AWS: sortedSet(p.AWS, func(v string) string {
			if id, ok := accountOfRoot(v); ok {
				return id
			}
			return v
		}),
		CanonicalUser: sortedSet(p.CanonicalUser, nil),
		Federated:     sortedSet(p.Federated, nil),
		Service:       sortedSet(p.Service, nil),
	}
}

// sortedSet maps, sorts and de-duplicates values; nil in gives nil out so
// absent fields stay absent.
func sortedSet(in StringList, f func(string) string) StringList {
	if len(in) == 0 {
		return nil
	}
	out := make(StringList, len(in))
	for i, v := range in {
		if f != nil {
			v = f(v)
		}
		out[i] = v
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// canonicalKey is the canonical text of a document with statements sorted,
// so that two documents are equivalent when their keys are equal.
func canonicalKey(doc *Document) string {
	parts := make([]string, len(doc.Statements))
	for i, s := range doc.Statements {
		parts[i] = StatementKey(s)
	}
	slices.Sort(parts)
	v := doc.Version
	if v == "" {
		v = VersionLegacy
	}
	return v + "\x00" + doc.ID + "\x00" + strings.Join(parts, "\x00")
}

// StatementKey is the canonical text of one statement (see Normalize): two
// statements are equivalent exactly when their keys are equal, so callers
// can index statements by it.
func StatementKey(s Statement) string {
	if s.unreadable != "" {
		// Equal only to the same text: the model cannot say more of it.
		return "\x00unreadable\x00" + string(s.raw)
	}
	n := NormalizeStatement(s)
	return string(appendStatement(nil, &n))
}

// DocumentsEquivalent reports whether a and b are equivalent (see the note
// at the top of this file). Two nil documents are equivalent; nil and a
// document are not.
func DocumentsEquivalent(a, b *Document) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	if canonicalKey(a) == canonicalKey(b) {
		return true, nil
	}
	va, vb := a.Version, b.Version
	if va == "" {
		va = VersionLegacy
	}
	if vb == "" {
		vb = VersionLegacy
	}
	if va != vb || a.ID != b.ID || len(a.Statements) != len(b.Statements) {
		return false, nil
	}
	// Only the statements without an identical canonical twin on the other
	// side need the library's opinion; it also requires equal Sids, so
	// those are matched pairwise by Sid.
	onlyA, onlyB := unmatched(a.Statements, b.Statements)
	if len(onlyA) != len(onlyB) {
		return false, nil
	}
	for _, s := range append(onlyA[:len(onlyA):len(onlyA)], onlyB...) {
		if s.unreadable != "" {
			return false, nil // a statement the model cannot read equals only its own text
		}
	}
	ta, _ := (&Document{Version: va, Statements: onlyA}).Marshal()
	tb, _ := (&Document{Version: va, Statements: onlyB}).Marshal()
	eq, err := awspolicy.PoliciesAreEquivalent(ta, tb)
	if err != nil {
		return false, fmt.Errorf("comparing policies: %w", err)
	}
	return eq, nil
}

// unmatched removes statements whose canonical key occurs on both sides
// (as a multiset) and returns the normalised rest of each side.
func unmatched(a, b []Statement) (onlyA, onlyB []Statement) {
	count := make(map[string]int, len(b))
	for _, s := range b {
		count[StatementKey(s)]++
	}
	seen := make(map[string]int, len(a))
	for _, s := range a {
		k := StatementKey(s)
		if count[k] > seen[k] {
			seen[k]++
			continue
		}
		onlyA = append(onlyA, NormalizeStatement(s))
	}
	for _, s := range b {
		k := StatementKey(s)
		if seen[k] > 0 {
			seen[k]--
			continue
		}
		onlyB = append(onlyB, NormalizeStatement(s))
	}
	return onlyA, onlyB
}

// Equivalent parses two policy texts and reports whether they are
// equivalent. "" means "no document" and is equivalent only to "".
func Equivalent(a, b string) (bool, error) {
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return strings.TrimSpace(a) == strings.TrimSpace(b), nil
	}
	da, err := Parse(a)
	if err != nil {
		return false, err
	}
	db, err := Parse(b)
	if err != nil {
		return false, err
	}
	return DocumentsEquivalent(da, db)
}

// StatementsEquivalent reports whether two statements are equivalent,
// including their Sids. The plan uses it to tell a changed owned statement
// from an unchanged one.
func StatementsEquivalent(a, b Statement) bool {
	return StatementKey(a) == StatementKey(b)
}
