package desired

import (
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// weakenings are hand edits of one of ecr-warden's statements in AWS that keep its Sid but let
// more in. The plan must see each as a difference and write the declared statement back; a
// normalisation or equivalence that called one "the same" would keep a grant the declaration does
// not make.
var weakenings = map[string]func(s *policy.Statement) bool{
	"condition removed": func(s *policy.Statement) bool {
		if len(s.Condition) == 0 {
			return false
		}
		s.Condition = nil
		return true
	},
	"operator IfExists": func(s *policy.Statement) bool {
		return renameOperators(s, func(op string) string { return op + "IfExists" })
	},
	"ForAnyValue to ForAllValues": func(s *policy.Statement) bool {
		return renameOperators(s, func(op string) string { return strings.Replace(op, "ForAnyValue:", "ForAllValues:", 1) })
	},
	"StringEquals to StringLike with a wildcard": func(s *policy.Statement) bool {
		eq, ok := s.Condition["StringEquals"]
		if !ok {
			return false
		}
		c := cloneCondition(s.Condition)
		delete(c, "StringEquals")
		like := map[string]policy.StringList{}
		for k, v := range eq {
			like[k] = policy.StringList{v[0][:len(v[0])-1] + "*"}
		}
		c["StringLike"] = like
		s.Condition = c
		return true
	},
	"condition value added": func(s *policy.Statement) bool {
		if len(s.Condition) == 0 {
			return false
		}
		c := cloneCondition(s.Condition)
		for op, kv := range c {
			for k, v := range kv {
				kv[k] = append(append(policy.StringList(nil), v...), "*")
				c[op] = kv
				s.Condition = c
				return true
			}
		}
		return false
	},
	"principal added": func(s *policy.Statement) bool {
		if s.Principal == nil || len(s.Principal.AWS) == 0 || s.Principal.IsPublic() {
			return false
		}
		p := *s.Principal
		p.AWS = append(append(policy.StringList(nil), p.AWS...), "arn:aws:iam::444455556666:root")
		s.Principal = &p
		return true
	},
	"role widened to its account": func(s *policy.Statement) bool {
		if s.Principal == nil || len(s.Principal.AWS) == 0 || !strings.Contains(s.Principal.AWS[0], ":role/") {
			return false
		}
		acct, _, _ := strings.Cut(strings.TrimPrefix(s.Principal.AWS[0], "arn:aws:iam::"), ":")
		s.Principal = &policy.Principal{AWS: policy.StringList{acct}}
		return true
	},
	"principal everyone": func(s *policy.Statement) bool {
		if s.Principal == nil || s.Principal.Wildcard {
			return false
		}
		s.Principal = &policy.Principal{Wildcard: true}
		return true
	},
	"service principal everyone": func(s *policy.Statement) bool {
		if s.Principal == nil || len(s.Principal.Service) == 0 {
			return false
		}
		s.Principal = &policy.Principal{Service: policy.StringList{"*"}}
		return true
	},
	"action wildcard": func(s *policy.Statement) bool {
		if len(s.Action) == 0 || strings.HasPrefix(s.Action[0], "sts:") {
			return false
		}
		svc, _, _ := strings.Cut(s.Action[0], ":")
		s.Action = append(append(policy.StringList(nil), s.Action...), svc+":*")
		return true
	},
	"resource everything": func(s *policy.Statement) bool {
		if len(s.Resource) == 0 || s.Resource[0] == "*" {
			return false
		}
		s.Resource = policy.StringList{"*"}
		return true
	},
	"resource to NotResource": func(s *policy.Statement) bool {
		if len(s.Resource) == 0 {
			return false
		}
		s.NotResource, s.Resource = s.Resource, nil
		return true
	},
	"action to NotAction": func(s *policy.Statement) bool {
		if len(s.Action) == 0 {
			return false
		}
		s.NotAction, s.Action = s.Action, nil
		return true
	},
}

func renameOperators(s *policy.Statement, f func(string) string) bool {
	if len(s.Condition) == 0 {
		return false
	}
	c := policy.Condition{}
	changed := false
	for op, kv := range s.Condition {
		n := f(op)
		changed = changed || n != op
		c[n] = kv
	}
	s.Condition = c
	return changed
}

func cloneCondition(c policy.Condition) policy.Condition {
	out := make(policy.Condition, len(c))
	for op, kv := range c {
		m := make(map[string]policy.StringList, len(kv))
		for k, v := range kv {
			m[k] = append(policy.StringList(nil), v...)
		}
		out[op] = m
	}
	return out
}

// TestWeakenedOwnedStatementIsRewritten: every owned statement of every document the example
// declaration renders, weakened in AWS in each way above, is planned as a change back to the
// declared statement, never as "AWS already holds an equivalent document".
func TestWeakenedOwnedStatementIsRewritten(t *testing.T) {
	d := example(t)
	s := New(d, fixedAccounts)
	type doc struct {
		kind   policy.DocumentKind
		target string
		owned  []policy.Statement
	}
	var docs []doc
	for _, acct := range []string{hubID, teamA} {
		docs = append(docs, doc{policy.ECRRegistryPolicy, "registry " + acct, s.RegistryStatements(acct, region)})
	}
	for _, g := range d.Grants {
		if g.Placement != config.PlacementRepository {
			continue
		}
		name := "any/repo"
		if len(g.Repositories) > 0 {
			name = strings.ReplaceAll(g.Repositories[0], "*", "x")
		}
		repo := Repository{Account: teamA, Region: region, Name: name, Tags: g.RepositoryTags}
		docs = append(docs, doc{policy.ECRRepositoryPolicy, "repository " + repo.Name, s.RepositoryStatements(repo)})
	}
	docs = append(docs, doc{policy.PublicRepositoryPolicy, "public tools/cli", s.PublicRepositoryStatements(PublicRepository{Account: hubID, Name: "tools/cli"})})
	if role, ok := s.PTCRole(teamA); ok {
		docs = append(docs, doc{policy.RoleTrustPolicy, "ptc trust", role.Trust.Statements}, doc{policy.RoleInlinePolicy, "ptc permissions", role.Permission.Statements})
	}
	tried := 0
	for _, dc := range docs {
		if len(dc.owned) == 0 {
			t.Fatalf("%s: the example renders no statement", dc.target)
		}
		for i := range dc.owned {
			for name, weaken := range weakenings {
				held := append([]policy.Statement(nil), dc.owned...)
				if !weaken(&held[i]) {
					continue
				}
				tried++
				current, err := (&policy.Document{Version: dc.kind.DefaultVersion(), Statements: held}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				ch, err := plan.Document(dc.kind, dc.target, current, dc.owned, d.SidPrefix)
				if err != nil {
					t.Errorf("%s, %s %s: %v", dc.target, dc.owned[i].Sid, name, err)
					continue
				}
				if ch.Op != plan.OpUpdate {
					t.Errorf("%s, Sid %s %s: op %s (%s), want update; AWS holds %s", dc.target, dc.owned[i].Sid, name, ch.Op, ch.Reason, current)
				}
			}
		}
	}
	t.Logf("%d weakened statements planned as updates", tried)
	if tried < 50 {
		t.Fatalf("only %d weakenings applied; the example no longer exercises them", tried)
	}
}
