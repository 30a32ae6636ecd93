package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// iamAPI is the part of the IAM client the role reader calls.
type iamAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
}

var _ iamAPI = (*iam.Client)(nil)

// Roles reads IAM roles in one account (the PTC role ecr-warden manages in
// members).
type Roles struct {
	api       iamAPI
	accountID string
}

// NewRoles returns a role reader for accountID behind api.
func NewRoles(api iamAPI, accountID string) *Roles { return &Roles{api: api, accountID: accountID} }

// RoleState is a role as it exists: whether it does, its trust policy, and
// the inline policies the caller asked for. Documents are URL-decoded (IAM
// returns them RFC 3986 encoded) so they can be compared as JSON.
type RoleState struct {
	Exists      bool
	ARN         string
	TrustPolicy string
	// InlinePolicies holds the requested inline policies that exist, by name;
	// a requested policy that does not exist is absent.
	InlinePolicies map[string]string
	// PermissionsBoundary is the ARN of the role's permissions boundary, "" for none.
	PermissionsBoundary string
}

// Role reads a role and the named inline policies: one GetRole plus one
// GetRolePolicy per name. A role that does not exist is Exists == false and
// no error (the reconcile engine then creates it).
func (r *Roles) Role(ctx context.Context, name string, inline ...string) (RoleState, error) {
	out, err := r.api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return RoleState{}, nil
	}
	if err != nil {
		return RoleState{}, fmt.Errorf("getting role %s in %s: %w", name, r.accountID, err)
	}
	if out.Role == nil {
		return RoleState{}, fmt.Errorf("getting role %s in %s: answer has no role", name, r.accountID)
	}
	st := RoleState{Exists: true, ARN: aws.ToString(out.Role.Arn), InlinePolicies: map[string]string{}}
	if b := out.Role.PermissionsBoundary; b != nil {
		st.PermissionsBoundary = aws.ToString(b.PermissionsBoundaryArn)
	}
	if st.TrustPolicy, err = decodePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument)); err != nil {
		return RoleState{}, fmt.Errorf("decoding trust policy of role %s in %s: %w", name, r.accountID, err)
	}
	for _, p := range inline {
		pol, err := r.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)})
		if errors.As(err, &nse) {
			continue
		}
		if err != nil {
			return RoleState{}, fmt.Errorf("getting inline policy %s of role %s in %s: %w", p, name, r.accountID, err)
		}
		if st.InlinePolicies[p], err = decodePolicy(aws.ToString(pol.PolicyDocument)); err != nil {
			return RoleState{}, fmt.Errorf("decoding inline policy %s of role %s in %s: %w", p, name, r.accountID, err)
		}
	}
	return st, nil
}

// decodePolicy undoes IAM's URL encoding. A document that is already plain
// JSON (some emulators and SDK paths return it decoded) is returned as is,
// since decoding it again would corrupt a literal '%'. PathUnescape, not
// QueryUnescape: '+' is a literal plus in RFC 3986 encoding, not a space.
func decodePolicy(doc string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(doc), "{") {
		return doc, nil
	}
	return url.PathUnescape(doc)
}
