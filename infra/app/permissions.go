package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Access is what one hub function may do, named by the kinds of work its code path performs.
// Keeping the table here, in one place, makes the least-privilege review a read of one function.
// Each field is backed by a call in shared/reconcile, shared/inventory, shared/apply, shared/audit,
// shared/lease or the function's own handler; the comments name it.
type Access struct {
	ListHubRepositories  bool // ecr:DescribeRepositories: a whole hub registry (Converge, an account's enumerating repository grants), or whether an event's repository still exists (reconcile.confirmGone)
	ReadHubRepositories  bool // ecr:GetRepositoryPolicy, and ecr:ListTagsForResource when a grant matches on tags
	FindTaggedRepos      bool // tag:GetResources: a whole registry's tag-matched repositories (Converge), when a hub grant matches on tags
	WriteHubRepositories bool // ecr:SetRepositoryPolicy / DeleteRepositoryPolicy in the hub
	ReadHubRegistry      bool // ecr:GetRegistryPolicy, and ecr:GetAccountSetting (policy scope) before a V2 write
	WriteHubRegistry     bool // ecr:PutRegistryPolicy / DeleteRegistryPolicy; ecr:PutAccountSetting only when the declaration allows the V2 switch
	ListPublic           bool // ecr-public:DescribeRepositories: the hub's public repositories (Converge, us-east-1 unit), or whether an event's public repository still exists (reconcile.confirmGone)
	ReadPublic           bool // ecr-public:GetRepositoryPolicy
	WritePublic          bool // ecr-public:SetRepositoryPolicy / DeleteRepositoryPolicy
	AssumeMember         bool // sts:AssumeRole into the member execution role (awsapi.Members)
	ReadOrganization     bool // via the organization reader role (or directly when the hub is the management account)
	WriteAudit           bool // dynamodb:PutItem/BatchWriteItem on the audit table: every decision (audit.Trail Record, Begin, BeginBatch, RecordBatch)
	CompleteAudit        bool // dynamodb:UpdateItem on the audit table: the outcome of a write-ahead record (Applied/Failed)
	ReadAudit            bool // dynamodb:Query on the audit table and its indexes: a writer's look at the document's history before it writes (apply's reconcileHistory), the sweep's stale pending records
	Lease                bool // dynamodb:PutItem/UpdateItem/DeleteItem on the lease table: one writer per document (a mailbox's take is one TransactWriteItems of a Put and an Update, its close and release one of an Update and a Delete, its refusal mark an Update; IAM authorizes each as those actions); dynamodb:GetItem for a waiting poster's consistent read of a mailbox (Leaser.Peek); the organization's generation token (read and replaced with an Update, shared/lease/generation.go)
	RememberMembers      bool // dynamodb:GetItem/PutItem on its own region's lease table: the members a full backfill configured, read and replaced (shared/lease/remembered.go), so the next one retires those the declaration no longer configures
	SendWork             bool // sqs:SendMessage (SendMessageBatch) to the work queue
	ConsumeWork          bool // the worker's SQS event source mapping polls the work queue with the function's role
	DeliverFailures      bool // Lambda sends the record of an asynchronous invocation that failed every attempt to the failed-events queue with the function's role (its on-failure destination): sqs:SendMessage only; every function but the worker, which SQS feeds and whose failures go through the work queue's redrive policy
}

// FunctionAccess is the permission table of the hub functions, from the code path each one runs:
//
//   - repository: engine.Repository / PublicRepository, one repository policy (hub or member), with
//     the account's OU path or an organization walk when grants need them, and one
//     DescribeRepositories for a repository ECR still does not know after the wait for a new one
//     (deleted since its event: reconcile.confirmGone); never a registry policy;
//   - account: engine.Account, a member's PTC role, rules and registry policy through the member
//     role, and in the hub the registry policy and the repositories of enumerating grants; a moved
//     account's repositories are sent to the work queue for the worker; no ECR Public;
//   - backfill: walks the organization, fans out to the work queue, and in a dry run converges inline
//     with writes recorded as planned (Converge reads everything, writes only audit records, takes no lease);
//     a full run reads and replaces the members it configured in its own lease table (no lease either);
//     the sweep settles stale pending records from what AWS holds (reconcile.SettleStale: the record's
//     outcome, an UpdateItem like any writer's);
//   - worker: engine.Converge of one account+region from the message, which carries the accounts it
//     needs; it reads the organization only for a unit older than reconcile.WorkFreshFor, and sends
//     the rest of a unit that stopped before its deadline back to the work queue (Work.After);
//   - drift: one repository, registry policy, PTC rule set, PTC role or public repository policy, with
//     the account's OU path or an organization walk; and, when a role a grant names is created (IAM
//     CreateRole), every document naming it: registry policies itself, and for a repository-placement or
//     public grant the whole registry, which it hands to the worker through the work queue (or, without
//     one, converges itself: the listing, tag:GetResources for tag grants).
var FunctionAccess = map[string]Access{
	FnRepository: {ListHubRepositories: true, ReadHubRepositories: true, WriteHubRepositories: true, ListPublic: true, ReadPublic: true, WritePublic: true,
		AssumeMember: true, ReadOrganization: true, WriteAudit: true, CompleteAudit: true, ReadAudit: true, Lease: true, DeliverFailures: true},
	FnAccount: {ListHubRepositories: true, ReadHubRepositories: true, WriteHubRepositories: true, ReadHubRegistry: true, WriteHubRegistry: true,
		AssumeMember: true, ReadOrganization: true, WriteAudit: true, CompleteAudit: true, ReadAudit: true, Lease: true, SendWork: true, DeliverFailures: true},
	FnBackfill: {ListHubRepositories: true, ReadHubRepositories: true, FindTaggedRepos: true, ReadHubRegistry: true,
		ListPublic: true, ReadPublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, CompleteAudit: true, ReadAudit: true, RememberMembers: true, SendWork: true, DeliverFailures: true},
	FnWorker: {ListHubRepositories: true, ReadHubRepositories: true, FindTaggedRepos: true, WriteHubRepositories: true,
		ReadHubRegistry: true, WriteHubRegistry: true, ListPublic: true, ReadPublic: true, WritePublic: true,
		AssumeMember: true, ReadOrganization: true, WriteAudit: true, CompleteAudit: true, ReadAudit: true, Lease: true, ConsumeWork: true, SendWork: true},
	FnDrift: {ListHubRepositories: true, ReadHubRepositories: true, FindTaggedRepos: true, WriteHubRepositories: true,
		ReadHubRegistry: true, WriteHubRegistry: true, ListPublic: true, ReadPublic: true, WritePublic: true, AssumeMember: true, ReadOrganization: true, WriteAudit: true, CompleteAudit: true, ReadAudit: true, Lease: true, SendWork: true, DeliverFailures: true},
}

// Organizations read actions the reader role allows (and the functions, when the hub is the
// management account): exactly inventory.Org's calls (inventory.OrganizationReadActions, which
// its tests check against the calls). The OU tree walk uses ListRoots and the *ForParent calls;
// one account's OU path uses DescribeAccount and ListParents.
var OrganizationReadActions = inventory.OrganizationReadActions

// Switches derives, from the declaration, the calls the engine makes only for some declarations.
// Each mirrors the condition in shared/reconcile that guards the call.
type Switches struct {
	// ReadsTags: some repository-placement grant matches on tags (Engine.needsTags), so a single
	// repository's tags are read with ecr:ListTagsForResource, in the hub and in members alike.
	ReadsTags bool
	// HubTagQueries / MemberTagQueries: such a grant lives in the hub / in some member registry
	// (Engine.tagQueries), so converging that whole registry queries tag:GetResources.
	HubTagQueries, MemberTagQueries bool
	// SwitchScope: registryPolicyScope.allowSwitchToV2, the only case in which the engine calls
	// ecr:PutAccountSetting.
	SwitchScope bool
}

// SwitchesOf reads the Switches of d.
func SwitchesOf(d *config.Declaration) Switches {
	s := Switches{SwitchScope: d.RegistryPolicyScope.AllowSwitchToV2}
	for _, g := range d.Grants {
		if g.Placement != config.PlacementRepository || len(g.RepositoryTags) == 0 {
			continue
		}
		r := g.Registries
		s.ReadsTags = true
		s.HubTagQueries = s.HubTagQueries || r.Hub
		s.MemberTagQueries = s.MemberTagQueries || r.AllMembers || len(r.OUs) > 0 || len(r.Accounts) > 0
	}
	return s
}

// resources are the ARNs a hub function's statements name, and the declaration's switches.
type resources struct {
	partition, region, hub string
	hubRegions             []string
	memberRoleName         string
	orgRoleARN             string
	auditTable, leaseTable *string
	// otherLeaseTables are the lease tables of the other hub regions: a function takes a
	// document's lease in its region's table (lease.Regional), and the primary region's workers
	// and the functions of IAM's global events (in IAM's events region, us-east-1 in aws) write
	// documents of every region.
	otherLeaseTables  []string
	workQueue         *string
	failedEvents      *string
	logGroup          *string
	managementAccount string
	organizationID    string
	switches          Switches
	// hubRoles are the declared principal roles in the hub account, whose existence the engine
	// checks (iam:GetRole) before writing a document that names them.
	hubRoles []string
	// functionARN is the ARN of the function the role belongs to (named, not referenced: the
	// function depends on its role's policy), the value of lambda:SourceFunctionArn in its calls.
	functionARN string
}

// SourceFunctionKey is the condition key Lambda puts in the request context of every AWS call made
// with a function's execution-role credentials from inside that function's execution environment
// (the Lambda developer guide, "Using source function ARN to control function access behavior"),
// and not in the calls Lambda makes itself with the role outside it, such as an SQS event source
// mapping's polling.
const SourceFunctionKey = "lambda:SourceFunctionArn"

// notFromFunctionCode are the statements for the calls Lambda makes with the role outside the
// function's code: the event source mapping's polling (ConsumeWork), which carries no
// lambda:SourceFunctionArn, and log delivery (Logs: the guide says Lambda adds the key there, but
// a log lost to a wrong guess would hide everything else, and the log group is the function's own).
// The failed-invocation destination (DeliverFailedInvocations) is Lambda's own delivery too.
var notFromFunctionCode = map[string]bool{"ConsumeWork": true, "Logs": true, "DeliverFailedInvocations": true}

// fromItsFunctionOnly adds to every statement the function's code uses the condition that the call
// comes from that function (lambda:SourceFunctionArn): a principal of the hub account allowed to
// pass the function's role to a function of its own (iam:PassRole and lambda:CreateFunction, common
// in broad developer policies) gets credentials with which none of these statements work, so it
// cannot assume the member execution roles or the organization reader, nor write the hub's
// policies or audit trail, through that role.
func fromItsFunctionOnly(sts []awsiam.PolicyStatement, functionARN string) {
	for _, s := range sts {
		if !notFromFunctionCode[*s.Sid()] {
			s.AddCondition(jsii.String("ArnEquals"), map[string]interface{}{SourceFunctionKey: functionARN})
		}
	}
}

// HubRoleARNs are the declared principal roles that live in the hub account.
func HubRoleARNs(d *config.Declaration) []string {
	var out []string
	for _, r := range d.DeclaredRoles() {
		if r.Account == d.Hub.AccountID {
			out = append(out, RoleARN(d.Hub.Partition, r.Account, r.PathName))
		}
	}
	return out
}

func statement(sid string, actions []string, res ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(res...),
	})
}

// conditioned is statement with a StringEquals condition on key.
func conditioned(sid string, actions []string, key, value string, res ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Effect:     awsiam.Effect_ALLOW,
		Actions:    jsii.Strings(actions...),
		Resources:  jsii.Strings(res...),
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{key: value}},
	})
}

// AccountSettingKey is the condition key the Service Authorization Reference lists for
// ecr:PutAccountSetting ("Filters access by the ECR account setting name"): the one setting
// ecr-warden ever changes is the registry policy scope, so the permission is limited to it.
const AccountSettingKey = "ecr:AccountSetting"

// scopeSwitchStatement lets a role switch the registry policy scope (PutAccountSetting), and
// nothing else PutAccountSetting changes (the basic scan type version), when the declaration allows
// the switch; ok is false otherwise.
func scopeSwitchStatement(allowed bool) (awsiam.PolicyStatement, bool) {
	if !allowed {
		return nil, false
	}
	return conditioned("SwitchRegistryPolicyScope", []string{"ecr:PutAccountSetting"}, AccountSettingKey, policy.RegistryPolicyScopeSetting, "*"), true
}

// when returns actions if ok, else nothing: a statement's optional actions.
func when(ok bool, actions ...string) []string {
	if ok {
		return actions
	}
	return nil
}

// statements renders a's permissions. ECR registry-level actions, the policy-scope setting and
// tag:GetResources do not support resource-level permissions, hence "*" for them only.
func (a Access) statements(r resources) []awsiam.PolicyStatement {
	// Any hub region's worker may converge any hub region (the backfill fans out all of them).
	var repos []string
	for _, region := range r.hubRegions {
		repos = append(repos, fmt.Sprintf("arn:%s:ecr:%s:%s:repository/*", r.partition, region, r.hub))
	}
	publicRepos := fmt.Sprintf("arn:%s:ecr-public::%s:repository/*", r.partition, r.hub)
	sw := r.switches
	var out []awsiam.PolicyStatement
	add := func(ok bool, sid string, actions []string, res ...string) {
		if ok {
			slices.Sort(actions)
			out = append(out, statement(sid, actions, res...))
		}
	}
	add(true, "Logs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, *r.logGroup)
	add(a.ReadHubRepositories || a.ListHubRepositories, "ReadHubRepositories", slices.Concat(
		when(a.ListHubRepositories, "ecr:DescribeRepositories"),
		when(a.ReadHubRepositories, "ecr:GetRepositoryPolicy"),
		when(a.ReadHubRepositories && sw.ReadsTags, "ecr:ListTagsForResource")), repos...)
	add(a.FindTaggedRepos && sw.HubTagQueries, "FindTaggedRepositories", []string{"tag:GetResources"}, "*")
	add(a.WriteHubRepositories, "WriteHubRepositoryPolicies",
		[]string{"ecr:DeleteRepositoryPolicy", "ecr:SetRepositoryPolicy"}, repos...)
	add(a.ReadHubRegistry, "ReadHubRegistry", []string{"ecr:GetAccountSetting", "ecr:GetRegistryPolicy"}, "*")
	add(a.WriteHubRegistry, "WriteHubRegistry", []string{"ecr:DeleteRegistryPolicy", "ecr:PutRegistryPolicy"}, "*")
	if s, ok := scopeSwitchStatement(sw.SwitchScope && a.WriteHubRegistry); ok {
		out = append(out, s)
	}
	if slices.Contains(r.hubRegions, policy.ECRPublicRegion) { // the ECR Public API exists only there
		add(a.ReadPublic || a.ListPublic, "ReadHubPublicRepositories", slices.Concat(
			when(a.ListPublic, "ecr-public:DescribeRepositories"),
			when(a.ReadPublic, "ecr-public:GetRepositoryPolicy")), publicRepos)
		add(a.WritePublic, "WriteHubPublicRepositoryPolicies",
			[]string{"ecr-public:DeleteRepositoryPolicy", "ecr-public:SetRepositoryPolicy"}, publicRepos)
	}
	add((a.WriteHubRegistry || a.WriteHubRepositories || a.WritePublic || a.ReadHubRegistry) && len(r.hubRoles) > 0,
		"CheckHubRolesExist", []string{"iam:GetRole"}, r.hubRoles...)
	if a.AssumeMember {
		// The account is a wildcard (members join at any time); aws:ResourceOrgID keeps it to the
		// accounts of this organization, so a role of the same name elsewhere is out of reach.
		out = append(out, conditioned("AssumeMemberRole", []string{"sts:AssumeRole"}, "aws:ResourceOrgID", r.organizationID,
			RoleARN(r.partition, "*", r.memberRoleName)))
	}
	if a.ReadOrganization {
		if r.orgRoleARN != "" {
			add(true, "AssumeOrganizationReader", []string{"sts:AssumeRole"}, r.orgRoleARN)
		} else {
			out = append(out, organizationReadStatements(r.partition, r.managementAccount, r.organizationID)...)
		}
	}
	add(a.WriteAudit || a.CompleteAudit, "WriteAudit", slices.Concat(
		when(a.WriteAudit, "dynamodb:BatchWriteItem", "dynamodb:PutItem"), when(a.CompleteAudit, "dynamodb:UpdateItem")), *r.auditTable)
	// The history of one document (audit.IndexByName) and the stale pending records
	// (audit.IndexByPending); audit.IndexByDay is read only by make audit, with the user's own keys.
	add(a.ReadAudit, "ReadAudit", []string{"dynamodb:Query"}, *r.auditTable,
		*r.auditTable+"/index/"+audit.IndexByName, *r.auditTable+"/index/"+audit.IndexByPending)
	add(a.Lease, "Lease", []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
		append([]string{*r.leaseTable}, r.otherLeaseTables...)...)
	add(a.RememberMembers, "RememberMembers", []string{"dynamodb:GetItem", "dynamodb:PutItem"}, *r.leaseTable)
	add(a.SendWork, "SendWork", slices.Clone(workSendActions), *r.workQueue)
	// What Lambda's SQS event source mapping calls with the function's role (the Lambda developer
	// guide's list; CDK's SqsEventSource would also grant ChangeMessageVisibility and GetQueueUrl).
	add(a.ConsumeWork, "ConsumeWork", []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}, *r.workQueue)
	// The on-failure destination: the Lambda developer guide lists sqs:SendMessage as the execution
	// role's permission for an SQS on-failure destination (on its event source mapping pages; README
	// "Unverified" for asynchronous invocations, watched by the destination-failures alarms); CDK's
	// SqsDestination would also grant GetQueueAttributes and GetQueueUrl (queue.grantSendMessages),
	// which the guide does not ask for.
	if r.failedEvents != nil {
		add(a.DeliverFailures, "DeliverFailedInvocations", []string{"sqs:SendMessage"}, *r.failedEvents)
	}
	inHubRegions(out, r.hubRegions)
	if r.functionARN != "" {
		fromItsFunctionOnly(out, r.functionARN)
	}
	return out
}

// RequestedRegionKey is the global condition key holding the Region a request is made to (the IAM
// User Guide's global condition context keys).
const RequestedRegionKey = "aws:RequestedRegion"

// inHubRegions limits every statement that needs Resource "*" for a regional service (ECR's
// registry-level actions, which have no resource type, and tag:GetResources) to the hub regions,
// the only regions whose registries ecr-warden converges (the repository statements already name
// them in their ARNs): credentials of a hub function or of a member's execution role cannot write a
// registry policy, switch a registry's policy scope or change pull-through-cache rules in any other
// region. Organizations' and IAM's calls (global services) are left as they are.
func inHubRegions(sts []awsiam.PolicyStatement, regions []string) {
	for _, s := range sts {
		if !regionalWildcard(s) {
			continue
		}
		s.AddCondition(jsii.String("StringEquals"), map[string]interface{}{RequestedRegionKey: slices.Clone(regions)})
	}
}

// regionalWildcard reports whether s allows Resource "*" only and every action of it belongs to a
// regional service whose calls ecr-warden makes in the hub regions only (ECR, the tagging API).
func regionalWildcard(s awsiam.PolicyStatement) bool {
	res := *s.Resources()
	if len(res) != 1 || *res[0] != "*" {
		return false
	}
	for _, a := range *s.Actions() {
		if !strings.HasPrefix(*a, "ecr:") && !strings.HasPrefix(*a, "tag:") {
			return false
		}
	}
	return true
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
		statement("WalkOUTree", []string{"organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"},
			roots, ous),
		statement("ListParents", []string{"organizations:ListParents"}, accounts, ous),
	}
}
