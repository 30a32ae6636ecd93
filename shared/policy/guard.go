package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var (
	canonicalUserPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	servicePattern       = regexp.MustCompile(`^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$`)
	iamSidPattern        = regexp.MustCompile(`^[A-Za-z0-9]*$`)
)

// Guard refuses a document ecr-warden must not write. It returns every
// problem at once (errors.Join), each naming the statement:
//
//   - an Allow to "*" (or {"AWS": "*"}) that no organization condition
//     confines (see OrgConfined), or an Allow with NotPrincipal: both grant
//     to the whole world;
//   - malformed principals (account ids that are not 12 digits, broken ARNs,
//     service principals that are not *.amazonaws.com);
//   - actions outside the kind's service (ecr for ECR policies and the PTC
//     role's permission policy, ecr-public for ECR Public, sts for trust
//     policies), unknown action names, and wildcards matching nothing;
//   - principals in an inline (identity) policy, missing principals in a
//     resource or trust policy;
//   - a condition key spelled twice in one operator block in different
//     case (IAM compares keys without case; which value it tests is not
//     documented).
//
// orgID is this organization's id; "" accepts any well-formed id (tests and
// tools that have no declaration). Guard checks every statement it is given;
// the planner hands it only ecr-warden's own statements and reports foreign
// ones with StatementProblems instead of refusing them.
func Guard(kind DocumentKind, doc *Document, orgID ...string) error {
	if doc == nil {
		return errors.New("guard: nil document")
	}
	if servicesFor(kind) == nil {
		return fmt.Errorf("guard: unknown document kind %q", kind)
	}
	org := ""
	if len(orgID) > 0 {
		org = orgID[0]
	}
	var errs []error
	for i, s := range doc.Statements {
		for _, msg := range StatementProblems(kind, s, org) {
			errs = append(errs, fmt.Errorf("%s: %s", Where(i, s), msg))
		}
	}
	return errors.Join(errs...)
}

// Where names statement i for messages: its index and, when it has one, its
// Sid, quoted with everything outside printable ASCII escaped, so a Sid that
// only looks like ecr-warden's ("ЕcrWarden..." with a Cyrillic Е, a
// right-to-left mark) never reads as one of its own.
func Where(i int, s Statement) string {
	if s.Sid != "" {
		return fmt.Sprintf("statement %d (Sid %+q)", i, s.Sid)
	}
	return fmt.Sprintf("statement %d", i)
}

// StatementProblems lists why one statement of a document of this kind
// cannot be vouched for (empty: it can). orgID is as for Guard.
func StatementProblems(kind DocumentKind, s Statement, orgID string) []string {
	if s.unreadable != "" {
		return []string{"ecr-warden cannot read it (" + s.unreadable + "); kept as AWS holds it"}
	}
	services := servicesFor(kind)
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if s.Effect != "Allow" && s.Effect != "Deny" {
		bad("Effect %q must be Allow or Deny", s.Effect)
	}
	if (kind == RoleTrustPolicy || kind == RoleInlinePolicy) && !iamSidPattern.MatchString(s.Sid) {
		bad("IAM accepts only letters and digits in a Sid")
	}
	if len(s.Action) == 0 && len(s.NotAction) == 0 {
		bad("no Action")
	}
	for _, a := range append(append(StringList(nil), s.Action...), s.NotAction...) {
		if !KnownAction(a, services...) {
			bad("action %q is not a known %s action for a %s", a, strings.Join(services, "/"), kind)
		}
	}
	for _, k := range CaseSplitKeys(s.Condition) {
		bad("condition key %s: one key spelled twice in one block in different case; IAM compares condition keys without case and does not document which value it tests", k)
	}
	if kind == RoleInlinePolicy {
		if s.Principal != nil || s.NotPrincipal != nil {
			bad("an identity (inline) policy cannot name a Principal")
		}
		if len(s.Resource) == 0 && len(s.NotResource) == 0 {
			bad("no Resource")
		}
		return out
	}
	if s.Principal == nil && s.NotPrincipal == nil {
		bad("no Principal")
	}
	if s.Effect == "Allow" && s.NotPrincipal != nil {
		bad("Allow with NotPrincipal grants to everyone not listed; name the principals instead")
	}
	if s.Effect == "Allow" && s.Principal.IsPublic() {
		if why := OrgConfined(s.Condition, orgID); why != "" {
			bad("grants to everyone (\"*\") without a condition confining it to the organization: %s", why)
		}
	}
	for _, p := range []*Principal{s.Principal, s.NotPrincipal} {
		out = append(out, principalProblems(p)...)
	}
	if kind == RoleTrustPolicy && len(s.Resource)+len(s.NotResource) > 0 {
		bad("a trust policy takes no Resource")
	}
	return out
}

// orgConditionKeys are the condition keys that confine a "*" principal to
// the organization (or some of its OUs), which makes "*" acceptable.
const (
	keyOrgID    = "aws:principalorgid"
	keyOrgPaths = "aws:principalorgpaths"
)

// confiningOperators are the only operators whose test on an organization
// key confines a "*" principal: they are false when the key is absent
// (anonymous callers, callers outside any organization) and true only for a
// matching value. StringNotEquals and friends, ...IfExists (true when the
// key is absent), Null, and ForAllValues: (true when the key is absent) do
// not confine.
var confiningOperators = map[string]bool{
	"StringEquals": true, "StringLike": true,
	"ForAnyValue:StringEquals": true, "ForAnyValue:StringLike": true,
}

var orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)

// OrgConfined says why a condition block does not confine a "*" principal to
// the organization orgID ("" accepts any well-formed organization id), or ""
// when it does: some StringEquals / StringLike (or their ForAnyValue: forms)
// test on aws:PrincipalOrgID whose every value is the organization's id, or
// on aws:PrincipalOrgPaths whose every value starts with "<org id>/"; no
// wildcard in the organization id; and no Not..., ...IfExists or Null
// operator on either key (such an operator is true for callers outside the
// organization or without the key, and is refused rather than reasoned about).
func OrgConfined(c Condition, orgID string) string {
	confined := false
	var problems []string
	for op, kv := range c {
		for k, vals := range kv {
			key := strings.ToLower(k)
			if key != keyOrgID && key != keyOrgPaths {
				continue
			}
			lop := strings.ToLower(op)
			if strings.Contains(lop, "not") || strings.HasPrefix(lop, "null") || strings.HasSuffix(lop, "ifexists") || !confiningOperators[op] {
				problems = append(problems, fmt.Sprintf("operator %s on %s does not confine callers to the organization (only StringEquals, StringLike and their ForAnyValue: forms, without IfExists, do)", op, k))
				continue
			}
			ok := len(vals) > 0
			for _, v := range vals {
				if why := orgValueProblem(key, v, orgID); why != "" {
					problems = append(problems, fmt.Sprintf("%s %s %q: %s", op, k, v, why))
					ok = false
				}
			}
			if ok {
				confined = true
			}
		}
	}
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	if !confined {
		return "no aws:PrincipalOrgID or aws:PrincipalOrgPaths condition"
	}
	return ""
}

func orgValueProblem(key, v, orgID string) string {
	id := v
	if key == keyOrgPaths {
		var ok bool
		if id, _, ok = strings.Cut(v, "/"); !ok {
			return "an organization path starts with \"<organization id>/\""
		}
	}
	if strings.ContainsAny(id, "*?$") {
		return "a wildcard or variable in the organization id matches other organizations"
	}
	if !orgIDPattern.MatchString(id) {
		return "not an organization id"
	}
	if orgID != "" && id != orgID {
		return "another organization than " + orgID
	}
	return ""
}

func principalProblems(p *Principal) []string {
	if p == nil || p.Wildcard {
		return nil
	}
	var out []string
	if len(p.AWS)+len(p.Service)+len(p.Federated)+len(p.CanonicalUser) == 0 {
		out = append(out, "empty Principal")
	}
	for _, v := range p.AWS {
		if err := ValidAWSPrincipal(v); err != nil {
			out = append(out, err.Error())
		}
	}
	for _, v := range p.Service {
		if !servicePattern.MatchString(v) {
			out = append(out, fmt.Sprintf("service principal %q is not <name>.amazonaws.com", v))
		}
	}
	for _, v := range p.CanonicalUser {
		if !canonicalUserPattern.MatchString(v) {
			out = append(out, fmt.Sprintf("canonical user %q is not 64 hex digits", v))
		}
	}
	for _, v := range p.Federated {
		if strings.TrimSpace(v) == "" {
			out = append(out, "empty federated principal")
		}
	}
	return out
}

// V2Required reports whether a registry policy needs the V2 registry policy
// scope: some statement names an action (or wildcard) outside
// V1RegistryActions. Deny statements count too, because a V1 registry
// rejects the whole document by its action names, whatever the effect.
func V2Required(doc *Document) bool {
	if doc == nil {
		return false
	}
	v1 := lowerAll(V1RegistryActions)
	for _, s := range doc.Statements {
		if s.unreadable != "" {
			// AWS holds it under the registry's scope as it is; only what
			// the document adds can need V2.
			continue
		}
		if len(s.NotAction) > 0 {
			return true
		}
		for _, a := range s.Action {
			la := strings.ToLower(a)
			found := false
			for _, v := range v1 {
				if la == v {
					found = true
					break
				}
			}
			if !found {
				return true
			}
		}
	}
	return false
}
