package iamsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The shrunk documents in the truth table: what ecr-warden writes when only
// shrinking may be written (a document over its size limit, a revocations-
// only run) is computed from what AWS holds under its Sids, and that can be
// anything a hand edit put there. For random declarations, the hub's owned
// statements are forged (opened to "*" without conditions, outside accounts
// added, actions and resources widened, an exclusion narrowed, a condition
// key split across spellings; and, so that the result is not simply the
// declared statement, an action or an account dropped) and planned with
// ShrinkOnly; the simulator
// must find that the written document never lets anyone in whom the
// declaration does not grant.

// forge returns a hostile copy of an owned statement under its Sid.
func forge(r *rand.Rand, s policy.Statement) policy.Statement {
	f := s
	if s.Principal != nil {
		p := *s.Principal
		f.Principal = &p
	}
	if r.IntN(3) == 0 {
		f.Principal = &policy.Principal{Wildcard: true}
	}
	if r.IntN(3) == 0 && f.Principal != nil && !f.Principal.Wildcard {
		f.Principal.AWS = append(slices.Clone(f.Principal.AWS), policy.AccountRootARN("aws", outsider), policy.AccountRootARN("aws", mgmtID), policy.AccountRootARN("aws", otherB))
	}
	// Narrowed too, so that the shrunk statement is not simply the
	// declared one: an action or an account the declaration wants missing.
	if r.IntN(2) == 0 && len(f.Action) > 1 {
		f.Action = slices.Clone(f.Action[1:])
	}
	if r.IntN(2) == 0 && f.Principal != nil && len(f.Principal.AWS) > 1 {
		f.Principal.AWS = slices.Clone(f.Principal.AWS[1:])
	}
	if r.IntN(3) == 0 {
		f.Action = append(slices.Clone(f.Action), "ecr:PutImage", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy")
	}
	if r.IntN(4) == 0 && len(f.Resource) > 0 {
		f.Resource = policy.StringList{"*"}
	}
	if len(s.Condition) > 0 {
		c := policy.Condition{}
		for op, kv := range s.Condition {
			c[op] = map[string]policy.StringList{}
			for k, v := range kv {
				switch {
				case r.IntN(3) == 0:
					continue // the condition dropped
				case strings.HasPrefix(op, "StringNotEquals") && len(v) > 1 && r.IntN(2) == 0:
					c[op][k] = v[:1] // an exclusion narrowed
				case len(v) > 1 && r.IntN(2) == 0:
					c[op][k] = v[:1]                  // one value under the key ...
					c[op][strings.ToLower(k)] = v[1:] // ... the rest under another spelling
				default:
					c[op][k] = v
				}
			}
		}
		f.Condition = c
	}
	if r.IntN(5) == 0 {
		f.Condition = nil
	}
	return f
}

func TestTruthTableShrunkForgedDocuments(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	r := seeded(t, 13)
	var cs []Case
	var rows []row
	var docs []string
	written, withheld, refused, invalid := 0, 0, 0, 0
	for valid := 0; valid < 100; {
		d, err := config.Parse(randomDeclaration(r))
		if err != nil {
			if invalid++; invalid > 5000 {
				t.Fatal("the generator makes too few valid declarations")
			}
			continue
		}
		valid++
		st := desired.New(d, organization())
		o := plan.Owner{Prefix: d.SidPrefix, OrgID: orgID, ShrinkOnly: true}
		shrunk := func(kind policy.DocumentKind, target string, want []policy.Statement) []policy.Statement {
			if len(want) == 0 {
				return nil
			}
			forged := make([]policy.Statement, len(want))
			for i, w := range want {
				forged[i] = forge(r, w)
			}
			cur, err := (&policy.Document{Version: policy.VersionCurrent, Statements: forged}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			ch, err := o.Document(kind, target, cur, want)
			if err != nil {
				refused++ // nothing is written
				return nil
			}
			written++
			if ch.Withheld != "" {
				withheld++
			}
			if ch.After == "" {
				return nil
			}
			doc, err := policy.Parse(ch.After)
			if err != nil {
				t.Fatalf("planned document does not parse: %v\n%s", err, ch.After)
			}
			return doc.Statements
		}
		reg := shrunk(policy.ECRRegistryPolicy, policy.RegistryARN("aws", region, hubID), st.RegistryStatements(hubID, region))
		for _, rp := range reposFor(d) {
			arn := policy.RepositoryARN("aws", region, hubID, rp.name)
			repoSts := shrunk(policy.ECRRepositoryPolicy, arn, st.RepositoryStatements(desired.Repository{Account: hubID, Region: region, Name: rp.name, Tags: rp.tags}))
			sts := slices.Concat(reg, repoSts)
			if len(sts) == 0 {
				continue
			}
			for i := range sts {
				sts[i] = sts[i].WithoutRaw()
				sts[i].Sid = fmt.Sprintf("S%d", i)
			}
			text, _ := (&policy.Document{Version: policy.VersionCurrent, Statements: sts}).Marshal()
			var pol any
			if err := json.Unmarshal([]byte(text), &pol); err != nil {
				t.Fatal(err)
			}
			for _, c := range callers {
				for _, col := range columns {
					var identity any
					if c.account != "" {
						identity = adminIdentity
					}
					cs = append(cs, Case{Principal: c.arn(), Action: col.action, Resource: arn, ResourceAccount: hubID,
						Context: contextOf(c, rp), ResourcePolicy: pol, IdentityPolicy: identity})
					rows = append(rows, row{decl: valid, caller: c, column: col.name, repo: rp, want: granted(d, c, col.action, rp)})
					docs = append(docs, text)
				}
			}
		}
	}
	res, err := s.Simulate(t.Context(), cs)
	if err != nil {
		t.Fatal(err)
	}
	allows, wider := 0, 0
	for i, x := range res {
		if x.Error != "" {
			t.Fatalf("simulator refused case %d (%+v): %s", i, rows[i], x.Error)
		}
		if !x.Allowed() {
			continue
		}
		allows++
		if !rows[i].want {
			if wider++; wider <= 20 {
				t.Errorf("declaration %d: %s %s on %s is allowed by the shrunk document, which the declaration does not grant:\n%s",
					rows[i].decl, rows[i].caller.name, rows[i].column, rows[i].repo.name, docs[i])
			}
		}
	}
	if wider > 0 {
		t.Errorf("%d of %d allows are wider than the declaration", wider, allows)
	}
	t.Logf("%d documents planned shrunk (%d with something the declaration wants left out), %d refused, %d rows, %d allowed, 0 wider than declared unless reported above",
		written, withheld, refused, len(rows), allows)
}
