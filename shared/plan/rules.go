package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Rule is a pull-through-cache rule as ecr-warden compares it: the fields
// CreatePullThroughCacheRule takes.
type Rule struct {
	Prefix                   string `json:"ecrRepositoryPrefix"`
	UpstreamRegistryURL      string `json:"upstreamRegistryUrl"`
	UpstreamRegistry         string `json:"upstreamRegistry,omitempty"`
	CredentialARN            string `json:"credentialArn,omitempty"`
	CustomRoleARN            string `json:"customRoleArn,omitempty"`
	UpstreamRepositoryPrefix string `json:"upstreamRepositoryPrefix,omitempty"`
}

// RuleChange is the plan for one pull-through-cache rule of a registry.
type RuleChange struct {
	// Registry identifies the registry (account and region) holding the rule.
	Registry string `json:"registry"`
	Prefix   string `json:"prefix"`
	Op       Op     `json:"op"`
	Before   *Rule  `json:"before,omitempty"`
	After    *Rule  `json:"after,omitempty"`
	Reason   string `json:"reason"`
}

// Writes reports whether the rule change needs an AWS call.
func (c RuleChange) Writes() bool {
	return c.Op == OpCreate || c.Op == OpUpdate || c.Op == OpDelete
}

// Rules plans the pull-through-cache rules of one registry.
//
//   - A declared rule that does not exist is created.
//   - A declared rule whose prefix exists with the same upstream (URL,
//     registry type, upstream repository prefix) is left alone, or updated
//     in place when only credentialArn or customRoleArn differ: those are the
//     only fields UpdatePullThroughCacheRule can change.
//   - A declared rule that would need a credentialArn or customRoleArn
//     removed is a conflict: UpdatePullThroughCacheRule can only set them.
//   - A declared rule whose prefix exists with a different upstream is a
//     conflict: reported, never overwritten, because deleting and recreating
//     it would silently repoint every image cached under the prefix.
//   - A rule that is not declared is never touched, unless its prefix is in
//     retired, in which case it is deleted. A prefix both declared and
//     retired is treated as declared.
//   - A declared rule that does not exist and would not fit, because the
//     registry already holds policy.PTCRulesMax rules once the retired ones
//     are deleted (rules made by hand count), is a conflict naming the limit:
//     ECR refuses the create (LimitExceededException), so planning it would
//     make the dry run promise a rule the run then fails on. Declared rules
//     take the room left in declaration order.
//
// The result lists deletions first, in current order (they make the room
// the creates take, so a writer must finish them before the creates), then
// declared rules in declaration order.
func Rules(registry string, current, desired []Rule, retired []string) []RuleChange {
	byPrefix := make(map[string]Rule, len(current))
	for _, r := range current {
		byPrefix[r.Prefix] = r
	}
	declared := make(map[string]bool, len(desired))
	for _, want := range desired {
		declared[want.Prefix] = true
	}
	var out []RuleChange
	for _, have := range current {
		if declared[have.Prefix] || !slices.Contains(retired, have.Prefix) {
			continue
		}
		h := have
		out = append(out, RuleChange{Registry: registry, Prefix: have.Prefix, Op: OpDelete, Before: &h,
			Reason: fmt.Sprintf("prefix %q is retired in the declaration", have.Prefix)})
	}
	kept := len(current) - len(out) // the rules the registry holds once the retired ones are gone
	room := policy.PTCRulesMax - kept
	planned := make(map[string]bool, len(desired))
	for _, want := range desired {
		if planned[want.Prefix] {
			continue // the declaration's validation reports duplicates
		}
		planned[want.Prefix] = true
		w := want
		ch := RuleChange{Registry: registry, Prefix: want.Prefix, After: &w}
		have, ok := byPrefix[want.Prefix]
		if !ok && room <= 0 {
			ch.Op = OpConflict
			ch.After = nil
			ch.Reason = fmt.Sprintf("no rule with prefix %q, and ECR keeps at most %d pull-through-cache rules in a registry: it holds %d rules (made by hand or declared) once the retired ones are deleted, and the %d created for rules declared before this one take the room left; delete a rule the declaration does not name, or name one in pullThroughCache.retiredPrefixes, and the next run creates this one", want.Prefix, policy.PTCRulesMax, kept, policy.PTCRulesMax-kept)
			out = append(out, ch)
			continue
		}
		if !ok {
			room--
			ch.Op = OpCreate
			ch.Reason = fmt.Sprintf("no rule with prefix %q; creating it for %s", want.Prefix, want.UpstreamRegistryURL)
			out = append(out, ch)
			continue
		}
		h := have
		ch.Before = &h
		if why := upstreamDiffers(have, want); why != "" {
			ch.Op = OpConflict
			ch.After = nil
			ch.Reason = fmt.Sprintf("a rule with prefix %q already exists with %s; it is not overwritten: delete it or choose another prefix", want.Prefix, why)
			out = append(out, ch)
			continue
		}
		var diffs []string
		if have.CredentialARN != want.CredentialARN {
			diffs = append(diffs, fmt.Sprintf("credentialArn %q -> %q", have.CredentialARN, want.CredentialARN))
		}
		if have.CustomRoleARN != want.CustomRoleARN {
			diffs = append(diffs, fmt.Sprintf("customRoleArn %q -> %q", have.CustomRoleARN, want.CustomRoleARN))
		}
		var cannot []string
		if have.CredentialARN != "" && want.CredentialARN == "" {
			cannot = append(cannot, "credentialArn")
		}
		if have.CustomRoleARN != "" && want.CustomRoleARN == "" {
			cannot = append(cannot, "customRoleArn")
		}
		switch {
		case len(diffs) == 0:
			ch.Op = OpNone
			ch.Reason = "rule already as declared"
		case len(cannot) > 0:
			// UpdatePullThroughCacheRule sets fields, it cannot clear one (and
			// an update with neither field is refused: "Please set either
			// credential arn or role arn"), so such an update is never planned.
			ch.Op = OpConflict
			ch.After = nil
			ch.Reason = fmt.Sprintf("rule %q has %s, which the declaration does not set, and AWS cannot remove it in place; delete the rule (it is then created as declared) or declare the credential", want.Prefix, strings.Join(cannot, " and "))
		default:
			ch.Op = OpUpdate
			ch.Reason = "updating in place: " + strings.Join(diffs, ", ")
		}
		out = append(out, ch)
	}
	return out
}

// SameRule reports whether two rules are the same as Rules compares them (nil
// is no rule): the same upstream, credential and custom role. A writer uses it
// to tell whether AWS holds the rule a change meant to write.
func SameRule(a, b *Rule) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Prefix == b.Prefix && upstreamDiffers(*a, *b) == "" && a.CredentialARN == b.CredentialARN && a.CustomRoleARN == b.CustomRoleARN
}

// upstreamDiffers says how an existing rule's upstream differs from the
// declared one ("" when it does not). URLs compare case-insensitively and
// without a trailing slash or scheme; an upstreamRegistry missing on one
// side (older rules, or a declaration that leaves it to ECR) is not a
// difference.
func upstreamDiffers(have, want Rule) string {
	if normURL(have.UpstreamRegistryURL) != normURL(want.UpstreamRegistryURL) {
		return fmt.Sprintf("upstream %q (declared %q)", have.UpstreamRegistryURL, want.UpstreamRegistryURL)
	}
	if have.UpstreamRegistry != "" && want.UpstreamRegistry != "" && have.UpstreamRegistry != want.UpstreamRegistry {
		return fmt.Sprintf("upstream registry type %q (declared %q)", have.UpstreamRegistry, want.UpstreamRegistry)
	}
	if normRepoPrefix(have.UpstreamRepositoryPrefix) != normRepoPrefix(want.UpstreamRepositoryPrefix) {
		return fmt.Sprintf("upstream repository prefix %q (declared %q)", have.UpstreamRepositoryPrefix, want.UpstreamRepositoryPrefix)
	}
	return ""
}

func normURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	return strings.TrimSuffix(u, "/")
}

// normRepoPrefix treats an absent upstream repository prefix and ECR's
// "ROOT" (what an unset prefix means) as the same.
func normRepoPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "ROOT" {
		return ""
	}
	return p
}

// ruleField is one field of a rule's String form: its key and the field.
type ruleField struct {
	key string
	v   *string
}

// fields are the rule's fields in the order and under the keys its String
// form uses; String and ParseRule both read this one list.
func (r *Rule) fields() []ruleField {
	return []ruleField{
		{"prefix", &r.Prefix}, {"upstream", &r.UpstreamRegistryURL}, {"registry", &r.UpstreamRegistry},
		{"upstreamRepositoryPrefix", &r.UpstreamRepositoryPrefix}, {"credential", &r.CredentialARN}, {"customRole", &r.CustomRoleARN},
	}
}

// String is the rule in one line, as plans and audit records show it
// ("" for no rule): prefix, upstream, then the optional fields that are set.
func (r *Rule) String() string {
	if r == nil {
		return ""
	}
	var parts []string
	for i, f := range r.fields() {
		if i < 2 || *f.v != "" {
			parts = append(parts, f.key+"="+*f.v)
		}
	}
	return strings.Join(parts, " ")
}

// ParseRule reads a rule back from its String form (an audit record's
// Before or After); "" is no rule. ok is false for text String does not make.
func ParseRule(s string) (r *Rule, ok bool) {
	if s == "" {
		return nil, true
	}
	r = &Rule{}
	fields := r.fields()
	for _, f := range strings.Fields(s) {
		k, v, found := strings.Cut(f, "=")
		i := slices.IndexFunc(fields, func(x ruleField) bool { return x.key == k })
		if !found || i < 0 {
			return nil, false
		}
		*fields[i].v = v
	}
	return r, r.Prefix != ""
}

// Diff is the readable diff of one rule change: a header line with the op,
// the prefix, the registry and the reason, then the rule removed (-) and the
// rule written (+).
func (c RuleChange) Diff() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s pull-through-cache rule %s in %s: %s\n", c.Op, c.Prefix, c.Registry, c.Reason)
	if c.Before != nil {
		fmt.Fprintf(&b, "- %s\n", c.Before.String())
	}
	if c.After != nil {
		fmt.Fprintf(&b, "+ %s\n", c.After.String())
	}
	return b.String()
}
