package function

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/install"
)

// orgConfig is the configuration for Organizations calls. Organizations
// answers only in the management account (or a delegated administrator), and
// its events arrive there, so a deployed function assumes the management
// stack's read-only role named by WARDEN_ORG_ROLE_ARN; "" means the
// function's own credentials can read the organization (tests, delegated
// admin). A value that is not a role ARN stops the function at init.
func orgConfig(ctx context.Context, cfg aws.Config, roleARN, function string) (aws.Config, error) {
	if roleARN == "" {
		return cfg, nil
	}
	partition, account, name, err := ParseRoleARN(roleARN)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s=%q: %w", OrgRoleARN, roleARN, err)
	}
	return awsapi.AssumeRoleExplained(ctx, cfg, partition, account, name, awsapi.SessionName(function), orgReaderDenied(roleARN)), nil
}

// orgReaderDenied is what to do when STS refuses the organization reader:
// every account and organization event then fails with AWS's AccessDenied,
// which names the role but not that the management stack makes it.
func orgReaderDenied(roleARN string) string {
	reader := install.Name(install.OrgReaderRole)
	return fmt.Sprintf("the organization reader %s (%s) cannot be assumed: it does not exist, or its trust does not admit this "+
		"function's role. The management stack (%s, after the name prefix of an install that has one) "+
		"creates it in the management account as %s (<namePrefix>-%s "+
		"with a name prefix), trusting the hub function roles: deploy "+
		"that stack before the hub stacks, and check that %s names it (the hub stack sets it from the same name prefix); "+
		"for make plan, pass ORG_ROLE=<its ARN> or run with the management account's credentials",
		roleARN, OrgRoleARN, install.ManagementStackID, reader, reader, OrgRoleARN)
}

// ParseRoleARN splits arn:<partition>:iam::<account>:role/<path/><name> into
// the parts awsapi.AssumeRole takes; a role path stays part of the name so the
// rebuilt ARN is the same.
func ParseRoleARN(arn string) (partition, account, name string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", "", fmt.Errorf("want a role ARN like arn:aws:iam::999999999999:role/%s", install.Name(install.OrgReaderRole))
	}
	partition, account, name = parts[1], parts[4], strings.TrimPrefix(parts[5], "role/")
	if partition == "" || len(account) != 12 || strings.Trim(account, "0123456789") != "" || name == "" {
		return "", "", "", fmt.Errorf("want a role ARN like arn:aws:iam::999999999999:role/%s (partition, 12-digit account and role name)", install.Name(install.OrgReaderRole))
	}
	return partition, account, name, nil
}
