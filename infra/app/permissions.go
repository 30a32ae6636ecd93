package app

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// Access is what one hub function may do, named by the kinds of work it performs. Keeping the
// table here, in one place, makes the least-privilege review a read of one function.
type Access struct {
	ReadHubRepositories  bool // describe, tags, repository policy of hub repositories
	WriteHubRepositories bool // set/delete repository policies in the hub
	ReadHubRegistry      bool // registry policy and policy-scope setting of the hub
	WriteHubRegistry     bool // put/delete registry policy, switch the policy scope
	ReadPublic           bool // ECR Public repositories of the hub (us-east-1 only)
	WritePublic          bool
	AssumeMember         bool // sts:AssumeRole into the member execution role
	ReadOrganization     bool // via the organization reader role (or directly in the management account)
	WriteAudit           bool // audit trail records
	ReadAudit            bool // Query on the audit table and its indexes
	Lease                bool // one-writer lease per document
	SendWork             bool // fan out to the work queue
}

// FunctionAccess is the permission table of the hub functions.
//
//   - repository converges one repository's policy (hub or member) and reads the registry scope;
//   - account and drift converge a whole account or one resource: everything, reading and writing;
//   - backfill plans (reads everything, writes only audit records) and fans out to the work queue;
//   - worker converges one account+region: everything, reading and writing.
var FunctionAccess = map[string]Access{
	FnRepository: {ReadHubRepositories: true, WriteHubRepositories: true, ReadHubRegistry: true,
		ReadPublic: true, WritePublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, Lease: true},
	FnAccount: {ReadHubRepositories: true, WriteHubRepositories: true, ReadHubRegistry: true, WriteHubRegistry: true,
		ReadPublic: true, WritePublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, Lease: true},
	FnBackfill: {ReadHubRepositories: true, ReadHubRegistry: true, ReadPublic: true, AssumeMember: true,
		ReadOrganization: true, WriteAudit: true, ReadAudit: true, SendWork: true},
	FnWorker: {ReadHubRepositories: true, WriteHubRepositories: true, ReadHubRegistry: true, WriteHubRegistry: true,
		ReadPublic: true, WritePublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, Lease: true},
	FnDrift: {ReadHubRepositories: true, WriteHubRepositories: true, ReadHubRegistry: true, WriteHubRegistry: true,
		ReadPublic: true, WritePublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, Lease: true},
}

// Organizations read actions the reader role allows (and the functions, when the hub is the
// management account). The OU tree walk uses the *ForParent calls; ListParents serves single events.
var OrganizationReadActions = []string{
	"organizations:DescribeAccount",
	"organizations:DescribeOrganization",
	"organizations:DescribeOrganizationalUnit",
	"organizations:ListAccountsForParent",
	"organizations:ListOrganizationalUnitsForParent",
	"organizations:ListParents",
	"organizations:ListRoots",
}

// resources are the ARNs a hub function's statements name.
type resources struct {
	partition, region, hub string
	hubRegions             []string
	memberRoleName         string
	orgRoleARN             string
	auditTable, leaseTable *string
	workQueue              *string
	logGroup               *string
	managementAccount      string
	organizationID         string
}

func statement(sid string, actions []string, res ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(res...),
	})
}

// statements renders a's permissions. ECR registry-level actions and the policy-scope setting do not
// support resource-level permissions, hence "*" for them only.
func (a Access) statements(r resources) []awsiam.PolicyStatement {
	// Any hub region's worker may converge any hub region (the backfill fans out all of them).
	var repos []string
	for _, region := range r.hubRegions {
		repos = append(repos, fmt.Sprintf("arn:%s:ecr:%s:%s:repository/*", r.partition, region, r.hub))
	}
	publicRepos := fmt.Sprintf("arn:%s:ecr-public::%s:repository/*", r.partition, r.hub)
	var out []awsiam.PolicyStatement
	add := func(ok bool, sid string, actions []string, res ...string) {
		if ok {
			out = append(out, statement(sid, actions, res...))
		}
	}
	add(true, "Logs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, *r.logGroup)
	add(a.ReadHubRepositories, "ReadHubRepositories",
		[]string{"ecr:DescribeRepositories", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource"}, repos...)
	add(a.WriteHubRepositories, "WriteHubRepositoryPolicies",
		[]string{"ecr:DeleteRepositoryPolicy", "ecr:SetRepositoryPolicy"}, repos...)
	add(a.ReadHubRegistry, "ReadHubRegistry", []string{"ecr:GetAccountSetting", "ecr:GetRegistryPolicy"}, "*")
	add(a.WriteHubRegistry, "WriteHubRegistry",
		[]string{"ecr:DeleteRegistryPolicy", "ecr:PutAccountSetting", "ecr:PutRegistryPolicy"}, "*")
	if slices.Contains(r.hubRegions, "us-east-1") { // the ECR Public API exists only there
		add(a.ReadPublic, "ReadHubPublicRepositories",
			[]string{"ecr-public:DescribeRepositories", "ecr-public:GetRepositoryPolicy"}, publicRepos)
		add(a.WritePublic, "WriteHubPublicRepositoryPolicies",
			[]string{"ecr-public:DeleteRepositoryPolicy", "ecr-public:SetRepositoryPolicy"}, publicRepos)
	}
	add(a.AssumeMember, "AssumeMemberRole", []string{"sts:AssumeRole"},
		RoleARN(r.partition, "*", r.memberRoleName))
	if a.ReadOrganization {
		if r.orgRoleARN != "" {
			add(true, "AssumeOrganizationReader", []string{"sts:AssumeRole"}, r.orgRoleARN)
		} else {
			out = append(out, organizationReadStatements(r.partition, r.managementAccount, r.organizationID)...)
		}
	}
	auditIndexes := *r.auditTable + "/index/*"
	add(a.WriteAudit, "WriteAudit", []string{"dynamodb:PutItem", "dynamodb:UpdateItem"}, *r.auditTable)
	add(a.WriteAudit || a.ReadAudit, "ReadAudit", []string{"dynamodb:Query"}, *r.auditTable, auditIndexes)
	add(a.Lease, "Lease", []string{"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
		*r.leaseTable)
	add(a.SendWork, "SendWork", []string{"sqs:SendMessage"}, *r.workQueue)
	return out
}

// organizationReadStatements scopes each Organizations read to the resource types it supports
// (accounts, OUs and roots of this organization); ListRoots and DescribeOrganization support none.
func organizationReadStatements(partition, management, orgID string) []awsiam.PolicyStatement {
	base := fmt.Sprintf("arn:%s:organizations::%s:", partition, management)
	accounts := base + "account/" + orgID + "/*"
	ous := base + "ou/" + orgID + "/ou-*"
	roots := base + "root/" + orgID + "/r-*"
	return []awsiam.PolicyStatement{
		statement("DescribeOrganization", []string{"organizations:DescribeOrganization", "organizations:ListRoots"}, "*"),
		statement("DescribeAccounts", []string{"organizations:DescribeAccount"}, accounts),
		statement("DescribeOUs", []string{"organizations:DescribeOrganizationalUnit"}, ous),
		statement("WalkOUTree", []string{"organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"},
			roots, ous),
		statement("ListParents", []string{"organizations:ListParents"}, accounts, ous),
	}
}
