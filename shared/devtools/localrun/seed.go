package localrun

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// MemberRole is the execution role name the local runs declare.
const MemberRole = "ecr-warden-execution"

// PTCBoundary is the PTC role's permissions boundary the member StackSet
// creates in every member, for the PTC role name the local runs declare
// (the default one).
var PTCBoundary = config.PTCRole{Name: config.DefaultPTCRoleName}.BoundaryName()

// Org is an organization SeedOrg created in the local AWS.
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
// below the root and members accounts spread over them in turn (the local AWS
// creates accounts at once; each is moved from the root into its OU), each
// with the execution role memberRole, as the member StackSet gives every
// account of its target OUs (the declaration's memberRoleName: the local AWS
// refuses sts:AssumeRole into a role that does not exist).
func SeedOrg(ctx context.Context, cfg aws.Config, ouNames []string, members int, memberRole string) (Org, error) {
	if len(ouNames) == 0 {
		return Org{}, errors.New("seeding an organization: name at least one OU")
	}
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
	}
	for i := range members {
		ou := org.OUs[i%len(org.OUs)]
		acct, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(fmt.Sprintf("%s-%03d", ou.Name, i)),
			Email: aws.String(fmt.Sprintf("%s-%03d@example.com", ou.Name, i))})
		if err != nil {
			return Org{}, fmt.Errorf("creating an account in %s: %w", ou.Name, err)
		}
		aid := aws.ToString(acct.CreateAccountStatus.AccountId)
		if _, err := c.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(aid), SourceParentId: aws.String(org.RootID), DestinationParentId: aws.String(ou.ID)}); err != nil {
			return Org{}, fmt.Errorf("moving account %s into %s: %w", aid, ou.Name, err)
		}
		org.Accounts = append(org.Accounts, Account{ID: aid, OU: ou.Name})
	}
	ids := make([]string, len(org.Accounts))
	for i, a := range org.Accounts {
		ids[i] = a.ID
	}
	err = localaws.SeedAssumedRoles(ctx, memberRole, PTCBoundary, ids, "", func(account string) (aws.Config, error) {
		return Config(ctx, cfg, org.Management, account, memberRole)
	})
	if err != nil {
		return Org{}, fmt.Errorf("seeding the organization: %w", err)
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
// accounts on AssumeRole; the harness's own sessions need no role).
func Config(ctx context.Context, cfg aws.Config, self, account, roleName string) (aws.Config, error) {
	if account == self {
		return cfg, nil
	}
	return localaws.AccountConfig(ctx, cfg, account, roleName)
}

// CreateRepositories creates the named private repositories in one
// account and region, parallel at a time, each carrying tags (if given).
func CreateRepositories(ctx context.Context, cfg aws.Config, names []string, parallel int, tags ...ecrtypes.Tag) error {
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
			_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n), Tags: tags})
			// A create the harness's client retried after Go's closed-connection race
			// (localaws.testRetryer) finds the repository its first attempt made.
			var exists *ecrtypes.RepositoryAlreadyExistsException
			if err != nil && !errors.As(err, &exists) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("creating repository %s: %w", n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Declaration grants org-wide pull on team/* in every registry (condition
// mode), an enumerating registry grant in the hub for the "workloads" OU,
// and pull-through cache (with a hub rule, so members get the PTC role) in
// every member: the declaration `make bench` and the local `make backfill`
// use for an organization SeedOrg made (its ids are random). The hub is the
// management account, which is both hub.accountId and hub.managementAccountId
// (before, managementAccountId was a made-up 999999999999, which make plan
// and make doctor now refuse as not the organization's).
func Declaration(org Org, region string) string {
	return fmt.Sprintf(`{
  "hub": {"accountId": %q, "regions": [%q], "partition": "aws", "organizationId": %q, "managementAccountId": %q},
  "memberRoleName": %q,
  "sidPrefix": "EcrWarden",
  "registryPolicyScope": {"allowSwitchToV2": false},
  "grants": [
    {"name": "org-pull", "repositories": ["team/*"], "access": "pull", "principals": {"organization": true},
     "placement": "repository", "principalMode": "condition", "registries": {"hub": true, "allMembers": true}},
    {"name": "tagged-share", "repositoryTags": {"share": "org"}, "access": "pull", "principals": {"organization": true},
     "placement": "repository", "principalMode": "condition", "registries": {"hub": true, "allMembers": true}},
    {"name": "workloads-apps", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": [%q]},
     "placement": "registry", "principalMode": "enumerate", "registries": {"hub": true}}
  ],
  "pullThroughCache": {
    "members": {"all": true},
    "role": {"name": "ecr-warden-ptc", "sourceAccountCondition": true, "sourceArnCondition": false},
    "rules": [
      {"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws", "upstreamRegistry": "ecr-public"},
      {"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}
    ],
    "statementPrincipals": {"accountRoot": true, "roleNames": []},
    "upstreamGrantMode": "condition"
  },
  "sweep": {"schedule": "rate(6 hours)"}
}`, org.Management, region, org.ID, org.Management, MemberRole, org.OU("workloads").Path)
}
