package localrun

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/localaws"
)

// Org is an organization Seed created in the local AWS.
type Org struct {
	ID     string
	RootID string
	// Management is the account that created the organization (the local
	// AWS's default account, which the functions also run as: the hub).
	Management string
	OUs        []OU
	Accounts   []Account
}

// OU is one organizational unit directly below the root.
type OU struct {
	Name string
	ID   string
	// Path is the aws:PrincipalOrgPaths form "o-x/r-y/ou-z/".
	Path string
}

// Account is one member account and the OU it was moved into.
type Account struct {
	ID string
	OU string // OU name
}

// SeedOrg creates an organization from cfg's account with one OU per name
// below the root and perOU accounts in each (the local AWS creates accounts
// at once; each is moved from the root into its OU).
func SeedOrg(ctx context.Context, cfg aws.Config, ouNames []string, perOU int) (Org, error) {
	c := organizations.NewFromConfig(cfg)
	out, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		return Org{}, fmt.Errorf("creating the organization: %w", err)
	}
	org := Org{ID: aws.ToString(out.Organization.Id), Management: aws.ToString(out.Organization.MasterAccountId)}
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) == 0 {
		return Org{}, fmt.Errorf("listing the organization's root: %v", err)
	}
	org.RootID = aws.ToString(roots.Roots[0].Id)
	for _, name := range ouNames {
		ou, err := c.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(org.RootID), Name: aws.String(name)})
		if err != nil {
			return Org{}, fmt.Errorf("creating OU %s: %w", name, err)
		}
		id := aws.ToString(ou.OrganizationalUnit.Id)
		org.OUs = append(org.OUs, OU{Name: name, ID: id, Path: org.ID + "/" + org.RootID + "/" + id + "/"})
		for i := range perOU {
			acct, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(fmt.Sprintf("%s-%02d", name, i)),
				Email: aws.String(fmt.Sprintf("%s-%02d@example.com", name, i))})
			if err != nil {
				return Org{}, fmt.Errorf("creating an account in %s: %w", name, err)
			}
			aid := aws.ToString(acct.CreateAccountStatus.AccountId)
			if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(aid), SourceParentId: aws.String(org.RootID), DestinationParentId: aws.String(id)}); err != nil {
				return Org{}, fmt.Errorf("moving account %s into %s: %w", aid, name, err)
			}
			org.Accounts = append(org.Accounts, Account{ID: aid, OU: name})
		}
	}
	return org, nil
}

// OU returns the named OU.
func (o Org) OU(name string) OU {
	for _, ou := range o.OUs {
		if ou.Name == name {
			return ou
		}
	}
	return OU{}
}

// Config returns a configuration acting in account: cfg itself for the
// organization's own account, else through roleName (the local AWS switches
// accounts on AssumeRole and never denies it).
func Config(ctx context.Context, cfg aws.Config, self, account, roleName string) (aws.Config, error) {
	if account == self {
		return cfg, nil
	}
	return localaws.AccountConfig(ctx, cfg, account, roleName)
}

// CreateRepositories creates the named private repositories in one
// account and region, parallel at a time.
func CreateRepositories(ctx context.Context, cfg aws.Config, names []string, parallel int) error {
	c := ecr.NewFromConfig(cfg)
	sem := make(chan struct{}, max(parallel, 1))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n)}); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("creating repository %s: %w", n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
