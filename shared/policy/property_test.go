package policy

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	awspolicy "github.com/hashicorp/awspolicyequivalence"
)

// model is a generated statement in canonical terms; render writes it in
// one of the many spellings AWS accepts.
type model struct {
	sid        string
	effect     string
	accounts   []string // 12-digit ids
	roles      []string // role ARNs
	services   []string
	public     bool
	actions    []string
	resources  []string
	conditions map[string]map[string][]string
}

func genModel(r *rand.Rand, sid string) model {
	m := model{sid: sid, effect: []string{"Allow", "Deny"}[r.Intn(2)]}
	switch r.Intn(4) {
	case 0:
		m.public = true
		m.conditions = map[string]map[string][]string{"StringEquals": {"aws:PrincipalOrgID": {"o-a1b2c3d4e5"}}}
	case 1:
		m.services = []string{"pullthroughcache.ecr.amazonaws.com"}
	default:
		for i := r.Intn(4); i >= 0; i-- {
			m.accounts = append(m.accounts, fmt.Sprintf("%012d", r.Int63n(1e12)))
		}
		for i := r.Intn(3); i > 0; i-- {
			m.roles = append(m.roles, fmt.Sprintf("arn:aws:iam::%012d:role/r%d", r.Int63n(1e12), r.Intn(100)))
		}
	}
	perm := r.Perm(len(ECRActions))
	for _, i := range perm[:1+r.Intn(5)] {
		m.actions = append(m.actions, "ecr:"+ECRActions[i])
	}
	if r.Intn(2) == 0 {
		m.resources = []string{"*"}
	} else {
		for i := r.Intn(3); i >= 0; i-- {
			m.resources = append(m.resources, RegistryResourceARN("aws", "us-east-1", "111111111111", fmt.Sprintf("p%d", r.Intn(50))))
		}
	}
	if r.Intn(3) == 0 {
		if m.conditions == nil {
			m.conditions = map[string]map[string][]string{}
		}
		m.conditions["ForAnyValue:StringLike"] = map[string][]string{"aws:PrincipalOrgPaths": {"o-a1b2c3d4e5/r-ab12/ou-ab12-1/*", "o-a1b2c3d4e5/r-ab12/ou-ab12-2/*"}}
	}
	return m
}

// style picks one spelling for every choice AWS leaves open.
type style struct {
	r       *rand.Rand
	reorder bool // shuffle lists and keys
	root    bool // randomly write account ids as root ARNs
	list    bool // randomly write single values as one-element lists
	caseAct bool // randomly change action case
}

func (s style) values(in []string) string {
	v := slices.Clone(in)
	if s.reorder {
		s.r.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
	}
	if len(v) == 1 && !(s.list && s.r.Intn(2) == 0) {
		b, _ := json.Marshal(v[0])
		return string(b)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s style) object(fields []string) string {
	if s.reorder {
		s.r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	}
	ws := []string{",", ", ", ",\n  "}[s.r.Intn(3)]
	return "{" + strings.Join(fields, ws) + "}"
}

func (s style) render(m model) string {
	var f []string
	if m.sid != "" {
		f = append(f, fmt.Sprintf(`"Sid":%q`, m.sid))
	}
	f = append(f, fmt.Sprintf(`"Effect":%q`, m.effect))
	switch {
	case m.public:
		f = append(f, `"Principal":"*"`)
	case len(m.services) > 0:
		f = append(f, `"Principal":`+s.object([]string{`"Service":` + s.values(m.services)}))
	default:
		var aws []string
		for _, a := range m.accounts {
			if s.root && s.r.Intn(2) == 0 {
				a = AccountRootARN("aws", a)
			}
			aws = append(aws, a)
		}
		aws = append(aws, m.roles...)
		f = append(f, `"Principal":`+s.object([]string{`"AWS":` + s.values(aws)}))
	}
	acts := slices.Clone(m.actions)
	if s.caseAct {
		for i, a := range acts {
			if s.r.Intn(2) == 0 {
				acts[i] = strings.ToLower(a)
			}
		}
	}
	f = append(f, `"Action":`+s.values(acts), `"Resource":`+s.values(m.resources))
	if len(m.conditions) > 0 {
		var ops []string
		for op, kv := range m.conditions {
			var keys []string
			for k, v := range kv {
				keys = append(keys, fmt.Sprintf("%q:%s", k, s.values(v)))
			}
			ops = append(ops, fmt.Sprintf("%q:%s", op, s.object(keys)))
		}
		f = append(f, `"Condition":`+s.object(ops))
	}
	return s.object(f)
}

func (s style) document(ms []model) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, s.render(m))
	}
	if s.reorder {
		s.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(parts, ",\n") + "]}"
}

func genModels(r *rand.Rand, n int, ownedShare int) []model {
	var out []model
	for i := 0; i < n; i++ {
		sid := fmt.Sprintf("Team%d", i)
		switch {
		case r.Intn(10) < ownedShare:
			sid = fmt.Sprintf("EcrWarden%d", i)
		case r.Intn(5) == 0:
			sid = ""
		}
		out = append(out, genModel(r, sid))
	}
	return out
}

// Property: merging any owned set into any existing document keeps every
// foreign statement, in order, with its exact original text, and the owned
// statements of the result are exactly the ones merged in.
func TestPropertyMergeKeepsForeignStatements(t *testing.T) {
	r := rand.New(rand.NewSource(20240601))
	for iter := 0; iter < 500; iter++ {
		st := style{r: r, reorder: true, root: true, list: true, caseAct: true}
		text := st.document(genModels(r, r.Intn(8), 4))
		cur, err := Parse(text)
		if err != nil {
			t.Fatalf("iteration %d: generated document does not parse: %v\n%s", iter, err, text)
		}
		_, foreignBefore := Split(cur, "EcrWarden")
		var owned []Statement
		for i, m := range genModels(r, r.Intn(4), 10) {
			m.sid = fmt.Sprintf("EcrWardenNew%d", i)
			d := mustParse(t, `{"Statement":[`+st.render(m)+`]}`)
			owned = append(owned, d.Statements[0].WithoutRaw())
		}
		merged, err := Merge(cur, owned, "EcrWarden")
		if err != nil {
			t.Fatal(err)
		}
		out, err := merged.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("iteration %d: merged document does not parse: %v\n%s", iter, err, out)
		}
		ownedAfter, foreignAfter := Split(back, "EcrWarden")
		if len(foreignAfter) != len(foreignBefore) {
			t.Fatalf("iteration %d: %d foreign statements before, %d after", iter, len(foreignBefore), len(foreignAfter))
		}
		for i := range foreignBefore {
			if string(foreignBefore[i].Raw()) != string(foreignAfter[i].Raw()) {
				t.Fatalf("iteration %d: foreign statement %d changed:\n%s\n%s", iter, i, foreignBefore[i].Raw(), foreignAfter[i].Raw())
			}
		}
		if len(ownedAfter) != len(owned) {
			t.Fatalf("iteration %d: %d owned statements merged, %d found", iter, len(owned), len(ownedAfter))
		}
		for i := range owned {
			if !StatementsEquivalent(owned[i], ownedAfter[i]) {
				t.Fatalf("iteration %d: owned statement %d altered", iter, i)
			}
		}
	}
}

// Property: the same statements spelled differently (reordered, account id
// vs :root ARN, string vs one-element list, action case) are equivalent; and
// hashicorp/awspolicyequivalence agrees where it has an opinion (it does not
// fold action case). A real difference (an action dropped) is not
// equivalent.
func TestPropertyEquivalentSpellings(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for iter := 0; iter < 500; iter++ {
		ms := genModels(r, 1+r.Intn(6), 3)
		plainStyle := style{r: r}
		a := plainStyle.document(ms)
		caseAct := r.Intn(2) == 0
		b := style{r: r, reorder: true, root: true, list: true, caseAct: caseAct}.document(ms)
		eq, err := Equivalent(a, b)
		if err != nil || !eq {
			t.Fatalf("iteration %d: Equivalent = %v, %v\n%s\n%s", iter, eq, err, a, b)
		}
		if !caseAct {
			lib, err := awspolicy.PoliciesAreEquivalent(a, b)
			if err != nil || !lib {
				t.Fatalf("iteration %d: awspolicyequivalence disagrees: %v, %v\n%s\n%s", iter, lib, err, a, b)
			}
		}
		// A real change: drop one action from one statement (or a statement).
		changed := slices.Clone(ms)
		i := r.Intn(len(changed))
		if len(changed[i].actions) > 1 {
			changed[i].actions = changed[i].actions[1:]
		} else {
			changed = slices.Delete(changed, i, i+1)
		}
		c := plainStyle.document(changed)
		if eq, _ := Equivalent(a, c); eq {
			t.Fatalf("iteration %d: different documents compared equivalent\n%s\n%s", iter, a, c)
		}
	}
}

// Property: Marshal is a fixed point: parsing its output and marshalling
// again gives the same bytes, and Normalize is idempotent.
func TestPropertyMarshalFixedPoint(t *testing.T) {
	r := rand.New(rand.NewSource(99))
	for iter := 0; iter < 300; iter++ {
		text := style{r: r, reorder: true, root: true, list: true}.document(genModels(r, r.Intn(6), 5))
		d := mustParse(t, text)
		one, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		two, err := mustParse(t, one).Marshal()
		if err != nil || one != two {
			t.Fatalf("iteration %d: not a fixed point:\n%s\n%s", iter, one, two)
		}
		n1, _ := Normalize(d).Marshal()
		n2, _ := Normalize(mustParse(t, n1)).Marshal()
		if n1 != n2 {
			t.Fatalf("iteration %d: Normalize not idempotent:\n%s\n%s", iter, n1, n2)
		}
	}
}
