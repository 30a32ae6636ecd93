package fakeaws

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// organization is one organization: a root, OUs and member accounts.
type organization struct {
	id, root, management string
	ous                  map[string]ou     // by id
	parent               map[string]string // account or OU id -> parent id
	accounts             map[string]orgtypes.Account
}

type ou struct{ id, name string }

// Organization creates the organization (id o-..., management account) with
// one root; Join adds accounts to it.
func (f *AWS) Organization(id, management string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.org = &organization{id: id, root: "r-" + id[2:6], management: management, ous: map[string]ou{}, parent: map[string]string{}, accounts: map[string]orgtypes.Account{}}
	f.join(management, nil)
}

// Join adds an active account under the OUs named by path (created as
// needed, nested in order; none means the root) and returns its OU path as
// Organizations writes it (o-.../r-.../ou-.../).
func (f *AWS) Join(account string, ous ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.join(account, ous)
}

func (f *AWS) join(account string, names []string) string {
	o := f.org
	f.acct(account)
	parent, path := o.root, o.id+"/"+o.root+"/"
	for _, n := range names {
		id := ""
		for oid, u := range o.ous {
			if u.name == n && o.parent[oid] == parent {
				id = oid
			}
		}
		if id == "" {
			id = fmt.Sprintf("ou-%s-%08d", o.root[2:], len(o.ous)+1)
			o.ous[id] = ou{id: id, name: n}
			o.parent[id] = parent
		}
		parent, path = id, path+id+"/"
	}
	o.parent[account] = parent
	o.accounts[account] = orgtypes.Account{Id: aws.String(account), Name: aws.String("account-" + account), Status: orgtypes.AccountStatusActive,
		State: orgtypes.AccountStateActive, Arn: aws.String(fmt.Sprintf("arn:%s:organizations::%s:account/%s/%s", f.partition, o.management, o.id, account))}
	return path
}

// Leave removes an account from the organization (RemoveAccountFromOrganization,
// or a closed account gone): Organizations no longer lists it, and
// DescribeAccount answers AccountNotFoundException.
func (f *AWS) Leave(account string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.org.accounts, account)
	delete(f.org.parent, account)
}

// Organizations is the Organizations client (of the management account).
func (f *AWS) Organizations() *Organizations { return &Organizations{f: f} }

// Organizations answers the organization's reads.
type Organizations struct{ f *AWS }

// orgServe answers one Organizations call with fn, or
// AWSOrganizationsNotInUseException before Organization was called.
func orgServe[O any](ctx context.Context, c *Organizations, op string, in any, fn func(*organization, Call) (*O, error)) (*O, error) {
	cl := Call{Service: "Organizations", Operation: op, Input: in, Context: ctx}
	return serve(c.f, cl, func() *organization { return c.f.org }, func(o *organization, cl Call) (*O, error) {
		if o == nil {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &orgtypes.AWSOrganizationsNotInUseException{Message: aws.String("Your account is not a member of an organization.")})
		}
		return fn(o, cl)
	})
}

// DescribeOrganization answers the organization's id and management account.
func (c *Organizations) DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	return orgServe(ctx, c, "DescribeOrganization", in, func(o *organization, cl Call) (*organizations.DescribeOrganizationOutput, error) {
		return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String(o.id), MasterAccountId: aws.String(o.management)}}, nil
	})
}

// DescribeAccount answers AccountNotFoundException for an account outside
// the organization.
func (c *Organizations) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	return orgServe(ctx, c, "DescribeAccount", in, func(o *organization, cl Call) (*organizations.DescribeAccountOutput, error) {
		a, ok := o.accounts[aws.ToString(in.AccountId)]
		if !ok {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &orgtypes.AccountNotFoundException{Message: aws.String("You specified an account that doesn't exist.")})
		}
		return &organizations.DescribeAccountOutput{Account: &a}, nil
	})
}

// ListParents answers an account's or OU's parent.
func (c *Organizations) ListParents(ctx context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	return orgServe(ctx, c, "ListParents", in, func(o *organization, cl Call) (*organizations.ListParentsOutput, error) {
		p, ok := o.parent[aws.ToString(in.ChildId)]
		if !ok {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &orgtypes.ChildNotFoundException{Message: aws.String("We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")})
		}
		typ := orgtypes.ParentTypeOrganizationalUnit
		if strings.HasPrefix(p, "r-") {
			typ = orgtypes.ParentTypeRoot
		}
		return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String(p), Type: typ}}}, nil
	})
}

// ListRoots answers the one root.
func (c *Organizations) ListRoots(ctx context.Context, in *organizations.ListRootsInput, _ ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return orgServe(ctx, c, "ListRoots", in, func(o *organization, cl Call) (*organizations.ListRootsOutput, error) {
		return &organizations.ListRootsOutput{Roots: []orgtypes.Root{{Id: aws.String(o.root), Name: aws.String("Root")}}}, nil
	})
}

// ListOrganizationalUnitsForParent lists the OUs under a root or OU (one page).
func (c *Organizations) ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	return orgServe(ctx, c, "ListOrganizationalUnitsForParent", in, func(o *organization, cl Call) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
		out := &organizations.ListOrganizationalUnitsForParentOutput{}
		for _, id := range sortedKeys(o.ous) {
			if o.parent[id] == aws.ToString(in.ParentId) {
				out.OrganizationalUnits = append(out.OrganizationalUnits, orgtypes.OrganizationalUnit{Id: aws.String(id), Name: aws.String(o.ous[id].name)})
			}
		}
		return out, nil
	})
}

// ListAccountsForParent lists the accounts directly under a root or OU (one page).
func (c *Organizations) ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	return orgServe(ctx, c, "ListAccountsForParent", in, func(o *organization, cl Call) (*organizations.ListAccountsForParentOutput, error) {
		out := &organizations.ListAccountsForParentOutput{}
		for _, id := range sortedKeys(o.accounts) {
			if o.parent[id] == aws.ToString(in.ParentId) {
				out.Accounts = append(out.Accounts, o.accounts[id])
			}
		}
		return out, nil
	})
}
