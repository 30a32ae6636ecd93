package app

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// Reasons for the reviewed cdk-nag exceptions. Each names why the wildcard or the managed policy is
// the narrowest thing AWS allows, and what still bounds it.
const (
	reasonRegistryLevel = "ECR registry-level actions (Get/Put/DeleteRegistryPolicy, Get/PutAccountSetting, the pull-through-cache rule " +
		"actions), tag:GetResources (a read that finds a registry's tag-matched repositories) and organizations:ListRoots/" +
		"DescribeOrganization have no resource type in the Service Authorization Reference, so IAM only accepts Resource \"*\" for " +
		"them; each such statement lists only those actions, and PutAccountSetting (only when the declaration allows the scope switch) is " +
		"limited by ecr:AccountSetting to the registry policy scope setting; the ECR and tagging ones are limited by aws:RequestedRegion to " +
		"the hub regions."
	reasonRepositories = "Repositories appear at any time under any name and each must get its declared policy; the ARN is limited to " +
		"this account's (and region's) repositories and the statement to describe, tag-read and repository-policy actions."
	reasonMemberRole = "Members join the organization at any time, so the account is a wildcard; the role name is fixed to the one " +
		"execution role ecr-warden deploys, aws:ResourceOrgID keeps it to the accounts of this organization, and that role trusts only " +
		"the hub function roles (aws:PrincipalArn)."
	reasonOrganization = "The reader walks the organization's OU tree by design; accounts, OUs and roots are limited to this " +
		"organization's ARNs, and only read actions are allowed."
	reasonSecrets = "A pull-through-cache rule needs its secret's full ARN, which carries a random suffix only Secrets Manager knows; " +
		"the ARN is limited to this account's secrets named ecr-pullthroughcache/ (the only ones ECR reads) in the hub regions and " +
		"the statement to secretsmanager:DescribeSecret, which reads metadata, never the secret's value."
	reasonPTCBoundary = "The pull-through-cache role's permissions boundary is exactly that role's permissions, which AWS documents on " +
		"Resource \"*\" (ecr:GetAuthorizationToken has no resource type, and the role reads whichever upstream repository its rule " +
		"names); as a boundary it grants nothing by itself and only caps the one role the execution role may create."
	reasonDeadLetterQueue = "This queue is the dead-letter queue of the EventBridge targets and of the functions' on-failure " +
		"destinations; it is alarmed on depth, and a dead-letter queue for it would add nothing."
)

// suppressReviewed records every cdk-nag exception on the constructs it concerns.
func suppressReviewed(res *Result) {
	d := res.Decl
	p := d.Hub.Partition
	var hubRepos []string
	for _, region := range d.Hub.Regions {
		hubRepos = append(hubRepos, fmt.Sprintf("Resource::arn:%s:ecr:%s:%s:repository/*", p, region, d.Hub.AccountID))
	}
	hubRepos = append(hubRepos, fmt.Sprintf("Resource::arn:%s:ecr-public::%s:repository/*", p, d.Hub.AccountID))
	for _, hub := range res.Hubs {
		for _, fn := range FunctionNames {
			role := hub.Functions.Roles[fn]
			suppress(role, "AwsSolutions-IAM5", reasonRegistryLevel, "Resource::*")
			suppress(role, "AwsSolutions-IAM5", reasonRepositories, hubRepos...)
			suppress(role, "AwsSolutions-IAM5", reasonMemberRole, "Resource::"+RoleARN(p, "*", d.MemberRoleName))
			if d.IsHubAlsoManagement() {
				suppress(role, "AwsSolutions-IAM5", reasonOrganization, organizationWildcards(d)...)
			}
		}
		if hub.Backfill == nil {
			suppress(hub.Queues.FailedEvents, "AwsSolutions-SQS3", reasonDeadLetterQueue)
			continue
		}
		suppress(hub.Queues.FailedEvents, "AwsSolutions-SQS3", reasonDeadLetterQueue)
	}
	for _, m := range res.Management {
		if m.Reader != nil {
			suppress(m.Reader, "AwsSolutions-IAM5", reasonRegistryLevel, "Resource::*")
			suppress(m.Reader, "AwsSolutions-IAM5", reasonOrganization, organizationWildcards(d)...)
		}
	}
}

// memberSuppressions are the reviewed exceptions of the member template's execution role.
func memberSuppressions(role awscdk.Resource, d *Declaration) {
	suppress(role, "AwsSolutions-IAM5", reasonRegistryLevel, "Resource::*")
	var repos []string
	for _, region := range d.Hub.Regions {
		repos = append(repos, fmt.Sprintf("Resource::arn:%s:ecr:%s:<AWS::AccountId>:repository/*", d.Hub.Partition, region))
	}
	repos = append(repos, fmt.Sprintf("Resource::arn:%s:ecr-public::<AWS::AccountId>:repository/*", d.Hub.Partition))
	suppress(role, "AwsSolutions-IAM5", reasonRepositories, repos...)
	if len(d.CredentialSecrets()) > 0 {
		var secrets []string
		for _, region := range d.Hub.Regions {
			secrets = append(secrets, fmt.Sprintf("Resource::arn:%s:secretsmanager:%s:<AWS::AccountId>:secret:ecr-pullthroughcache/*", d.Hub.Partition, region))
		}
		suppress(role, "AwsSolutions-IAM5", reasonSecrets, secrets...)
	}
}

func organizationWildcards(d *Declaration) []string {
	base := fmt.Sprintf("Resource::arn:%s:organizations::%s:", d.Hub.Partition, d.Hub.ManagementAccountID)
	return []string{
		base + "account/" + d.Hub.OrganizationID + "/*",
		base + "ou/" + d.Hub.OrganizationID + "/ou-*",
		base + "root/" + d.Hub.OrganizationID + "/r-*",
	}
}
