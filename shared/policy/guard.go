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

// orgConditionKeys are the condition keys that confine a "*" principal to
// the organization (or some of its OUs), which makes "*" acceptable.
var orgConditionKeys = []string{"aws:principalorgid", "aws:principalorgpaths"}

// Guard refuses a document ecr-warden must not write. It returns every
// problem at once (errors.Join), each naming the statement:
//
//   - an Allow to "*" (or {"AWS": "*"}) without an aws:PrincipalOrgID or
//     aws:PrincipalOrgPaths condition, or an Allow with NotPrincipal: both
//     grant to the whole world;
//   - malformed principals (account ids that are not 12 digits, broken ARNs,
//     service principals that are not *.amazonaws.com);
//   - actions outside the kind's service (ecr for ECR policies and the PTC
//     role's permission policy, ecr-public for ECR Public, sts for trust
//     policies), unknown action names, and wildcards matching nothing;
//   - principals in an inline (identity) policy, missing principals in a
//     resource or trust policy.
//
// Guard checks every statement, foreign ones included: writing a document
// re-affirms all of it, so ecr-warden will not co-sign a public grant even
// if someone else wrote it.
func Guard(kind DocumentKind, doc *Document) error {
	if doc == nil {
		return errors.New("guard: nil document")
	}
	services := servicesFor(kind)
	if services == nil {
		return fmt.Errorf("guard: unknown document kind %q", kind)
	}
	var errs []error
	for i, s := range doc.Statements {
		where := fmt.Sprintf("statement %d", i)
		if s.Sid != "" {
			where = fmt.Sprintf("statement %d (Sid %q)", i, s.Sid)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
		}
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
		if kind == RoleInlinePolicy {
			if s.Principal != nil || s.NotPrincipal != nil {
				bad("an identity (inline) policy cannot name a Principal")
			}
			if len(s.Resource) == 0 && len(s.NotResource) == 0 {
				bad("no Resource")
			}
			continue
		}
		if s.Principal == nil && s.NotPrincipal == nil {
			bad("no Principal")
		}
		if s.Effect == "Allow" && s.NotPrincipal != nil {
			bad("Allow with NotPrincipal grants to everyone not listed; name the principals instead")
		}
		if s.Effect == "Allow" && s.Principal.IsPublic() && !hasOrgCondition(s.Condition) {
			bad("grants to everyone (\"*\") without an aws:PrincipalOrgID or aws:PrincipalOrgPaths condition")
		}
		for _, p := range []*Principal{s.Principal, s.NotPrincipal} {
			for _, msg := range principalProblems(p) {
				bad("%s", msg)
			}
		}
		if kind == RoleTrustPolicy && len(s.Resource)+len(s.NotResource) > 0 {
			bad("a trust policy takes no Resource")
		}
	}
	return errors.Join(errs...)
}

func hasOrgCondition(c Condition) bool {
	for op, kv := range c {
		if strings.HasPrefix(op, "ForAllValues:") {
			// ForAllValues is true when the key is absent: no confinement.
			continue
		}
		for k, v := range kv {
			for _, want := range orgConditionKeys {
				if strings.EqualFold(k, want) && len(v) > 0 {
					for _, val := range v {
						if val == "" || val == "*" {
							return false
						}
					}
					return true
				}
			}
		}
	}
	return false
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
