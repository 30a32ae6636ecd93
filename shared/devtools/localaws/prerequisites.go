package localaws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// PrerequisiteTrust is the trust policy of the roles SeedPrerequisites and
// SeedAssumedRoles create: the local AWS does not evaluate trust policies
// (README "Known differences"); the roles only have to exist.
const PrerequisiteTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// SeedPrerequisites creates, on the local AWS, what a declaration expects to
// exist before ecr-warden runs, as a platform team would provision it: every
// role it names as a principal (in its account; the PTC statement roles in
// every member of ptcMembers) and every PTC credential secret in every PTC
// member and hub region. config(account, region) acts in an account.
// Existing roles and secrets are kept, so it can run twice.
func SeedPrerequisites(ctx context.Context, d *config.Declaration, ptcMembers []string, known func(account string) bool, cfg func(account, region string) (aws.Config, error)) error {
	for _, r := range d.DeclaredRoles() {
		accounts := []string{r.Account}
		if r.Account == "" {
			accounts = ptcMembers
		}
		for _, a := range accounts {
			if !known(a) {
				continue
			}
			c, err := cfg(a, d.Hub.Regions[0])
			if err != nil {
				return err
			}
			if err := CreateRole(ctx, c, r.PathName); err != nil {
				return fmt.Errorf("creating role %s in %s (%s): %w", r.PathName, a, r.Where, err)
			}
		}
	}
	for _, name := range d.CredentialSecrets() {
		for _, a := range ptcMembers {
			for _, region := range d.Hub.Regions {
				c, err := cfg(a, region)
				if err != nil {
					return err
				}
				if _, err := CreateSecret(ctx, c, name); err != nil {
					return fmt.Errorf("creating secret %s in %s/%s: %w", name, a, region, err)
				}
			}
		}
	}
	return nil
}

// SeedAssumedRoles creates, on the local AWS, the roles ecr-warden assumes,
// as production's stacks create them before it runs: the member execution
// role memberRole (the Members StackSet's) in every account of members, with
// the managed policy ptcBoundary (config.PTCRole.BoundaryName; "" for none)
// that the same StackSet creates there as the PTC role's permissions
// boundary, and the organization reader orgRoleARN (the management stack's;
// "" when the world's functions read the organization with their own
// credentials) in its account. The local AWS, like AWS, refuses
// sts:AssumeRole into a role that does not exist, and CreateRole with a
// permissions boundary that does not exist. config(account) acts in an
// account. Existing roles and policies are kept, so it can run twice.
func SeedAssumedRoles(ctx context.Context, memberRole, ptcBoundary string, members []string, orgRoleARN string, config func(account string) (aws.Config, error)) error {
	create := func(account, pathName, what string) error {
		c, err := config(account)
		if err != nil {
			return err
		}
		if err := CreateRole(ctx, c, pathName); err != nil {
			return fmt.Errorf("creating %s %s in %s: %w", what, pathName, account, err)
		}
		return nil
	}
	for _, a := range members {
		if err := create(a, memberRole, "the member execution role"); err != nil {
			return err
		}
		if ptcBoundary == "" {
			continue
		}
		c, err := config(a)
		if err != nil {
			return err
		}
		if err := CreateBoundary(ctx, c, ptcBoundary); err != nil {
			return fmt.Errorf("creating the PTC role's permissions boundary %s in %s: %w", ptcBoundary, a, err)
		}
	}
	if orgRoleARN == "" {
		return nil
	}
	a, err := arn.Parse(orgRoleARN)
	if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") {
		return fmt.Errorf("seeding the organization reader: %q is not an IAM role ARN", orgRoleARN)
	}
	return create(a.AccountID, strings.TrimPrefix(a.Resource, "role/"), "the organization reader")
}

// CreateRole creates role path/name (or name) unless it exists.
func CreateRole(ctx context.Context, cfg aws.Config, pathName string) error {
	path, name := "/", pathName
	if i := lastSlash(pathName); i >= 0 {
		path, name = "/"+pathName[:i+1], pathName[i+1:]
	}
	_, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path),
		AssumeRolePolicyDocument: aws.String(PrerequisiteTrust)})
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}

// BoundaryPolicy is the document of the permissions boundary CreateBoundary
// creates: the local AWS does not evaluate policies (README "Known
// differences"); the policy only has to exist.
const BoundaryPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`

// CreateBoundary creates the managed policy name (at path /) unless it exists.
func CreateBoundary(ctx context.Context, cfg aws.Config, name string) error {
	_, err := iam.NewFromConfig(cfg).CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name),
		PolicyDocument: aws.String(BoundaryPolicy)})
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}

// CreateSecret creates a secret unless it exists, and returns its full ARN.
func CreateSecret(ctx context.Context, cfg aws.Config, name string) (string, error) {
	sm := secretsmanager.NewFromConfig(cfg)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name),
		SecretString: aws.String(`{"username":"ci","accessToken":"not-a-real-token"}`)})
	var exists *smtypes.ResourceExistsException
	if errors.As(err, &exists) {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			return "", err
		}
		return aws.ToString(d.ARN), nil
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ARN), nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
