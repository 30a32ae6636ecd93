package plan

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// genStatement builds a valid, guard-passing ECR statement.
func genStatement(r *rand.Rand, sid string) policy.Statement {
	s := policy.Statement{Sid: sid, Effect: "Allow", Resource: policy.StringList{"*"}}
	if r.Intn(3) == 0 {
		s.Principal = &policy.Principal{Wildcard: true}
		s.Condition = policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {"o-a1b2c3d4e5"}}}
	} else {
		p := &policy.Principal{}
		for i := r.Intn(3); i >= 0; i-- {
			acct := fmt.Sprintf("%012d", r.Int63n(1e12))
			if r.Intn(2) == 0 {
				acct = policy.AccountRootARN("aws", acct)
			}
			p.AWS = append(p.AWS, acct)
		}
		s.Principal = p
	}
	for _, i := range r.Perm(len(policy.ECRActions))[:1+r.Intn(4)] {
		s.Action = append(s.Action, "ecr:"+policy.ECRActions[i])
	}
	if r.Intn(4) == 0 {
		s.Effect = "Deny"
	}
	return s
}

func genDocument(r *rand.Rand, n int) string {
	d := &policy.Document{Version: "2012-10-17"}
	for i := 0; i < n; i++ {
		sid := fmt.Sprintf("Foreign%d", i)
		if r.Intn(2) == 0 {
			sid = fmt.Sprintf("%sOld%d", prefix, i)
		}
		st := genStatement(r, sid)
		// A prefixed Deny (written by hand: ecr-warden renders only Allow)
		// is kept as it is and the rest converges beside it
		// (TestPrefixedDenyIsKeptAndDoesNotBlockRevocations).
		if r.Intn(4) == 0 {
			// A statement the model cannot read, of ours or not: a prefixed
			// Allow is removed (or replaced under a declared Sid), anything
			// else kept as written (TestUnreadablePrefixedStatementDoesNotBlockRevocations).
			if policy.Owned(sid, prefix) && r.Intn(3) == 0 {
				sid = prefix + "New1" // a Sid genOwned may declare
			}
			st = genUnreadable(r, sid)
		}
		d.Statements = append(d.Statements, st)
	}
	text, _ := d.Marshal()
	return text
}

// genUnreadable builds a statement the model cannot read (a bare account
// id as Principal, which AWS resource policies accept, or an Effect outside
// the grammar); under a declared Sid only one reading as Allow, since one
// that may deny there refuses its document.
func genUnreadable(r *rand.Rand, sid string) policy.Statement {
	effects := []string{`"Effect":"Allow",`, `"Effect":"allow",`, `"Effect":"Deny",`, `"Effect":"deny",`, ``, `"Effect":["Allow"],`}
	effect := effects[r.Intn(len(effects))]
	if strings.HasPrefix(sid, prefix+"New") {
		effect = effects[r.Intn(2)]
	}
	principal := `"Principal":"` + fmt.Sprintf("%012d", r.Int63n(1e12)) + `",`
	if effect != `"Effect":"Allow",` && effect != `"Effect":"Deny",` && r.Intn(2) == 0 {
		principal = `"Principal":{"AWS":"*"},` // the Effect alone is unreadable
	}
	text := `{"Sid":"` + sid + `",` + effect + principal + `"Action":"ecr:BatchGetImage","Resource":"*"}`
	d, err := policy.Parse(`{"Version":"2012-10-17","Statement":[` + text + `]}`)
	if err != nil || d.Statements[0].Unreadable() == "" {
		panic(fmt.Sprintf("genUnreadable %s: %v", text, err))
	}
	return d.Statements[0]
}

func genOwned(r *rand.Rand) []policy.Statement {
	var out []policy.Statement
	for i := r.Intn(4); i > 0; i-- {
		out = append(out, genStatement(r, fmt.Sprintf("%sNew%d", prefix, i)))
	}
	return out
}

// respell writes the same document differently: statements and every list
// shuffled, account ids and :root ARNs swapped, actions lower-cased.
func respell(t *testing.T, r *rand.Rand, text string) string {
	t.Helper()
	d, err := policy.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	shuffle := func(l policy.StringList) policy.StringList {
		l = slices.Clone(l)
		r.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		return l
	}
	for i, s := range d.Statements {
		if s.Unreadable() != "" {
			continue // only its text says what it is
		}
		s = s.WithoutRaw()
		s.Action = shuffle(s.Action)
		for j := range s.Action {
			s.Action[j] = strings.ToLower(s.Action[j])
		}
		if s.Principal != nil && !s.Principal.Wildcard {
			p := *s.Principal
			p.AWS = shuffle(p.AWS)
			for j, v := range p.AWS {
				if strings.HasSuffix(v, ":root") {
					p.AWS[j] = strings.Split(v, ":")[4]
				} else if policy.ValidAccountID(v) {
					p.AWS[j] = policy.AccountRootARN("aws", v)
				}
			}
			s.Principal = &p
		}
		d.Statements[i] = s
	}
	r.Shuffle(len(d.Statements), func(i, j int) { d.Statements[i], d.Statements[j] = d.Statements[j], d.Statements[i] })
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply returns what AWS holds after the change is carried out.
func apply(c Change) string {
	switch c.Op {
	case OpNone:
		return c.Before
	case OpDeleteDocument:
		return ""
	default:
		return c.After
	}
}

// Property: planning the result of an applied plan gives op none, and the
// same result spelled differently also plans to none.
func TestPropertyApplyThenPlanIsNone(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	ops := map[Op]int{}
	for iter := 0; iter < 400; iter++ {
		current := ""
		if r.Intn(5) != 0 {
			current = genDocument(r, r.Intn(6))
		}
		owned := genOwned(r)
		ch, err := Document(policy.ECRRegistryPolicy, regARN, current, owned, prefix)
		if err != nil {
			t.Fatalf("iteration %d: %v\ncurrent: %s", iter, err, current)
		}
		ops[ch.Op]++
		after := apply(ch)
		if cur, _ := policy.Parse(current); cur != nil {
			for _, st := range cur.Statements {
				raw := string(st.Raw())
				switch {
				case !policy.Owned(st.Sid, prefix) || !policy.ReadsAsAllow(st):
					// Foreign, a prefixed Deny, or a prefixed statement
					// that may deny: removing it could widen access.
					if !strings.Contains(after, raw) {
						t.Fatalf("iteration %d: %s was not kept as written: %s", iter, raw, after)
					}
				case st.Unreadable() != "":
					// An unreadable prefixed Allow: removed, or replaced by
					// the declared statement; it never keeps granting.
					if strings.Contains(after, raw) {
						t.Fatalf("iteration %d: the unreadable prefixed Allow %s was kept: %s", iter, raw, after)
					}
					if !slices.ContainsFunc(ch.ForeignUnsafe, func(n string) bool {
						return strings.Contains(n, fmt.Sprintf("%q", st.Sid)) && strings.Contains(n, "cannot be read")
					}) {
						t.Fatalf("iteration %d: the unreadable prefixed Allow %s is not reported: %q", iter, raw, ch.ForeignUnsafe)
					}
				}
			}
		}
		again, err := Document(policy.ECRRegistryPolicy, regARN, after, owned, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if again.Op != OpNone || again.Writes() {
			t.Fatalf("iteration %d: re-plan after %s gave %s (%s)\n%s", iter, ch.Op, again.Op, again.Reason, again.Diff())
		}
		if after == "" {
			continue
		}
		same, err := Document(policy.ECRRegistryPolicy, regARN, respell(t, r, after), owned, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if same.Op != OpNone {
			t.Fatalf("iteration %d: equivalent spelling planned %s\n%s", iter, same.Op, same.Diff())
		}
	}
	// The generator must exercise every op, or the property proves little.
	for _, op := range []Op{OpCreate, OpUpdate, OpDeleteOwned, OpDeleteDocument, OpNone} {
		if ops[op] == 0 {
			t.Errorf("no iteration produced op %s: %v", op, ops)
		}
	}
}

// FuzzDocument plans arbitrary current text with a fixed owned statement:
// either the text is refused with an error naming the target, or applying
// the plan and planning again yields none.
func FuzzDocument(f *testing.F) {
	for _, s := range []string{"", doc(foreignA), doc(foreignA, foreignB), doc(`{"Sid":"EcrWardenPull","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage","Resource":"*"}`), `{"Statement":{"Sid":"EcrWardenX","Effect":"Deny","Action":"ecr:*","Principal":"*"}}`, "{"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, current string, want bool) {
		var owned []policy.Statement
		if want {
			owned = []policy.Statement{pullStatement(prefix+"Pull", "arn:aws:iam::222222222222:root")}
		}
		ch, err := Document(policy.ECRRepositoryPolicy, repoARN, current, owned, prefix)
		if err != nil {
			if !strings.Contains(err.Error(), repoARN) {
				t.Fatalf("error does not name the target: %v", err)
			}
			return
		}
		again, err := Document(policy.ECRRepositoryPolicy, repoARN, apply(ch), owned, prefix)
		if err != nil {
			t.Fatalf("re-plan after %s failed: %v", ch.Op, err)
		}
		if again.Op != OpNone {
			t.Fatalf("re-plan after %s gave %s\n%s", ch.Op, again.Op, again.Diff())
		}
		_ = ch.Diff()
	})
}
