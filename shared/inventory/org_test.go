package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// testOrg is an organization built in moto, with what the test expects.
type testOrg struct {
	id, root string
	ous      map[string]string // name -> OU path ("o-x/r-y/ou-a/")
	ouIDs    map[string]string // name -> OU id
	paths    map[string]string // account id -> expected OU path
	depth    map[string]int    // account id -> number of OUs above it
	children map[string]int    // parent id -> number of child OUs
	accounts map[string]int    // parent id -> number of accounts
}

// tree: root, a, a/b, a/b/c, a/b/c/d, a/b/c/d/e (depth 5), x, x/y.
var treeOUs = [][2]string{{"a", ""}, {"b", "a"}, {"c", "b"}, {"d", "c"}, {"e", "d"}, {"x", ""}, {"y", "x"}}

// buildOrg creates the tree above and spreads n member accounts over the
// root and the OUs, deterministically.
func buildOrg(t testing.TB, ctx context.Context, c *organizations.Client, n int) *testOrg {
	t.Helper()
	out, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrg{id: aws.ToString(out.Organization.Id), root: aws.ToString(roots.Roots[0].Id),
		ous: map[string]string{}, ouIDs: map[string]string{}, paths: map[string]string{}, depth: map[string]int{},
		children: map[string]int{}, accounts: map[string]int{}}
	o.ous[""] = o.id + "/" + o.root + "/"
	o.ouIDs[""] = o.root
	levels := map[string]int{"": 0}
	for _, ou := range treeOUs {
		parent := o.ouIDs[ou[1]]
		res, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(ou[0])})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(res.OrganizationalUnit.Id)
		o.ouIDs[ou[0]] = id
		o.ous[ou[0]] = o.ous[ou[1]] + id + "/"
		levels[ou[0]] = levels[ou[1]] + 1
		o.children[parent]++
	}
	// The management account sits in the root.
	mgmt, err := c.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	o.paths[aws.ToString(mgmt.Organization.MasterAccountId)] = o.ous[""]
	o.accounts[o.root]++
	names := []string{"", "a", "b", "c", "d", "e", "x", "y"}
	for i := range n {
		where := names[i%len(names)]
		res, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(fmt.Sprintf("member-%02d", i)), Email: aws.String(fmt.Sprintf("m%02d@example.com", i))})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(res.CreateAccountStatus.AccountId)
		if where != "" {
			if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(o.root), DestinationParentId: aws.String(o.ouIDs[where])}); err != nil {
				t.Fatal(err)
			}
		}
		o.paths[id] = o.ous[where]
		o.depth[id] = levels[where]
		o.accounts[o.ouIDs[where]]++
	}
	return o
}

func pages(n int, size int) int {
	if n == 0 {
		return 1
	}
	return (n + size - 1) / size
}

// walkCost is the expected call count of a full walk: DescribeOrganization,
// ListRoots, and per visited parent the pages of its OUs and of its accounts.
func (o *testOrg) walkCost(size int, parents []string) int {
	n := 0
	for _, p := range parents {
		n += pages(o.children[p], size) + pages(o.accounts[p], size)
	}
	return n
}

func (o *testOrg) allParents() []string {
	out := []string{o.root}
	for _, ou := range treeOUs {
		out = append(out, o.ouIDs[ou[0]])
	}
	return out
}

func TestWalkAllBuildsOUPathsWithoutListAccountsOrListParents(t *testing.T) {
	localaws.Need(t)
	for _, size := range []int32{0, 2} {
		t.Run(fmt.Sprintf("page=%d", size), func(t *testing.T) {
			ctx := context.Background()
			var counts Counts
			cfg := fresh(t, &counts)
			client := organizations.NewFromConfig(cfg)
			o := buildOrg(t, ctx, client, 30)
			counts.Reset()

			org := NewOrg(client, OrgOptions{PageSize: size})
			res, err := org.Walk(ctx, WalkScope{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Accounts) != 31 || len(res.Skipped) != 0 || res.OUs != len(treeOUs) {
				t.Fatalf("walk: %d accounts, %d skipped, %d OUs; want 31, 0, %d", len(res.Accounts), len(res.Skipped), res.OUs, len(treeOUs))
			}
			for _, a := range res.Accounts {
				if want := o.paths[a.ID]; a.OUPath != want {
					t.Errorf("account %s: OU path %q, want %q", a.ID, a.OUPath, want)
				}
			}
			if !slices.IsSortedFunc(res.Accounts, func(a, b Account) int { return strings.Compare(a.ID, b.ID) }) {
				t.Error("accounts not sorted by id")
			}
			pageSize := 20 // moto's default page for both list calls
			if size > 0 {
				pageSize = int(size)
			}
			wantLists := o.walkCost(pageSize, o.allParents())
			got := counts.Get("Organizations", "ListOrganizationalUnitsForParent") + counts.Get("Organizations", "ListAccountsForParent")
			if int(got) != wantLists || counts.Get("Organizations", "ListRoots") != 1 || counts.Get("Organizations", "DescribeOrganization") != 1 ||
				counts.Get("Organizations", "ListParents") != 0 || counts.Get("Organizations", "ListAccounts") != 0 || counts.Total() != int64(wantLists+2) {
				t.Fatalf("walk calls (want %d list calls + ListRoots + DescribeOrganization, no ListParents/ListAccounts):\n%s", wantLists, counts.String())
			}
			t.Logf("page size %d: full walk of 31 accounts / 7 OUs = %d calls:\n%s", pageSize, counts.Total(), counts.String())
		})
	}
}

func TestWalkSubtreeOnlyDescendsBelowIt(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	client := organizations.NewFromConfig(fresh(t, &counts))
	o := buildOrg(t, ctx, client, 30)
	counts.Reset()
	org := NewOrg(client, OrgOptions{})
	// c's subtree (c, d, e) plus a nested duplicate (d) plus x's subtree.
	res, err := org.Walk(ctx, WalkScope{OUPaths: []string{o.ous["c"], o.ous["d"], strings.TrimSuffix(o.ous["x"], "/")}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for id, p := range o.paths {
		if strings.HasPrefix(p, o.ous["c"]) || strings.HasPrefix(p, o.ous["x"]) {
			want[id] = true
		}
	}
	if len(res.Accounts) != len(want) {
		t.Fatalf("subtree walk: %d accounts, want %d", len(res.Accounts), len(want))
	}
	for _, a := range res.Accounts {
		if !want[a.ID] || a.OUPath != o.paths[a.ID] {
			t.Errorf("account %s at %q: not expected in the subtrees (want path %q)", a.ID, a.OUPath, o.paths[a.ID])
		}
	}
	// Verifying c's path climbs c -> b -> a -> root (3 ListParents), x's one.
	parents := []string{o.ouIDs["c"], o.ouIDs["d"], o.ouIDs["e"], o.ouIDs["x"], o.ouIDs["y"]}
	wantLists := o.walkCost(20, parents)
	got := counts.Get("Organizations", "ListOrganizationalUnitsForParent") + counts.Get("Organizations", "ListAccountsForParent")
	if int(got) != wantLists || counts.Get("Organizations", "ListParents") != 4 || counts.Get("Organizations", "ListRoots") != 0 {
		t.Fatalf("subtree walk calls, want %d list calls and 4 ListParents:\n%s", wantLists, counts.String())
	}
	t.Logf("subtree walk (c/*, x/*) = %d calls", counts.Total())
}

func TestWalkRejectsWrongPathsAndEmptyScope(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	client := organizations.NewFromConfig(fresh(t, &counts))
	o := buildOrg(t, ctx, client, 8)
	org := NewOrg(client, OrgOptions{})
	cases := map[string]struct {
		scope WalkScope
		want  string
	}{
		"empty":          {WalkScope{}, "selects nothing"},
		"malformed":      {WalkScope{OUPaths: []string{"ou-abc"}}, `"ou-abc/"`},
		"other org":      {WalkScope{OUPaths: []string{"o-zzzzzzzzzz/" + o.root + "/"}}, "not this organization"},
		"misplaced OU":   {WalkScope{OUPaths: []string{o.ous[""] + o.ouIDs["c"] + "/"}}, "is at " + o.ous["c"]},
		"bad account id": {WalkScope{AccountIDs: []string{"12345"}}, `"12345" is not 12 digits`},
	}
	for name, tc := range cases {
		_, err := org.Walk(ctx, tc.scope)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
	}
}

func TestWalkReportsSuspendedAndMissingAccounts(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	client := organizations.NewFromConfig(fresh(t, &counts))
	o := buildOrg(t, ctx, client, 16)
	var closed, inB string
	for id, p := range o.paths {
		if p == o.ous["e"] && closed == "" {
			closed = id
		}
		if p == o.ous["b"] && inB == "" {
			inB = id
		}
	}
	if _, err := client.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(closed)}); err != nil {
		t.Fatal(err)
	}
	org := NewOrg(client, OrgOptions{})
	res, err := org.Walk(ctx, WalkScope{OUPaths: []string{o.ous["d"]}, AccountIDs: []string{inB, "000000000000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].ID != closed || res.Skipped[0].Status != "SUSPENDED" {
		t.Errorf("skipped %+v, want only %s SUSPENDED", res.Skipped, closed)
	}
	if !slices.Equal(res.Missing, []string{"000000000000"}) {
		t.Errorf("missing %v, want [000000000000]", res.Missing)
	}
	var ids []string
	for _, a := range res.Accounts {
		ids = append(ids, a.ID)
		if a.OUPath != o.paths[a.ID] {
			t.Errorf("account %s: path %q, want %q", a.ID, a.OUPath, o.paths[a.ID])
		}
	}
	if !slices.Contains(ids, inB) || slices.Contains(ids, closed) {
		t.Errorf("accounts %v: want %s (requested by id) and not %s (suspended)", ids, inB, closed)
	}
}

// withoutPaths answers DescribeAccount without Account.Paths, as an answer
// that lacks the field (or one the reader cannot parse) would, so the
// reader must climb with ListParents.
type withoutPaths struct{ *organizations.Client }

func (c withoutPaths) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, opts ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	out, err := c.Client.DescribeAccount(ctx, in, opts...)
	if out != nil && out.Account != nil {
		out.Account.Paths = nil
	}
	return out, err
}

// TestAccountCostDoesNotGrowWithTheOrganization reads the deepest account in
// organizations of 30 and 60 members: the calls depend on the depth only.
// With Account.Paths in the answer (the local AWS answers it as AWS
// documents it) reading an account costs DescribeAccount alone; without it,
// one ListParents per level not cached yet.
func TestAccountCostDoesNotGrowWithTheOrganization(t *testing.T) {
	localaws.Need(t)
	costs := map[int]string{}
	for _, n := range []int{30, 60} {
		ctx := context.Background()
		var counts Counts
		client := organizations.NewFromConfig(fresh(t, &counts))
		o := buildOrg(t, ctx, client, n)
		for id, d := range o.depth {
			if d != 5 {
				continue
			}
			counts.Reset()
			a, err := NewOrg(client, OrgOptions{OrgID: o.id}).Account(ctx, id)
			if err != nil || a.OUPath != o.ous["e"] {
				t.Fatalf("with Paths: %+v %v, want path %s", a, err, o.ous["e"])
			}
			if counts.Total() != 1 {
				t.Fatalf("with Paths, Account at depth 5 cost:\n%s want DescribeAccount alone", counts.String())
			}
			break
		}
		org := NewOrg(withoutPaths{client}, OrgOptions{})
		var deepest, sibling string
		for id, d := range o.depth {
			if d == 5 {
				if deepest == "" {
					deepest = id
				} else if sibling == "" {
					sibling = id
				}
			}
		}
		counts.Reset()
		a, err := org.Account(ctx, deepest)
		if err != nil {
			t.Fatal(err)
		}
		if a.OUPath != o.ous["e"] || !a.Active() || !strings.HasPrefix(a.Name, "member-") {
			t.Fatalf("account %+v, want ACTIVE at %s", a, o.ous["e"])
		}
		// depth 5: DescribeAccount + 6 ListParents (5 OUs + root) + DescribeOrganization.
		if counts.Total() != 8 || counts.Get("Organizations", "ListParents") != 6 {
			t.Fatalf("n=%d: Account at depth 5 cost:\n%s want 8 calls", n, counts.String())
		}
		costs[n] = counts.String()

		// A second account in the same OU reuses the cached OU chain.
		counts.Reset()
		b, err := org.Account(ctx, sibling)
		if err != nil || b.OUPath != o.ous["e"] {
			t.Fatalf("sibling: %+v %v", b, err)
		}
		if counts.Total() != 2 {
			t.Fatalf("sibling Account cost:\n%s want DescribeAccount + 1 ListParents", counts.String())
		}

		// Accounts move, so their placement is never cached.
		if _, err := client.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(sibling), SourceParentId: aws.String(o.ouIDs["e"]), DestinationParentId: aws.String(o.ouIDs["y"])}); err != nil {
			t.Fatal(err)
		}
		b, err = org.Account(ctx, sibling)
		if err != nil || b.OUPath != o.ous["y"] {
			t.Fatalf("after move: %+v %v, want path %s", b, err, o.ous["y"])
		}
	}
	if costs[30] != costs[60] {
		t.Fatalf("Account cost differs with org size:\n30: %s\n60: %s", costs[30], costs[60])
	}
}

func TestAccountNotInOrganizationIsAnAnswer(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	client := organizations.NewFromConfig(fresh(t, &counts))
	buildOrg(t, ctx, client, 2)
	org := NewOrg(client, OrgOptions{})
	a, err := org.Account(ctx, "000011112222")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != NotInOrganization || a.Active() || a.OUPath != "" {
		t.Fatalf("departed account: %+v", a)
	}
	if _, err := org.Account(ctx, "12"); err == nil || !strings.Contains(err.Error(), "12 digits") {
		t.Fatalf("bad id: %v", err)
	}
}

// fakeOrg answers from an in-memory tree, with real SDK error types, to test
// what the local AWS does not produce: Paths in other renderings, and errors.
type fakeOrg struct {
	orgAPI
	paths []string
	err   error
}

func (f fakeOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String("o-abcdefghij")}}, nil
}

func (f fakeOrg) DescribeAccount(_ context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &organizations.DescribeAccountOutput{Account: &orgtypes.Account{Id: in.AccountId, Name: aws.String("n"), State: orgtypes.AccountStateActive, Paths: f.paths}}, nil
}

func TestAccountUsesPathsFromDescribeAccountWhenPresent(t *testing.T) {
	ctx := context.Background()
	// No ListParents method: the fake panics if the reader climbs.
	org := NewOrg(fakeOrg{paths: []string{"o-abcdefghij/r-ab12/ou-ab12-11111111/111122223333/"}}, OrgOptions{})
	a, err := org.Account(ctx, "111122223333")
	if err != nil || a.OUPath != "o-abcdefghij/r-ab12/ou-ab12-11111111/" {
		t.Fatalf("%+v %v", a, err)
	}
	boom := &orgtypes.TooManyRequestsException{Message: aws.String("slow down")}
	_, err = NewOrg(fakeOrg{err: boom}, OrgOptions{}).Account(ctx, "111122223333")
	var tm *orgtypes.TooManyRequestsException
	if !errors.As(err, &tm) || !strings.Contains(err.Error(), "describing account 111122223333") {
		t.Fatalf("error %v: want the typed throttle, naming the account", err)
	}
}

// BenchmarkWalk measures a full walk of a 60-member organization.
func BenchmarkWalk(b *testing.B) {
	ctx := context.Background()
	var counts Counts
	client := organizations.NewFromConfig(fresh(b, &counts))
	buildOrg(b, ctx, client, 60)
	counts.Reset()
	b.ResetTimer()
	for b.Loop() {
		if _, err := NewOrg(client, OrgOptions{}).Walk(ctx, WalkScope{All: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(counts.Service("Organizations"))/float64(b.N), "calls/op")
}
