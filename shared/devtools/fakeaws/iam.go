package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// role is an IAM role with its trust policy and inline policies.
type role struct {
	name, arn, path, trust string
	inline                 map[string]string
	// boundary is the ARN of the role's permissions boundary ("" for none);
	// stored, not enforced, as in the local AWS.
	boundary string
}

// CreateRole creates a role (path "/" unless the name carries one, e.g.
// "ci/deployer") with a trust policy, as someone other than ecr-warden would.
func (f *AWS) CreateRole(account, pathName, trust string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	path, name := "/", pathName
	if i := strings.LastIndex(pathName, "/"); i >= 0 {
		path, name = "/"+pathName[:i+1], pathName[i+1:]
	}
	arn := fmt.Sprintf("arn:%s:iam::%s:role%s%s", f.partition, account, path, name)
	f.acct(account).roles[name] = &role{name: name, arn: arn, path: path, trust: trust, inline: map[string]string{}}
	return arn
}

// CreateUser creates an IAM user.
func (f *AWS) CreateUser(account, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acct(account).users[name] = true
}

// Role returns a role's trust policy and inline policies (ok false when it
// does not exist).
func (f *AWS) Role(account, name string) (trust string, inline map[string]string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.acct(account).roles[name]
	if !ok {
		return "", nil, false
	}
	inline = map[string]string{}
	for k, v := range r.inline {
		inline[k] = v
	}
	return r.trust, inline, true
}

// Boundary returns the ARN of a role's permissions boundary ("" for none or
// no such role).
func (f *AWS) Boundary(account, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.acct(account).roles[name]; ok {
		return r.boundary
	}
	return ""
}

// SetBoundary sets (or, with "", removes) a role's permissions boundary, as
// someone other than ecr-warden would (PutRolePermissionsBoundary,
// DeleteRolePermissionsBoundary).
func (f *AWS) SetBoundary(account, name, arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.acct(account).roles[name]; ok {
		r.boundary = arn
	}
}

// IAM is the IAM client of one account.
func (f *AWS) IAM(account string) *IAM { return &IAM{scope{f: f, account: account}} }

// IAM answers IAM's API for one account. Documents are answered URL-encoded,
// as IAM answers them.
type IAM struct{ scope }

// iamServe answers one IAM call of c's account with fn.
func iamServe[O any](ctx context.Context, c *IAM, op string, in any, fn func(*account, Call) (*O, error)) (*O, error) {
	return serve(c.f, c.call(ctx, "IAM", op, in), func() *account { return c.f.acct(c.account) }, fn)
}

func (c *IAM) noSuch(cl Call, what, name string) error {
	return c.f.refuse(cl, http.StatusNotFound, &iamtypes.NoSuchEntityException{Message: aws.String(fmt.Sprintf("The %s with name %s cannot be found.", what, name))})
}

// iamRole answers one IAM call about the role name with fn, or
// NoSuchEntityException when there is no such role.
func iamRole[O any](ctx context.Context, c *IAM, op string, in any, name *string, fn func(*account, *role, Call) (*O, error)) (*O, error) {
	return iamServe(ctx, c, op, in, func(a *account, cl Call) (*O, error) {
		r, ok := a.roles[aws.ToString(name)]
		if !ok {
			return nil, c.noSuch(cl, "role", aws.ToString(name))
		}
		return fn(a, r, cl)
	})
}

func (r *role) sdk() *iamtypes.Role {
	out := &iamtypes.Role{RoleName: aws.String(r.name), Arn: aws.String(r.arn), Path: aws.String(r.path),
		AssumeRolePolicyDocument: aws.String(url.PathEscape(r.trust)), CreateDate: aws.Time(time.Now())}
	if r.boundary != "" {
		out.PermissionsBoundary = &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(r.boundary),
			PermissionsBoundaryType: iamtypes.PermissionsBoundaryAttachmentTypePolicy}
	}
	return out
}

func malformed(doc string) bool { return !json.Valid([]byte(doc)) }

// GetRole answers NoSuchEntityException for a role that does not exist.
func (c *IAM) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return iamRole(ctx, c, "GetRole", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.GetRoleOutput, error) {
		return &iam.GetRoleOutput{Role: r.sdk()}, nil
	})
}

// GetUser answers NoSuchEntityException for a user that does not exist.
func (c *IAM) GetUser(ctx context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return iamServe(ctx, c, "GetUser", in, func(a *account, cl Call) (*iam.GetUserOutput, error) {
		name := aws.ToString(in.UserName)
		if !a.users[name] {
			return nil, c.noSuch(cl, "user", name)
		}
		return &iam.GetUserOutput{User: &iamtypes.User{UserName: aws.String(name), Arn: aws.String(fmt.Sprintf("arn:%s:iam::%s:user/%s", c.f.partition, c.account, name))}}, nil
	})
}

// GetRolePolicy answers NoSuchEntityException when the role or the policy
// does not exist.
func (c *IAM) GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	return iamRole(ctx, c, "GetRolePolicy", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.GetRolePolicyOutput, error) {
		doc, ok := r.inline[aws.ToString(in.PolicyName)]
		if !ok {
			return nil, c.noSuch(cl, "role policy", aws.ToString(in.PolicyName))
		}
		return &iam.GetRolePolicyOutput{RoleName: in.RoleName, PolicyName: in.PolicyName, PolicyDocument: aws.String(url.PathEscape(doc))}, nil
	})
}

// CreateRole answers EntityAlreadyExistsException for a taken name, in any
// case (IAM: "Names are not distinguished by case"), and
// MalformedPolicyDocumentException for a trust policy that is not JSON.
func (c *IAM) CreateRole(ctx context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	return iamServe(ctx, c, "CreateRole", in, func(a *account, cl Call) (*iam.CreateRoleOutput, error) {
		name := aws.ToString(in.RoleName)
		for taken := range a.roles {
			if strings.EqualFold(taken, name) {
				return nil, c.f.refuse(cl, http.StatusConflict, &iamtypes.EntityAlreadyExistsException{Message: aws.String("Role with name " + name + " already exists.")})
			}
		}
		trust := aws.ToString(in.AssumeRolePolicyDocument)
		if malformed(trust) {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &iamtypes.MalformedPolicyDocumentException{Message: aws.String("This policy contains invalid Json")})
		}
		path := aws.ToString(in.Path)
		if path == "" {
			path = "/"
		}
		r := &role{name: name, arn: fmt.Sprintf("arn:%s:iam::%s:role%s%s", c.f.partition, c.account, path, name), path: path, trust: trust, inline: map[string]string{},
			boundary: aws.ToString(in.PermissionsBoundary)}
		a.roles[name] = r
		c.f.wrote(cl, name)
		return &iam.CreateRoleOutput{Role: r.sdk()}, nil
	})
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (c *IAM) UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, _ ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error) {
	return iamRole(ctx, c, "UpdateAssumeRolePolicy", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.UpdateAssumeRolePolicyOutput, error) {
		if malformed(aws.ToString(in.PolicyDocument)) {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &iamtypes.MalformedPolicyDocumentException{Message: aws.String("This policy contains invalid Json")})
		}
		r.trust = aws.ToString(in.PolicyDocument)
		c.f.wrote(cl, r.name)
		return &iam.UpdateAssumeRolePolicyOutput{}, nil
	})
}

// PutRolePermissionsBoundary sets a role's permissions boundary.
func (c *IAM) PutRolePermissionsBoundary(ctx context.Context, in *iam.PutRolePermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error) {
	return iamRole(ctx, c, "PutRolePermissionsBoundary", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.PutRolePermissionsBoundaryOutput, error) {
		r.boundary = aws.ToString(in.PermissionsBoundary)
		c.f.wrote(cl, r.name)
		return &iam.PutRolePermissionsBoundaryOutput{}, nil
	})
}

// PutRolePolicy stores a role's inline policy; LimitExceededException when
// the role's inline policies together would pass RoleInlinePolicyLimit.
func (c *IAM) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	return iamRole(ctx, c, "PutRolePolicy", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.PutRolePolicyOutput, error) {
		if malformed(aws.ToString(in.PolicyDocument)) {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &iamtypes.MalformedPolicyDocumentException{Message: aws.String("This policy contains invalid Json")})
		}
		if size := inlineSize(r.inline, aws.ToString(in.PolicyName), aws.ToString(in.PolicyDocument)); size > RoleInlinePolicyLimit {
			return nil, c.f.refuse(cl, http.StatusConflict, &iamtypes.LimitExceededException{Message: aws.String(fmt.Sprintf("Maximum policy size of %d bytes exceeded for role %s", RoleInlinePolicyLimit, r.name))})
		}
		r.inline[aws.ToString(in.PolicyName)] = aws.ToString(in.PolicyDocument)
		c.f.wrote(cl, r.name+"/"+aws.ToString(in.PolicyName))
		return &iam.PutRolePolicyOutput{}, nil
	})
}

// RoleInlinePolicyLimit is IAM's quota on a role's inline policies taken
// together, in characters, whitespace not counted (IAM and AWS STS quotas:
// "Role policy size cannot exceed 10,240 characters", an aggregate).
const RoleInlinePolicyLimit = 10240

// inlineSize is the aggregate size IAM counts for a role's inline policies
// once policy name holds doc.
func inlineSize(inline map[string]string, name, doc string) int {
	n := 0
	for k, d := range inline {
		if k != name {
			n += nonSpace(d)
		}
	}
	return n + nonSpace(doc)
}

func nonSpace(s string) int {
	n := 0
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
			n++
		}
	}
	return n
}

// DeleteRolePolicy answers NoSuchEntityException when there is no such policy.
func (c *IAM) DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	return iamRole(ctx, c, "DeleteRolePolicy", in, in.RoleName, func(a *account, r *role, cl Call) (*iam.DeleteRolePolicyOutput, error) {
		name := aws.ToString(in.PolicyName)
		if _, ok := r.inline[name]; !ok {
			return nil, c.noSuch(cl, "role policy", name)
		}
		delete(r.inline, name)
		c.f.wrote(cl, r.name+"/"+name)
		return &iam.DeleteRolePolicyOutput{}, nil
	})
}

// CreateSecret creates a secret and returns its full ARN, with the six
// random characters Secrets Manager appends (here derived from the name).
func (f *AWS) CreateSecret(account, region, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.acct(account)
	if a.secrets[region] == nil {
		a.secrets[region] = map[string]string{}
	}
	arn := fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-%06x", f.partition, region, account, name, len(name)*7919%0xffffff)
	a.secrets[region][name] = arn
	return arn
}

// secretExists says whether arn is the full ARN of a secret in the account
// and region. f.mu must be held.
func (f *AWS) secretExists(account, region, arn string) bool {
	for _, full := range f.acct(account).secrets[region] {
		if full == arn {
			return true
		}
	}
	return false
}

// SecretsManager is the Secrets Manager client of one account and region.
func (f *AWS) SecretsManager(account, region string) *SecretsManager {
	return &SecretsManager{scope{f, account, region}}
}

// SecretsManager answers DescribeSecret (metadata only).
type SecretsManager struct{ scope }

// DescribeSecret finds a secret by name or full ARN; ResourceNotFoundException
// otherwise.
func (c *SecretsManager) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return serve(c.f, c.call(ctx, "Secrets Manager", "DescribeSecret", in), func() map[string]string { return c.f.acct(c.account).secrets[c.region] }, func(secrets map[string]string, cl Call) (*secretsmanager.DescribeSecretOutput, error) {
		id := aws.ToString(in.SecretId)
		for name, arn := range secrets {
			if id == name || id == arn {
				return &secretsmanager.DescribeSecretOutput{ARN: aws.String(arn), Name: aws.String(name)}, nil
			}
		}
		return nil, c.f.refuse(cl, http.StatusBadRequest, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")})
	})
}
