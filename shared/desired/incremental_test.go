package desired_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// incrementalDeclaration has every kind of hub registry statement an account
// event can touch: an enumerate-mode OU grant that also lists a static
// account, an enumerate-mode OU grant with nothing listed (so it can lose its
// last principal), a condition-mode organization grant (names no account) and
// a fromHub PTC rule whose upstream grant enumerates all PTC members.
const incrementalDeclaration = `{
  "hub": {"accountId": "111111111111", "regions": ["us-east-1"], "partition": "aws",
          "organizationId": "o-a1b2c3d4e5", "managementAccountId": "999999999999"},
  "registryPolicyScope": {"allowSwitchToV2": true},
  "grants": [
    {"name": "ou-pull", "repositories": ["shared/*"], "access": "pull",
     "principals": {"ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"], "accounts": ["222222222222"]},
     "principalMode": "enumerate"},
    {"name": "ou-push", "repositories": ["team/*"], "access": "push",
     "principals": {"ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"]},
     "principalMode": "enumerate"},
    {"name": "org-cond", "repositories": ["public/*"], "access": "pull",
     "principals": {"organization": true}}
  ],
  "pullThroughCache": {
    "members": {"all": true},
    "rules": [{"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}]
  }
}`

const (
	incHub    = "111111111111"
	incRegion = "us-east-1"
	granted   = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
	elsewhere = "o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/"
	static    = "222222222222" // listed by ou-pull
	acctA     = "333333333333"
	acctB     = "444444444444"
	unknown   = "555555555555" // in the current document only: the function never sees it
	joiner    = "666666666666"

	sidPull     = "EcrWardenOuPullAccounts"
	sidPush     = "EcrWardenOuPushAccounts"
	sidCond     = "EcrWardenOrgCondOrg"
	sidUpstream = "EcrWardenPtcUpstreamHub"
)

func incDecl(t *testing.T) *config.Declaration {
	t.Helper()
	d, err := config.Parse([]byte(incrementalDeclaration))
	if err != nil {
		t.Fatalf("parsing the test declaration: %v", err)
	}
	return d
}

func root(id string) string { return policy.AccountRootARN("aws", id) }

func acct(id, path string) desired.Account {
	return desired.Account{ID: id, Status: "ACTIVE", OUPath: path}
}

// hubStatements is the full render of the hub registry policy for an
// organization: the oracle the incremental result must agree with whenever
// the current document was itself complete.
func hubStatements(d *config.Declaration, accounts ...desired.Account) []policy.Statement {
	return desired.New(d, accounts).RegistryStatements(incHub, incRegion)
}

func renderHub(d *config.Declaration) func(*desired.State) []policy.Statement {
	return func(s *desired.State) []policy.Statement { return s.RegistryStatements(incHub, incRegion) }
}

// canon is a statement as comparable JSON (parsed statements carry their
// original text; compare the model, not the bytes).
func canon(t *testing.T, s policy.Statement) string {
	t.Helper()
	b, err := json.Marshal(s.WithoutRaw())
	if err != nil {
		t.Fatalf("encoding statement %s: %v", s.Sid, err)
	}
	return string(b)
}

func canonAll(t *testing.T, sts []policy.Statement) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range sts {
		if _, dup := out[s.Sid]; dup {
			t.Fatalf("Sid %s appears twice in %v", s.Sid, sts)
		}
		out[s.Sid] = canon(t, s)
	}
	return out
}

func principalsOf(sts []policy.Statement, sid string) []string {
	for _, s := range sts {
		if s.Sid == sid {
			if s.Principal == nil {
				return nil
			}
			return slices.Clone([]string(s.Principal.AWS))
		}
	}
	return nil
}

func hasSid(sts []policy.Statement, sid string) bool {
	return slices.ContainsFunc(sts, func(s policy.Statement) bool { return s.Sid == sid })
}

func roots(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = root(id)
	}
	slices.Sort(out)
	return out
}

// withPrincipals returns sts with the AWS principals of sid replaced.
func withPrincipals(sts []policy.Statement, sid string, principals ...string) []policy.Statement {
	out := make([]policy.Statement, len(sts))
	for i, s := range sts {
		if s.Sid == sid {
			p := *s.Principal
			p.AWS = policy.StringList(principals)
			s.Principal = &p
		}
		out[i] = s
	}
	return out
}

// parsed round-trips statements through a document, as policy.OwnedOf hands them
// to Incremental in production.
func parsed(t *testing.T, sts []policy.Statement) []policy.Statement {
	t.Helper()
	text, err := desired.Render(policy.ECRRegistryPolicy, sts).Marshal()
	if err != nil {
		t.Fatalf("rendering current document: %v", err)
	}
	owned, err := policy.OwnedOf(text, config.DefaultSidPrefix)
	if err != nil {
		t.Fatalf("parsing current document: %v", err)
	}
	return owned
}

// checkResult asserts what must hold for every incremental result: no probe
// account leaks, re-applying the same event changes nothing, and a document
// holding the result (next to a foreign statement) plans to none.
func checkResult(t *testing.T, d *config.Declaration, got []policy.Statement, changed desired.Account, present bool) {
	t.Helper()
	for _, s := range got {
		if s.Principal == nil {
			continue
		}
		for _, p := range s.Principal.AWS {
			if strings.HasPrefix(p, "arn:aws:iam::0000000") {
				t.Errorf("statement %s leaks probe principal %s", s.Sid, p)
			}
		}
		if !strings.HasPrefix(s.Sid, d.SidPrefix) {
			t.Errorf("statement %s does not carry the Sid prefix %s", s.Sid, d.SidPrefix)
		}
	}
	again := desired.Incremental(d, renderHub(d), parsed(t, got), changed, present)
	if a, b := canonAll(t, got), canonAll(t, again); !maps.Equal(a, b) {
		t.Errorf("applying the same event twice changes the statements:\nonce:  %v\ntwice: %v", a, b)
	}
	foreign := policy.Statement{Sid: "HandWritten", Effect: "Allow",
		Principal: &policy.Principal{AWS: policy.StringList{root("777777777777")}},
		Action:    policy.StringList{"ecr:BatchGetImage"}, Resource: policy.StringList{"*"}}
	text, err := desired.Render(policy.ECRRegistryPolicy, append([]policy.Statement{foreign}, got...)).Marshal()
	if err != nil {
		t.Fatalf("rendering result: %v", err)
	}
	target := policy.RegistryARN("aws", incRegion, incHub)
	c, err := plan.Document(policy.ECRRegistryPolicy, target, text, got, d.SidPrefix)
	if err != nil {
		t.Fatalf("planning against a document holding the result: %v", err)
	}
	if c.Op != plan.OpNone {
		t.Errorf("a document holding the result plans %s, want none (%s)", c.Op, c.Reason)
	}
}

// TestIncrementalMatchesFullRender: when the current document is complete
// (rendered from the whole organization), one account event yields exactly
// what rendering the whole organization after the event yields.
func TestIncrementalMatchesFullRender(t *testing.T) {
	d := incDecl(t)
	before := []desired.Account{acct(acctA, granted), acct(acctB, elsewhere), acct(static, elsewhere)}
	tests := []struct {
		name    string
		changed desired.Account
		present bool
		after   []desired.Account
	}{
		{"join in the granted OU", acct(joiner, granted), true,
			append(slices.Clone(before), acct(joiner, granted))},
		{"join outside the OU", acct(joiner, elsewhere), true,
			append(slices.Clone(before), acct(joiner, elsewhere))},
		{"move out of the OU", acct(acctA, elsewhere), true,
			[]desired.Account{acct(acctA, elsewhere), acct(acctB, elsewhere), acct(static, elsewhere)}},
		{"move into the OU", acct(acctB, granted), true,
			[]desired.Account{acct(acctA, granted), acct(acctB, granted), acct(static, elsewhere)}},
		{"departure from the OU", desired.Account{ID: acctA}, false,
			[]desired.Account{acct(acctB, elsewhere), acct(static, elsewhere)}},
		{"departure from elsewhere", desired.Account{ID: acctB}, false,
			[]desired.Account{acct(acctA, granted), acct(static, elsewhere)}},
		{"suspension counts as leaving", desired.Account{ID: acctA, Status: "SUSPENDED", OUPath: granted}, true,
			[]desired.Account{acct(acctB, elsewhere), acct(static, elsewhere)}},
		{"static account departs", desired.Account{ID: static}, false,
			[]desired.Account{acct(acctA, granted), acct(acctB, elsewhere)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			current := parsed(t, hubStatements(d, before...))
			got := desired.Incremental(d, renderHub(d), current, tc.changed, tc.present)
			want := hubStatements(d, tc.after...)
			if g, w := canonAll(t, got), canonAll(t, want); !maps.Equal(g, w) {
				t.Errorf("statements differ from the full render\n got: %v\nwant: %v", g, w)
			}
			checkResult(t, d, got, tc.changed, tc.present)
		})
	}
}

// TestIncrementalJoinKeepsUnknownPrincipals: principals the function cannot
// know about (accounts whose events it never saw, bare account ids) stay;
// exactly the joiner's root ARN is added to the statements that select it.
func TestIncrementalJoinKeepsUnknownPrincipals(t *testing.T) {
	d := incDecl(t)
	current := hubStatements(d, acct(acctA, granted), acct(acctB, elsewhere))
	// The document also names an account the function never heard of, and
	// one principal in the bare-id form (AWS accepts and may return it).
	current = withPrincipals(current, sidPull, root(static), acctA, root(unknown))
	current = withPrincipals(current, sidPush, root(acctA), root(unknown))
	current = withPrincipals(current, sidUpstream, root(acctA), acctB, root(unknown))
	condBefore := canon(t, hubStatements(d)[slices.IndexFunc(hubStatements(d), func(s policy.Statement) bool { return s.Sid == sidCond })])

	t.Run("in the OU", func(t *testing.T) {
		got := desired.Incremental(d, renderHub(d), parsed(t, current), acct(joiner, granted), true)
		for sid, want := range map[string][]string{
			sidPull:     roots(static, acctA, unknown, joiner),
			sidPush:     roots(acctA, unknown, joiner),
			sidUpstream: roots(acctA, acctB, unknown, joiner),
		} {
			if p := principalsOf(got, sid); !slices.Equal(p, want) {
				t.Errorf("%s principals = %v, want %v", sid, p, want)
			}
		}
		checkCondition(t, got, condBefore)
		checkResult(t, d, got, acct(joiner, granted), true)
	})
	t.Run("outside the OU", func(t *testing.T) {
		got := desired.Incremental(d, renderHub(d), parsed(t, current), acct(joiner, elsewhere), true)
		for sid, want := range map[string][]string{
			sidPull:     roots(static, acctA, unknown),
			sidPush:     roots(acctA, unknown),
			sidUpstream: roots(acctA, acctB, unknown, joiner),
		} {
			if p := principalsOf(got, sid); !slices.Equal(p, want) {
				t.Errorf("%s principals = %v, want %v", sid, p, want)
			}
		}
		checkCondition(t, got, condBefore)
		checkResult(t, d, got, acct(joiner, elsewhere), true)
	})
	t.Run("move out of the OU", func(t *testing.T) {
		got := desired.Incremental(d, renderHub(d), parsed(t, current), acct(acctA, elsewhere), true)
		for sid, want := range map[string][]string{
			sidPull:     roots(static, unknown),
			sidPush:     roots(unknown),
			sidUpstream: roots(acctA, acctB, unknown),
		} {
			if p := principalsOf(got, sid); !slices.Equal(p, want) {
				t.Errorf("%s principals = %v, want %v", sid, p, want)
			}
		}
		checkResult(t, d, got, acct(acctA, elsewhere), true)
	})
	t.Run("departure", func(t *testing.T) {
		got := desired.Incremental(d, renderHub(d), parsed(t, current), desired.Account{ID: acctA}, false)
		for sid, want := range map[string][]string{
			sidPull:     roots(static, unknown),
			sidPush:     roots(unknown),
			sidUpstream: roots(acctB, unknown),
		} {
			if p := principalsOf(got, sid); !slices.Equal(p, want) {
				t.Errorf("%s principals = %v, want %v", sid, p, want)
			}
		}
		checkCondition(t, got, condBefore)
		checkResult(t, d, got, desired.Account{ID: acctA}, false)
	})
	t.Run("departure of a bare-id principal", func(t *testing.T) {
		got := desired.Incremental(d, renderHub(d), parsed(t, current), desired.Account{ID: acctB}, false)
		if p, want := principalsOf(got, sidUpstream), roots(acctA, unknown); !slices.Equal(p, want) {
			t.Errorf("%s principals = %v, want %v", sidUpstream, p, want)
		}
		checkResult(t, d, got, desired.Account{ID: acctB}, false)
	})
}

func checkCondition(t *testing.T, got []policy.Statement, want string) {
	t.Helper()
	i := slices.IndexFunc(got, func(s policy.Statement) bool { return s.Sid == sidCond })
	if i < 0 {
		t.Errorf("condition statement %s missing", sidCond)
		return
	}
	if c := canon(t, got[i]); c != want {
		t.Errorf("condition statement changed:\n got: %s\nwant: %s", c, want)
	}
}

// TestIncrementalConditionStatementIsRendered: a condition-mode statement is
// taken from the declaration, not from the document (a hand edit to it is
// reverted, as the full reconcile would).
func TestIncrementalConditionStatementIsRendered(t *testing.T) {
	d := incDecl(t)
	current := hubStatements(d, acct(acctA, granted))
	i := slices.IndexFunc(current, func(s policy.Statement) bool { return s.Sid == sidCond })
	want := canon(t, current[i])
	edited := current[i]
	edited.Condition = policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {"o-zzzzzzzzzz"}}}
	current[i] = edited
	got := desired.Incremental(d, renderHub(d), parsed(t, current), acct(joiner, granted), true)
	checkCondition(t, got, want)
	checkResult(t, d, got, acct(joiner, granted), true)
}

// TestIncrementalDropsEmptyStatements: when the changed account was the last
// principal a statement enumerated, the statement goes (an empty Principal
// is invalid); listed (static) accounts keep theirs.
func TestIncrementalDropsEmptyStatements(t *testing.T) {
	d := incDecl(t)
	current := parsed(t, hubStatements(d, acct(acctA, granted)))
	for _, sid := range []string{sidPull, sidPush, sidUpstream, sidCond} {
		if !hasSid(current, sid) {
			t.Fatalf("setup: current document lacks %s", sid)
		}
	}
	got := desired.Incremental(d, renderHub(d), current, desired.Account{ID: acctA}, false)
	for _, sid := range []string{sidPush, sidUpstream} {
		if hasSid(got, sid) {
			t.Errorf("%s kept after its last principal left: %v", sid, principalsOf(got, sid))
		}
	}
	if p, want := principalsOf(got, sidPull), roots(static); !slices.Equal(p, want) {
		t.Errorf("%s principals = %v, want the listed account only %v", sidPull, p, want)
	}
	if !hasSid(got, sidCond) {
		t.Errorf("condition statement %s dropped", sidCond)
	}
	checkResult(t, d, got, desired.Account{ID: acctA}, false)

	// And the first member to join brings the dropped statements back.
	back := desired.Incremental(d, renderHub(d), parsed(t, got), acct(joiner, granted), true)
	for sid, want := range map[string][]string{
		sidPull:     roots(static, joiner),
		sidPush:     roots(joiner),
		sidUpstream: roots(joiner),
	} {
		if p := principalsOf(back, sid); !slices.Equal(p, want) {
			t.Errorf("after a join into an empty organization, %s principals = %v, want %v", sid, p, want)
		}
	}
	checkResult(t, d, back, acct(joiner, granted), true)
}

// TestIncrementalFromNothing: a hub that has no document yet gets the
// statements the joiner alone warrants.
func TestIncrementalFromNothing(t *testing.T) {
	d := incDecl(t)
	got := desired.Incremental(d, renderHub(d), nil, acct(joiner, elsewhere), true)
	want := hubStatements(d, acct(joiner, elsewhere))
	if g, w := canonAll(t, got), canonAll(t, want); !maps.Equal(g, w) {
		t.Errorf("statements differ from the full render\n got: %v\nwant: %v", g, w)
	}
	checkResult(t, d, got, acct(joiner, elsewhere), true)
}

// TestIncrementalManagementAccount: the management account is never
// a PTC member, so its join adds it to no upstream grant (it is in the OU
// grant like any account there).
func TestIncrementalManagementAccount(t *testing.T) {
	d := incDecl(t)
	current := parsed(t, hubStatements(d, acct(acctA, granted)))
	mgmt := acct(d.Hub.ManagementAccountID, elsewhere)
	got := desired.Incremental(d, renderHub(d), current, mgmt, true)
	want := hubStatements(d, acct(acctA, granted), mgmt)
	if g, w := canonAll(t, got), canonAll(t, want); !maps.Equal(g, w) {
		t.Errorf("statements differ from the full render\n got: %v\nwant: %v", g, w)
	}
	if slices.Contains(principalsOf(got, sidUpstream), root(d.Hub.ManagementAccountID)) {
		t.Errorf("management account added to the upstream grant: %v", principalsOf(got, sidUpstream))
	}
	checkResult(t, d, got, mgmt, true)
}

// TestIncrementalStripsProbes: probe accounts (ids 0000000…) exist only to
// find the statements an enumeration could produce; they never reach the
// output, even when a document somehow already names one.
func TestIncrementalStripsProbes(t *testing.T) {
	d := incDecl(t)
	current := hubStatements(d, acct(acctA, granted))
	for _, p := range desired.ProbeAccounts(d) {
		if !strings.HasPrefix(root(p.ID), "arn:aws:iam::0000000") {
			t.Fatalf("probe %s does not have the reserved 0000000 prefix the leak check relies on", p.ID)
		}
	}
	probe := root(desired.ProbeAccounts(d)[0].ID)
	current = withPrincipals(current, sidPush, root(acctA), probe)
	for _, tc := range []struct {
		name    string
		changed desired.Account
		present bool
	}{
		{"join", acct(joiner, granted), true},
		{"departure", desired.Account{ID: acctB}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := desired.Incremental(d, renderHub(d), parsed(t, current), tc.changed, tc.present)
			if !hasSid(got, sidPush) {
				t.Fatalf("%s dropped", sidPush)
			}
			checkResult(t, d, got, tc.changed, tc.present)
		})
	}
}

// TestIncrementalListedPTCMembers: PTC members selected by OU plus one listed
// by id. The listed member is in the upstream grant only while it is in the
// organization, wherever it sits; others only while in the members' OU.
func TestIncrementalListedPTCMembers(t *testing.T) {
	for _, mode := range []string{config.ModeEnumerate, config.ModeCondition} {
		t.Run(mode, func(t *testing.T) { incrementalListedPTCMembers(t, mode) })
	}
}

func incrementalListedPTCMembers(t *testing.T, mode string) {
	d := incDecl(t)
	d.PullThroughCache.Members = config.MemberSelector{OUs: []string{elsewhere}, Accounts: []string{joiner}}
	d.PullThroughCache.UpstreamGrantMode = mode
	other := "o-a1b2c3d4e5/r-ab12/ou-ab12-33333333/"
	before := []desired.Account{acct(acctA, granted), acct(acctB, elsewhere)}
	tests := []struct {
		name    string
		changed desired.Account
		present bool
		after   []desired.Account
	}{
		{"listed member joins outside every OU", acct(joiner, other), true,
			[]desired.Account{acct(acctA, granted), acct(acctB, elsewhere), acct(joiner, other)}},
		{"OU member joins", acct(unknown, elsewhere), true,
			[]desired.Account{acct(acctA, granted), acct(acctB, elsewhere), acct(unknown, elsewhere)}},
		{"non-member joins", acct(unknown, other), true,
			[]desired.Account{acct(acctA, granted), acct(acctB, elsewhere), acct(unknown, other)}},
		{"OU member moves away", acct(acctB, other), true,
			[]desired.Account{acct(acctA, granted), acct(acctB, other)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			current := parsed(t, hubStatements(d, before...))
			got := desired.Incremental(d, renderHub(d), current, tc.changed, tc.present)
			want := hubStatements(d, tc.after...)
			if mode == config.ModeCondition && tc.name == "OU member moves away" {
				// The OU's condition statement names no account, so one event
				// cannot tell that its last member left: it is kept (the
				// members' OU still selects only PTC members).
				before := hubStatements(d, before...)
				want = append(want, before[slices.IndexFunc(before, func(s policy.Statement) bool { return s.Sid == sidUpstream+"OrgPaths" })])
			}
			if g, w := canonAll(t, got), canonAll(t, want); !maps.Equal(g, w) {
				t.Errorf("statements differ from the full render\n got: %v\nwant: %v", g, w)
			}
			checkResult(t, d, got, tc.changed, tc.present)
		})
	}
	t.Run("listed member departs", func(t *testing.T) {
		current := parsed(t, hubStatements(d, append(slices.Clone(before), acct(joiner, other))...))
		got := desired.Incremental(d, renderHub(d), current, desired.Account{ID: joiner}, false)
		want := hubStatements(d, before...)
		if g, w := canonAll(t, got), canonAll(t, want); !maps.Equal(g, w) {
			t.Errorf("statements differ from the full render\n got: %v\nwant: %v", g, w)
		}
		checkResult(t, d, got, desired.Account{ID: joiner}, false)
	})
}

// TestIncrementalDropsWhatNoEnumerationNames: an enumerating statement only
// ever names account roots, so what else a hand edit put under its Sid ("*",
// a role or user of another account, a malformed value) is not carried into
// the result as if it were an account the function had not heard of: "*"
// would have the whole hub write refused by the guard on every account event
// until the sweep, and an outsider's role would keep a grant the declaration
// does not make. Unknown account roots stay (TestIncrementalJoinKeepsUnknownPrincipals).
func TestIncrementalDropsWhatNoEnumerationNames(t *testing.T) {
	d := incDecl(t)
	current := hubStatements(d, acct(acctA, granted))
	current = withPrincipals(current, sidPull, root(static), root(acctA), root(unknown), "*",
		"arn:aws:iam::444455556666:role/outsider", "arn:aws:iam::444455556666:user/someone", "AROAEXAMPLEUNIQUEID12")
	got := desired.Incremental(d, renderHub(d), parsed(t, current), acct(joiner, granted), true)
	if p, want := principalsOf(got, sidPull), roots(static, acctA, unknown, joiner); !slices.Equal(p, want) {
		t.Errorf("%s principals = %v, want %v", sidPull, p, want)
	}
	checkResult(t, d, got, acct(joiner, granted), true)
	if _, err := plan.Document(policy.ECRRegistryPolicy, policy.RegistryARN("aws", incRegion, incHub), "", got, d.SidPrefix); err != nil {
		t.Errorf("planning the result: %v", err)
	}
}
