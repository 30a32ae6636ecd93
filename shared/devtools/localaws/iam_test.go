package localaws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// TestIAMRefusesWhatIAMRefuses: the role calls ecr-warden makes (CreateRole,
// UpdateAssumeRolePolicy, PutRolePermissionsBoundary, PutRolePolicy) are
// refused, with IAM's code, for what the IAM API reference and User Guide
// document: a name or path outside the model's pattern, a role name taken in
// another case, a trust policy that is not a policy, names a role that does
// not exist or passes the trust quota, a permissions boundary that does not
// exist, an identity policy with a Principal. Nothing refused is stored.
func TestIAMRefusesWhatIAMRefuses(t *testing.T) {
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	c := iam.NewFromConfig(cfg)
	scanner := createRole(t, cfg, "scanner") // the account is known: its principals are checked
	boundary := must[*iam.CreatePolicyOutput](t)(c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("ptc-boundary"), PolicyDocument: aws.String(BoundaryPolicy)}))
	boundaryARN := aws.ToString(boundary.Policy.Arn)
	absentBoundary := "arn:aws:iam::" + hub + ":policy/absent-boundary"
	trustOf := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`
	}
	create := func(name, path, trust, boundary string) error {
		in := &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}
		if path != "" {
			in.Path = aws.String(path)
		}
		if boundary != "" {
			in.PermissionsBoundary = aws.String(boundary)
		}
		_, err := c.CreateRole(ctx, in)
		return err
	}

	refused := []struct {
		name, role, path, trust, boundary, code string
		fragments                               []string
	}{
		{"name of 65", strings.Repeat("r", 65), "", trustPolicy, "", "ValidationError", []string{"'roleName'", "length less than or equal to 64"}},
		{"name with a space", "a b", "", trustPolicy, "", "ValidationError", []string{"'roleName'", `[\w+=,.@-]+`}},
		{"name with a slash", "team/a", "", trustPolicy, "", "ValidationError", []string{"'roleName'"}},
		{"path without slashes", "pathless", "team", trustPolicy, "", "ValidationError", []string{"'path'"}},
		{"name taken in another case", "SCANNER", "", trustPolicy, "", "EntityAlreadyExists", []string{"Role with name SCANNER already exists."}},
		{"trust not JSON", "notjson", "", `{"Version":`, "", "MalformedPolicyDocument", nil},
		{"trust with a Resource", "withresource", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}]}`, "", "MalformedPolicyDocument", nil},
		{"trust naming a missing role", "trustsghost", "", trustOf("arn:aws:iam::" + hub + ":role/ghost"), "", "MalformedPolicyDocument", []string{`Invalid principal in policy: "AWS":"arn:aws:iam::` + hub + `:role/ghost"`}},
		{"trust past the quota", "verbose", "", strings.Replace(trustPolicy, `"Effect"`, `"Sid":"`+strings.Repeat("x", 2000)+`","Effect"`, 1), "", "LimitExceeded", []string{"ACLSizePerRole: 2048"}},
		{"boundary missing", "unbounded", "", trustPolicy, absentBoundary, "NoSuchEntity", []string{"Scope ARN: " + absentBoundary + " does not exist or is not attachable."}},
	}
	for _, r := range refused {
		err := create(r.role, r.path, r.trust, r.boundary)
		if err == nil {
			t.Errorf("%s: CreateRole(%q) accepted, want %s", r.name, r.role, r.code)
			continue
		}
		wantCode(t, err, r.code)
		for _, f := range r.fragments {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("%s: error %q does not mention %q", r.name, err, f)
			}
		}
	}
	roles := must[*iam.ListRolesOutput](t)(c.ListRoles(ctx, &iam.ListRolesInput{}))
	if len(roles.Roles) != 1 || aws.ToString(roles.Roles[0].Arn) != scanner {
		var names []string
		for _, r := range roles.Roles {
			names = append(names, aws.ToString(r.RoleName))
		}
		t.Errorf("roles after the refusals: %v, want scanner only", names)
	}

	// What IAM takes: a role under a path, trusting an existing role, with a
	// boundary that exists; whitespace does not count towards the trust quota.
	spaced := strings.Replace(trustOf(scanner), `"Effect"`, strings.Repeat(" ", 3000)+`"Effect"`, 1)
	if err := create("ptc", "/team/", spaced, boundaryARN); err != nil {
		t.Fatalf("CreateRole within every rule: %v", err)
	}

	// UpdateAssumeRolePolicy checks the principals too; a missing role stays NoSuchEntity.
	_, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ptc"), PolicyDocument: aws.String(trustOf("arn:aws:iam::" + hub + ":user/ghost"))})
	wantErr[*iamtypes.MalformedPolicyDocumentException](t, err, `Invalid principal in policy: "AWS":"arn:aws:iam::`+hub+`:user/ghost"`)
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ghost"), PolicyDocument: aws.String(trustPolicy)})
	wantErr[*iamtypes.NoSuchEntityException](t, err, "ghost")
	got := must[*iam.GetRoleOutput](t)(c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ptc")}))
	if !strings.Contains(aws.ToString(got.Role.AssumeRolePolicyDocument), "scanner") {
		t.Errorf("trust after the refused update: %s, want the one it was created with", aws.ToString(got.Role.AssumeRolePolicyDocument))
	}

	// PutRolePermissionsBoundary: the policy must exist.
	_, err = c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("ptc"), PermissionsBoundary: aws.String(absentBoundary)})
	wantErr[*iamtypes.NoSuchEntityException](t, err, "Scope ARN: "+absentBoundary)
	got = must[*iam.GetRoleOutput](t)(c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ptc")}))
	if got.Role.PermissionsBoundary == nil || aws.ToString(got.Role.PermissionsBoundary.PermissionsBoundaryArn) != boundaryARN {
		t.Errorf("boundary after the refused change: %+v, want %s", got.Role.PermissionsBoundary, boundaryARN)
	}

	// PutRolePolicy: the policy name's pattern and no Principal in an identity policy.
	put := func(name, doc string) error {
		_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ptc"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		return err
	}
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}`
	wantCode(t, put("a b", allow), "ValidationError")
	wantCode(t, put(strings.Repeat("p", 129), allow), "ValidationError")
	wantErr[*iamtypes.MalformedPolicyDocumentException](t, put("withprincipal", strings.Replace(allow, `"Effect"`, `"Principal":"*","Effect"`, 1)),
		"Policy document should not specify a principal.")
	if err := put("ptc", allow); err != nil {
		t.Fatalf("PutRolePolicy within every rule: %v", err)
	}
	names := must[*iam.ListRolePoliciesOutput](t)(c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("ptc")}))
	if strings.Join(names.PolicyNames, ",") != "ptc" {
		t.Errorf("inline policies %v, want ptc only", names.PolicyNames)
	}
}

// TestDescribeAccountRefusesAMalformedID: Organizations answers an id that is
// not 12 digits with InvalidInputException (reason INVALID_PATTERN, or
// MAX_LENGTH_EXCEEDED past 12 characters), and one it does not hold with
// AccountNotFoundException.
func TestDescribeAccountRefusesAMalformedID(t *testing.T) {
	ctx := context.Background()
	c := organizations.NewFromConfig(fresh(t, "us-east-1"))
	must[*organizations.CreateOrganizationOutput](t)(c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}))
	describe := func(id string) error {
		_, err := c.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
		return err
	}
	for id, reason := range map[string]orgtypes.InvalidInputExceptionReason{
		"12345":         orgtypes.InvalidInputExceptionReasonInvalidPattern,
		"12345678901a":  orgtypes.InvalidInputExceptionReasonInvalidPattern,
		"1234567890123": orgtypes.InvalidInputExceptionReasonMaxLengthExceeded,
	} {
		var invalid *orgtypes.InvalidInputException
		if err := describe(id); !errors.As(err, &invalid) {
			t.Errorf("DescribeAccount(%q) = %v, want InvalidInputException", id, err)
		} else if invalid.Reason != reason {
			t.Errorf("DescribeAccount(%q) reason %q, want %q", id, invalid.Reason, reason)
		}
	}
	wantErr[*orgtypes.AccountNotFoundException](t, describe("210987654321"))
}
