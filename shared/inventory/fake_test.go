package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// bigOrg is an in-memory organization of width^depth leaf OUs with accounts
// in every OU, answering like Organizations (pages of MaxResults, typed
// errors). It records the most calls it ever had in flight, which moto is
// too fast to show.
type bigOrg struct {
	orgAPI
	ous      map[string][]string // parent -> child OUs
	accounts map[string][]string // parent -> account ids
	failOn   string              // parent whose account listing fails
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
}

func newBigOrg(width, depth, perOU int) (*bigOrg, int) {
	o := &bigOrg{ous: map[string][]string{}, accounts: map[string][]string{}}
	n, ous := 0, 0
	var grow func(parent string, level int)
	grow = func(parent string, level int) {
		for range perOU {
			n++
			o.accounts[parent] = append(o.accounts[parent], fmt.Sprintf("%012d", n))
		}
		if level == depth {
			return
		}
		for range width {
			ous++
			id := fmt.Sprintf("ou-ab12-%08d", ous)
			o.ous[parent] = append(o.ous[parent], id)
			grow(id, level+1)
		}
	}
	grow("r-ab12", 0)
	return o, n
}

func (o *bigOrg) enter() func() {
	o.calls.Add(1)
	n := o.inFlight.Add(1)
	for {
		m := o.maxSeen.Load()
		if n <= m || o.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(200 * time.Microsecond) // long enough for calls to overlap
	return func() { o.inFlight.Add(-1) }
}

func (o *bigOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	defer o.enter()()
	return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String("o-abcdefghij")}}, nil
}

func (o *bigOrg) ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	defer o.enter()()
	return &organizations.ListRootsOutput{Roots: []orgtypes.Root{{Id: aws.String("r-ab12")}}}, nil
}

func page(items []string, token *string, size *int32) ([]string, *string) {
	start := 0
	if token != nil {
		fmt.Sscan(*token, &start)
	}
	n := 20
	if size != nil {
		n = int(*size)
	}
	end := min(start+n, len(items))
	if end < len(items) {
		return items[start:end], aws.String(fmt.Sprint(end))
	}
	return items[start:end], nil
}

func (o *bigOrg) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	defer o.enter()()
	ids, next := page(o.ous[*in.ParentId], in.NextToken, in.MaxResults)
	out := &organizations.ListOrganizationalUnitsForParentOutput{NextToken: next}
	for _, id := range ids {
		out.OrganizationalUnits = append(out.OrganizationalUnits, orgtypes.OrganizationalUnit{Id: aws.String(id)})
	}
	return out, nil
}

func (o *bigOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	defer o.enter()()
	if *in.ParentId == o.failOn {
		return nil, &orgtypes.AccessDeniedException{Message: aws.String("not allowed")}
	}
	ids, next := page(o.accounts[*in.ParentId], in.NextToken, in.MaxResults)
	out := &organizations.ListAccountsForParentOutput{NextToken: next}
	for _, id := range ids {
		out.Accounts = append(out.Accounts, orgtypes.Account{Id: aws.String(id), State: orgtypes.AccountStateActive})
	}
	return out, nil
}

func TestWalkBoundsConcurrencyAtOrgScale(t *testing.T) {
	for _, limit := range []int{1, 4} {
		api, n := newBigOrg(4, 4, 10) // 340 OUs, 3,410 accounts
		res, err := NewOrg(api, OrgOptions{Concurrency: limit}).Walk(context.Background(), WalkScope{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Accounts) != n || res.OUs != 340 {
			t.Fatalf("walked %d accounts and %d OUs, want %d and 340", len(res.Accounts), res.OUs, n)
		}
		if got := api.maxSeen.Load(); got > int32(limit) || (limit > 1 && got < 2) {
			t.Fatalf("concurrency %d: saw %d calls in flight", limit, got)
		}
		// 341 parents x (1 OU page + 1 account page) + ListRoots + DescribeOrganization.
		if c := api.calls.Load(); c != 2*341+2 {
			t.Fatalf("calls = %d, want %d", c, 2*341+2)
		}
		t.Logf("concurrency %d: %d accounts / 340 OUs in %d calls, max %d in flight", limit, n, api.calls.Load(), api.maxSeen.Load())
	}
}

func TestWalkFailsNamingTheParent(t *testing.T) {
	api, _ := newBigOrg(3, 3, 2)
	api.failOn = api.ous[api.ous["r-ab12"][1]][2]
	_, err := NewOrg(api, OrgOptions{}).Walk(context.Background(), WalkScope{All: true})
	var denied *orgtypes.AccessDeniedException
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), "listing accounts under "+api.failOn) {
		t.Fatalf("error %v: want the typed AccessDenied naming %s", err, api.failOn)
	}
}

// flakyECR lists fixed repositories and fails the policy read of one.
type flakyECR struct {
	ecrAPI
	mu                sync.Mutex
	names             []string
	inFlight, maxSeen int
	policyReads       int
}

func (f *flakyECR) DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	out := &ecr.DescribeRepositoriesOutput{}
	for _, n := range f.names {
		out.Repositories = append(out.Repositories, ecrtypes.Repository{RepositoryName: aws.String(n), RepositoryArn: aws.String("arn:aws:ecr:eu-west-1:111111111111:repository/" + n)})
	}
	return out, nil
}

func (f *flakyECR) GetRepositoryPolicy(_ context.Context, in *ecr.GetRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	f.mu.Lock()
	f.inFlight++
	f.policyReads++
	f.maxSeen = max(f.maxSeen, f.inFlight)
	f.mu.Unlock()
	time.Sleep(200 * time.Microsecond)
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
	switch *in.RepositoryName {
	case "deleted":
		return nil, &ecrtypes.RepositoryNotFoundException{Message: aws.String("gone")}
	case "plain":
		return nil, &ecrtypes.RepositoryPolicyNotFoundException{Message: aws.String("none")}
	}
	return &ecr.GetRepositoryPolicyOutput{PolicyText: aws.String(`{"Statement":[]}`)}, nil
}

func TestSnapshotKeepsPerRepositoryErrorsAndBoundsConcurrency(t *testing.T) {
	api := &flakyECR{names: []string{"deleted", "plain"}}
	for i := range 100 {
		api.names = append(api.names, fmt.Sprintf("r%03d", i))
	}
	snap, err := NewRegistry(api, "111111111111", "eu-west-1", RegistryOptions{Concurrency: 3}).Snapshot(context.Background(), SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nf *ecrtypes.RepositoryNotFoundException
	if s := snap.Repositories[0]; s.Name != "deleted" || !errors.As(s.Err, &nf) || !strings.Contains(s.Err.Error(), "deleted in 111111111111/eu-west-1") {
		t.Fatalf("deleted repository: %+v", s)
	}
	for _, s := range snap.Repositories[1:] {
		if s.Err != nil || s.HasPolicy != (s.Name != "plain") {
			t.Fatalf("repository %+v", s)
		}
	}
	if api.maxSeen > 3 || api.maxSeen < 2 {
		t.Fatalf("max in flight %d, want 2..3", api.maxSeen)
	}
}

func TestCountsClassifiesWrites(t *testing.T) {
	for op, w := range map[string]bool{"PutRegistryPolicy": true, "SetRepositoryPolicy": true, "DeleteRepositoryPolicy": true,
		"CreatePullThroughCacheRule": true, "TransactWriteItems": true, "SendMessage": true,
		"BatchGetImage": false, "GetRepositoryPolicy": false, "DescribeRepositories": false, "ListParents": false, "AssumeRole": false, "Query": false} {
		if IsWrite(op) != w {
			t.Errorf("IsWrite(%s) = %v", op, !w)
		}
	}
}

func TestWalkStopsOnACycle(t *testing.T) {
	api, _ := newBigOrg(2, 2, 1)
	leaf := api.ous[api.ous["r-ab12"][0]][0]
	api.ous[leaf] = []string{api.ous["r-ab12"][0]} // a child that is its own grandparent
	_, err := NewOrg(api, OrgOptions{}).Walk(context.Background(), WalkScope{All: true})
	if err == nil || !strings.Contains(err.Error(), "already visited") {
		t.Fatalf("cycle: %v", err)
	}
}

func TestOrgIDFromDeclarationSavesACall(t *testing.T) {
	api, n := newBigOrg(1, 1, 3)
	res, err := NewOrg(api, OrgOptions{OrgID: "o-abcdefghij"}).Walk(context.Background(), WalkScope{All: true})
	if err != nil || len(res.Accounts) != n || res.Accounts[0].OUPath != "o-abcdefghij/r-ab12/" {
		t.Fatalf("%+v %v", res, err)
	}
	if c := api.calls.Load(); c != 1+2*2 { // ListRoots + 2 parents x 2 lists
		t.Fatalf("calls %d, want 5", c)
	}
}

func TestSnapshotFilterReadsOnlyMatchingRepositories(t *testing.T) {
	api := &flakyECR{}
	for i := range 50 {
		api.names = append(api.names, fmt.Sprintf("r%03d", i))
	}
	snap, err := NewRegistry(api, "111111111111", "eu-west-1", RegistryOptions{}).Snapshot(context.Background(),
		SnapshotOptions{Filter: func(name string) bool { return strings.HasPrefix(name, "r01") }})
	if err != nil || len(snap.Repositories) != 10 || snap.Repositories[0].Name != "r010" || api.policyReads != 10 {
		t.Fatalf("filtered snapshot: %d repositories, %d policy reads, %v; want 10 and 10", len(snap.Repositories), api.policyReads, err)
	}
}
