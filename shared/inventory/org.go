package inventory

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// orgAPI is the part of the Organizations client the readers call. All of
// them are reads, so the management account's read-only role is enough.
type orgAPI interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	DescribeAccount(context.Context, *organizations.DescribeAccountInput, ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	ListParents(context.Context, *organizations.ListParentsInput, ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	ListOrganizationalUnitsForParent(context.Context, *organizations.ListOrganizationalUnitsForParentInput, ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
	ListAccountsForParent(context.Context, *organizations.ListAccountsForParentInput, ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
}

var _ orgAPI = (*organizations.Client)(nil)

// OrganizationReadActions are the IAM actions of orgAPI's calls, sorted: what
// the organization reader role (and the functions, when the hub is the
// management account) must allow, and all it allows. The CDK app renders the
// reader's statements and checks them against this list; TestOrgAPIIsTheReadActions
// checks it against orgAPI, so a call added to the readers is a permission
// the stacks grant.
var OrganizationReadActions = []string{
	"organizations:DescribeAccount",
	"organizations:DescribeOrganization",
	"organizations:ListAccountsForParent",
	"organizations:ListOrganizationalUnitsForParent",
	"organizations:ListParents",
	"organizations:ListRoots",
}

// NotInOrganization is the Status of an account that Organizations does not
// know (it left, was removed, or never joined). It is a normal answer for an
// AccountDepartedOrganization event, not an error.
const NotInOrganization = "NOT_IN_ORGANIZATION"

// MaxOUDepth is the deepest OU nesting Organizations allows below the root
// (policy.MaxOUDepth). Path lookups stop after it, so a cycle or a broken
// answer cannot loop.
const MaxOUDepth = policy.MaxOUDepth

// Account is one account as ecr-warden needs it: who it is, whether it is
// usable, and where it sits (its OU path as aws:PrincipalOrgPaths writes it).
type Account struct {
	ID   string
	Name string
	// Status is the account's state in the organization: ACTIVE, SUSPENDED,
	// PENDING_CLOSURE, PENDING_ACTIVATION, CLOSED, or NotInOrganization.
	Status string
	// OUPath is "o-xxx/r-yyy/ou-aaa/ou-bbb/" (the root's path is
	// "o-xxx/r-yyy/"); empty when the account is not in the organization.
	OUPath string
}

// Active reports whether the account is ACTIVE, the only state in which
// ecr-warden grants to it or configures it.
func (a Account) Active() bool { return a.Status == string(orgtypes.AccountStateActive) }

// OrgOptions tune an Org reader. The zero value is production-ready.
type OrgOptions struct {
	// Concurrency bounds the Organizations calls in flight during Walk.
	// Default 4: ListAccountsForParent and ListOrganizationalUnitsForParent
	// are limited to 5 per second (burst 8) per account.
	Concurrency int
	// PageSize is MaxResults for the list calls; 0 leaves it to the service
	// (tests set it small to exercise pagination).
	PageSize int32
	// OrgID, when set (from the validated declaration's hub.organizationId),
	// is trusted and saves the DescribeOrganization call.
	OrgID string
}

// Org reads the organization: one account with its OU path, or a walk of the
// whole tree or of some subtrees. It caches what cannot change while it
// lives: the organization id, the root, and each OU's parent (Organizations
// cannot move an OU, so an OU's path is fixed for its lifetime). Account
// placement is never cached, because accounts move. An Org is safe for
// concurrent use.
type Org struct {
	api  orgAPI
	opts OrgOptions

	idMu  sync.Mutex // held across DescribeOrganization so it runs once
	orgID string

	mu      sync.Mutex
	parents map[string]parentRef // OU id -> its parent
}

type parentRef struct {
	id   string
	root bool
}

// NewOrg returns an Organizations reader over api (a client for the
// management account, or one assuming its read-only role).
func NewOrg(api orgAPI, opts OrgOptions) *Org {
	if opts.Concurrency < 1 {
		opts.Concurrency = 4
	}
	return &Org{api: api, opts: opts, orgID: opts.OrgID, parents: map[string]parentRef{}}
}

// OrgID returns the organization id (o-...), read once per Org.
func (o *Org) OrgID(ctx context.Context) (string, error) {
	o.idMu.Lock()
	defer o.idMu.Unlock()
	if o.orgID != "" {
		return o.orgID, nil
	}
	out, err := o.api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", fmt.Errorf("describing the organization: %w", err)
	}
	if out.Organization == nil || aws.ToString(out.Organization.Id) == "" {
		return "", errors.New("describing the organization: answer has no organization id")
	}
	o.orgID = aws.ToString(out.Organization.Id)
	return o.orgID, nil
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// Account reads one account and its OU path. It costs one DescribeAccount,
// whose Account.Paths carries the path as the Organizations API documents
// it; only an answer without it costs one ListParents per level between the
// account and the root that is not cached yet (at most MaxOUDepth+1). Add
// one DescribeOrganization per Org (none with OrgOptions.OrgID): the number
// of calls never depends on the size of the organization, and there is no
// ListAccounts. An account the
// organization does not know is returned with Status NotInOrganization and a
// nil error, because a departure is an expected answer.
func (o *Org) Account(ctx context.Context, id string) (Account, error) {
	if !accountIDPattern.MatchString(id) {
		return Account{}, fmt.Errorf("reading account %q: an account id is 12 digits", id)
	}
	out, err := o.api.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
	var nf *orgtypes.AccountNotFoundException
	if errors.As(err, &nf) {
		return Account{ID: id, Status: NotInOrganization}, nil
	}
	if err != nil {
		return Account{}, fmt.Errorf("describing account %s: %w", id, err)
	}
	if out.Account == nil {
		return Account{}, fmt.Errorf("describing account %s: answer has no account", id)
	}
	acct := fromSDKAccount(*out.Account)
	if acct.ID == "" {
		acct.ID = id
	}
	path, err := o.accountPath(ctx, id, out.Account.Paths)
	var gone *orgtypes.ChildNotFoundException
	if errors.As(err, &gone) { // left between the two calls
		return Account{ID: id, Name: acct.Name, Status: NotInOrganization}, nil
	}
	if err != nil {
		return Account{}, err
	}
	acct.OUPath = path
	return acct, nil
}

func fromSDKAccount(a orgtypes.Account) Account {
	status := string(a.State)
	if status == "" { // older answers (and emulators) carry only Status
		status = string(a.Status)
	}
	return Account{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Status: status}
}

// pathFromSDK matches an account path as Organizations may return it in
// Account.Paths: the OU path, optionally followed by the account id.
var pathFromSDK = regexp.MustCompile(`^(o-[a-z0-9]{10,32}/r-[a-z0-9]{4,32}/(?:ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}/)*)(?:([0-9]{12})/?)?$`)

// accountPath returns the account's OU path. When DescribeAccount already
// carried a well-formed path for this account (newer Organizations answers
// have Account.Paths) it costs nothing; otherwise it climbs with ListParents.
func (o *Org) accountPath(ctx context.Context, id string, paths []string) (string, error) {
	orgID, err := o.OrgID(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		m := pathFromSDK.FindStringSubmatch(p)
		if m != nil && strings.HasPrefix(m[1], orgID+"/") && (m[2] == "" || m[2] == id) {
			return m[1], nil
		}
	}
	return o.pathOf(ctx, id)
}

// ParentPath is the OU path of an account placed directly under parent (an
// OU or the root): the parent's own chain with the parent last, e.g.
// "o-x/r-y/ou-a/". It is how a moved account's former place is judged from
// the event's sourceParentId: a root costs nothing, an OU one ListParents per
// level not cached.
func (o *Org) ParentPath(ctx context.Context, parent string) (string, error) {
	orgID, err := o.OrgID(ctx)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(parent, "r-") {
		return orgID + "/" + parent + "/", nil
	}
	p, err := o.pathOf(ctx, parent)
	if err != nil {
		return "", err
	}
	return p + parent + "/", nil
}

// pathOf climbs from a child (account or OU) to the root and renders the
// path of the child's parent chain: "o-x/r-y/ou-a/.../".
func (o *Org) pathOf(ctx context.Context, child string) (string, error) {
	orgID, err := o.OrgID(ctx)
	if err != nil {
		return "", err
	}
	var chain []string // nearest ancestor first
	cur := child
	for range MaxOUDepth + 2 {
		p, err := o.parent(ctx, cur)
		if err != nil {
			return "", err
		}
		chain = append(chain, p.id)
		if p.root {
			var b strings.Builder
			b.WriteString(orgID + "/")
			for i := len(chain) - 1; i >= 0; i-- {
				b.WriteString(chain[i] + "/")
			}
			return b.String(), nil
		}
		cur = p.id
	}
	return "", fmt.Errorf("listing parents of %s: no root within %d levels (%s)", child, MaxOUDepth+1, strings.Join(chain, " <- "))
}

// parent returns a child's parent, from the cache for OUs (an OU never
// moves) and from ListParents otherwise.
func (o *Org) parent(ctx context.Context, child string) (parentRef, error) {
	isOU := strings.HasPrefix(child, "ou-")
	if isOU {
		o.mu.Lock()
		p, ok := o.parents[child]
		o.mu.Unlock()
		if ok {
			return p, nil
		}
	}
	out, err := o.api.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
	if err != nil {
		return parentRef{}, fmt.Errorf("listing parents of %s: %w", child, err)
	}
	if len(out.Parents) != 1 || aws.ToString(out.Parents[0].Id) == "" {
		return parentRef{}, fmt.Errorf("listing parents of %s: want exactly one parent, got %d", child, len(out.Parents))
	}
	p := parentRef{id: aws.ToString(out.Parents[0].Id), root: out.Parents[0].Type == orgtypes.ParentTypeRoot}
	if isOU {
		o.remember(child, p)
	}
	return p, nil
}

func (o *Org) remember(ou string, p parentRef) {
	o.mu.Lock()
	o.parents[ou] = p
	o.mu.Unlock()
}

// WalkScope selects the part of the organization a Walk reads. Fields
// combine as a union; All makes the others redundant.
type WalkScope struct {
	All bool
	// OUPaths are subtrees in aws:PrincipalOrgPaths form
	// ("o-x/r-y/ou-a/ou-b/"); only the tree below each is walked.
	OUPaths []string
	// AccountIDs are single accounts, read with Account (no tree walk).
	AccountIDs []string
}

// WalkResult is what a Walk found.
type WalkResult struct {
	// Accounts are the ACTIVE accounts in scope, sorted by id, each with its
	// OU path.
	Accounts []Account
	// Skipped are accounts in scope in any other state (SUSPENDED,
	// PENDING_CLOSURE, ...): reported so an operator sees them, never
	// configured.
	Skipped []Account
	// Missing are requested AccountIDs the organization does not know.
	Missing []string
	// OUs is the number of OUs walked (roots excluded).
	OUs int
}

// Walk reads the accounts in scope by descending the OU tree breadth-first:
// for each visited parent one ListOrganizationalUnitsForParent and one
// ListAccountsForParent (more when a page is full), at most
// OrgOptions.Concurrency calls in flight, building each account's OU path on
// the way down. It never calls ListAccounts and never ListParents per account;
// a walk of the whole organization costs 2 + 2×(OUs+1) calls at page sizes
// that hold each parent's children. Requested OU paths are checked against
// the tree (ListParents, bounded by depth and cached), so a stale or wrong
// path is an error that names it instead of a silently wrong path.
func (o *Org) Walk(ctx context.Context, scope WalkScope) (WalkResult, error) {
	if !scope.All && len(scope.OUPaths) == 0 && len(scope.AccountIDs) == 0 {
		return WalkResult{}, errors.New("walking the organization: the scope selects nothing (set All, OUPaths or AccountIDs)")
	}
	for _, id := range scope.AccountIDs {
		if !accountIDPattern.MatchString(id) {
			return WalkResult{}, fmt.Errorf("walking the organization: account id %q is not 12 digits", id)
		}
	}
	orgID, err := o.OrgID(ctx)
	if err != nil {
		return WalkResult{}, err
	}
	var starts []node
	if scope.All {
		out, err := o.api.ListRoots(ctx, &organizations.ListRootsInput{})
		if err != nil {
			return WalkResult{}, fmt.Errorf("listing the roots of %s: %w", orgID, err)
		}
		for _, r := range out.Roots {
			id := aws.ToString(r.Id)
			starts = append(starts, node{id: id, path: orgID + "/" + id + "/"})
		}
	} else {
		starts, err = o.subtrees(ctx, orgID, scope.OUPaths)
		if err != nil {
			return WalkResult{}, err
		}
	}
	found, ous, err := o.descend(ctx, starts)
	if err != nil {
		return WalkResult{}, err
	}
	res := WalkResult{OUs: ous}
	seen := make(map[string]bool, len(found))
	for _, a := range found {
		seen[a.ID] = true
	}
	var extra []string
	for _, id := range uniqueSorted(scope.AccountIDs) {
		switch {
		case seen[id]:
		case scope.All: // the whole tree was walked: it is not in the organization
			res.Missing = append(res.Missing, id)
		default:
			extra = append(extra, id)
		}
	}
	accts := make([]Account, len(extra))
	errs := make([]error, len(extra))
	forEach(ctx, len(extra), o.opts.Concurrency, func(ctx context.Context, i int) {
		accts[i], errs[i] = o.Account(ctx, extra[i])
	})
	if err := errors.Join(errs...); err != nil {
		return WalkResult{}, fmt.Errorf("walking the organization: %w", err)
	}
	for _, a := range accts {
		if a.Status == NotInOrganization {
			res.Missing = append(res.Missing, a.ID)
			continue
		}
		found = append(found, a)
	}
	for _, a := range found {
		if a.Active() {
			res.Accounts = append(res.Accounts, a)
		} else {
			res.Skipped = append(res.Skipped, a)
		}
	}
	sort.Slice(res.Accounts, func(i, j int) bool { return res.Accounts[i].ID < res.Accounts[j].ID })
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].ID < res.Skipped[j].ID })
	sort.Strings(res.Missing)
	return res, nil
}

type node struct{ id, path string }

var ouPathPattern = regexp.MustCompile(`^(o-[a-z0-9]{10,32})/(r-[a-z0-9]{4,32})/((?:ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}/)*)$`)

// subtrees turns requested OU paths into walk starts: it checks each against
// the organization, drops paths nested in another requested path (walking the
// outer one covers them), and verifies that the OU really sits where the path
// says.
func (o *Org) subtrees(ctx context.Context, orgID string, paths []string) ([]node, error) {
	sorted := append([]string(nil), paths...)
	for i, p := range sorted {
		if p != "" && !strings.HasSuffix(p, "/") {
			sorted[i] = p + "/"
		}
	}
	sort.Strings(sorted) // a path sorts before every path nested in it
	var starts []node
	for _, p := range sorted {
		m := ouPathPattern.FindStringSubmatch(p)
		if m == nil {
			return nil, fmt.Errorf("walking OU path %q: want o-<id>/r-<id>/ou-<id>/.../", p)
		}
		if m[1] != orgID {
			return nil, fmt.Errorf("walking OU path %q: organization %s is not this organization (%s)", p, m[1], orgID)
		}
		if len(starts) > 0 && strings.HasPrefix(p, starts[len(starts)-1].path) {
			continue
		}
		segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
		last := segs[len(segs)-1]
		if len(segs) > 2 {
			actual, err := o.pathOf(ctx, last)
			var nf *orgtypes.ChildNotFoundException
			if errors.As(err, &nf) {
				return nil, fmt.Errorf("walking OU path %q: OU %s does not exist: %w", p, last, err)
			}
			if err != nil {
				return nil, fmt.Errorf("walking OU path %q: %w", p, err)
			}
			if actual+last+"/" != p {
				return nil, fmt.Errorf("walking OU path %q: OU %s is at %s%s/", p, last, actual, last)
			}
		}
		starts = append(starts, node{id: last, path: p})
	}
	return starts, nil
}

// descend walks below the start nodes breadth-first with bounded concurrency:
// each parent lists its child OUs first (so the next level starts early),
// then its accounts. The first error cancels the rest.
func (o *Org) descend(ctx context.Context, starts []node) ([]Account, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, o.opts.Concurrency)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accounts []Account
		ous      int
		errs     []error
		visited  = map[string]bool{}
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	var visit func(n node)
	visit = func(n node) {
		defer wg.Done()
		children, err := o.childOUs(ctx, sem, n.id)
		if err != nil {
			fail(err)
			return
		}
		root := strings.HasPrefix(n.id, "r-")
		mu.Lock()
		for _, c := range children {
			if visited[c] { // a tree has no cycles; an answer that does must not loop forever
				mu.Unlock()
				fail(fmt.Errorf("listing OUs under %s: OU %s was already visited", n.id, c))
				return
			}
			visited[c] = true
		}
		mu.Unlock()
		for _, c := range children {
			o.remember(c, parentRef{id: n.id, root: root})
			wg.Add(1)
			go visit(node{id: c, path: n.path + c + "/"})
		}
		accts, err := o.childAccounts(ctx, sem, n.id)
		if err != nil {
			fail(err)
			return
		}
		mu.Lock()
		ous += len(children)
		for _, a := range accts {
			a.OUPath = n.path
			accounts = append(accounts, a)
		}
		mu.Unlock()
	}
	for _, s := range starts {
		wg.Add(1)
		go visit(s)
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, 0, errs[0] // later ones are mostly "context canceled"
	}
	return accounts, ous, nil
}

// acquire takes a concurrency slot, or gives up when ctx is done.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Org) pageSize() *int32 {
	if o.opts.PageSize > 0 {
		return aws.Int32(o.opts.PageSize)
	}
	return nil
}

func (o *Org) childOUs(ctx context.Context, sem chan struct{}, parent string) ([]string, error) {
	var ids []string
	in := &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent), MaxResults: o.pageSize()}
	for {
		if err := acquire(ctx, sem); err != nil {
			return nil, err
		}
		out, err := o.api.ListOrganizationalUnitsForParent(ctx, in)
		<-sem
		if err != nil {
			return nil, fmt.Errorf("listing OUs under %s: %w", parent, err)
		}
		for _, ou := range out.OrganizationalUnits {
			ids = append(ids, aws.ToString(ou.Id))
		}
		if aws.ToString(out.NextToken) == "" {
			return ids, nil
		}
		in.NextToken = out.NextToken
	}
}

func (o *Org) childAccounts(ctx context.Context, sem chan struct{}, parent string) ([]Account, error) {
	var accts []Account
	in := &organizations.ListAccountsForParentInput{ParentId: aws.String(parent), MaxResults: o.pageSize()}
	for {
		if err := acquire(ctx, sem); err != nil {
			return nil, err
		}
		out, err := o.api.ListAccountsForParent(ctx, in)
		<-sem
		if err != nil {
			return nil, fmt.Errorf("listing accounts under %s: %w", parent, err)
		}
		for _, a := range out.Accounts {
			accts = append(accts, fromSDKAccount(a))
		}
		if aws.ToString(out.NextToken) == "" {
			return accts, nil
		}
		in.NextToken = out.NextToken
	}
}

// Mismatch is one of the declaration's hub ids that is not what the organization says.
type Mismatch struct {
	// Field is the declaration's field path, e.g. hub.managementAccountId.
	Field string
	// Declared is the declaration's value, Actual the organization's ("" for hub.accountId: the
	// account is not an active member, and which one is the hub only the operator knows).
	Declared, Actual string
}

func (m Mismatch) String() string {
	if m.Actual == "" {
		return fmt.Sprintf("%s %s is not an active account of the organization", m.Field, m.Declared)
	}
	return fmt.Sprintf("%s is %s, but the organization's is %s", m.Field, m.Declared, m.Actual)
}

// Mismatches compares the declaration's hub ids with the organization these credentials read:
// its id, its management account, and that the hub account is an active member. A wrong id is
// otherwise met only sideways (a mistyped managementAccountId makes the real management account a
// member, a wrong hub.accountId fails every hub read with an AssumeRole refusal, a wrong
// organizationId renders aws:PrincipalOrgID conditions that let nobody in), so make doctor and
// make plan check it first. It costs one DescribeOrganization and one DescribeAccount.
func (o *Org) Mismatches(ctx context.Context, organizationID, managementAccountID, hubAccountID string) ([]Mismatch, error) {
	out, err := o.api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return nil, fmt.Errorf("describing the organization: %w", err)
	}
	if out.Organization == nil {
		return nil, errors.New("describing the organization: answer has no organization")
	}
	var wrong []Mismatch
	if id := aws.ToString(out.Organization.Id); id != organizationID {
		wrong = append(wrong, Mismatch{Field: "hub.organizationId", Declared: organizationID, Actual: id})
	}
	if id := aws.ToString(out.Organization.MasterAccountId); id != managementAccountID {
		wrong = append(wrong, Mismatch{Field: "hub.managementAccountId", Declared: managementAccountID, Actual: id})
	}
	hub, err := o.Account(ctx, hubAccountID)
	if err != nil {
		return nil, err
	}
	if !hub.Active() {
		wrong = append(wrong, Mismatch{Field: "hub.accountId", Declared: hubAccountID})
	}
	return wrong, nil
}
