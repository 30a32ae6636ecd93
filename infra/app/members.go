//lint:file-ignore SA1019 cxapi.SynthesisMessage is the only Go binding jsii offers for synthesis messages; its replacement package has no Go module yet

package app

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/desired"
)

// Members is the stack (in the management account, or a delegated StackSets administrator) that
// holds the service-managed StackSet putting the member template into every targeted account and
// hub region, now and, through automatic deployment, whenever an account joins a targeted OU.
type Members struct {
	awscdk.Stack
	StackSet awscloudformation.CfnStackSet
	// Template is the member template the StackSet carries (for tests and cfn-lint).
	Template map[string]interface{}
}

// NewMembers composes the Members stack. The member template is synthesized by its own CDK app (it
// is deployed by StackSets, not by the CDK CLI, and needs no bootstrap in members), checked by
// cdk-nag, and embedded as TemplateBody.
func NewMembers(scope constructs.Construct, id string, d *Declaration, o Options, targets MemberTargets, rootID string) (*Members, error) {
	account := d.Hub.ManagementAccountID
	if o.StackSetAccountID != "" {
		account = o.StackSetAccountID
	}
	stack := awscdk.NewStack(scope, &id, &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(d.ManagementRegion())},
		Description: jsii.String("ecr-warden members: service-managed StackSet with the execution role and event forwarding"),
	})
	tmpl, err := MemberTemplate(d)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("rendering the member template: %w", err)
	}
	if len(body) > 51200 {
		return nil, fmt.Errorf("the member template is %d bytes, over the 51,200-byte TemplateBody limit", len(body))
	}
	var groups []interface{}
	if len(targets.OrganizationalUnitIDs) > 0 {
		groups = append(groups, &awscloudformation.CfnStackSet_StackInstancesProperty{
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{
				OrganizationalUnitIds: jsii.Strings(targets.OrganizationalUnitIDs...),
			},
			Regions: jsii.Strings(d.MemberRegions()...),
		})
	}
	if len(targets.Accounts) > 0 {
		// Listed accounts: the root intersected with the list (UNION cannot be used on create).
		if !strings.HasPrefix(rootID, "r-") {
			return nil, fmt.Errorf("the declaration lists member accounts (%s), which the StackSet reaches as the organization root "+
				"intersected with the list, but the root id is unknown: pass -c organizationRootId=r-xxxx", strings.Join(targets.Accounts, ", "))
		}
		groups = append(groups, &awscloudformation.CfnStackSet_StackInstancesProperty{
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{
				OrganizationalUnitIds: jsii.Strings(rootID),
				Accounts:              jsii.Strings(targets.Accounts...),
				AccountFilterType:     jsii.String("INTERSECTION"),
			},
			Regions: jsii.Strings(d.MemberRegions()...),
		})
	}
	ss := awscloudformation.NewCfnStackSet(stack, jsii.String("StackSet"), &awscloudformation.CfnStackSetProps{
		StackSetName:    jsii.String(d.Names.StackSet()),
		Description:     jsii.String("ecr-warden member execution role and event forwarding"),
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		CallAs:          jsii.String(o.StackSetCallAs),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled:                      jsii.Bool(true),
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		Capabilities:     jsii.Strings("CAPABILITY_NAMED_IAM"),
		ManagedExecution: map[string]interface{}{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			// The primary region first: it creates the PTC role boundary, which the execution role
			// (IAM's events region's, d.RoleRegion) lets the engine use.
			RegionConcurrencyType:      jsii.String("SEQUENTIAL"),
			RegionOrder:                jsii.Strings(d.MemberRegions()...),
			FailureTolerancePercentage: jsii.Number(10),
			MaxConcurrentPercentage:    jsii.Number(25),
		},
		StackInstancesGroup: &groups,
		TemplateBody:        jsii.String(string(body)),
	})
	return &Members{Stack: stack, StackSet: ss, Template: tmpl}, nil
}

// MemberTemplate synthesizes the template every member stack instance runs:
//
//   - the execution role (named memberRoleName, created in one region only because IAM is global:
//     d.RoleRegion, IAM's events region whenever the StackSet deploys there), trusted by the hub
//     account only for the hub function roles (aws:PrincipalArn), with
//     only the permissions member convergence needs;
//   - rules forwarding the member's ECR (and, in us-east-1, ECR Public; in IAM's events region,
//     d.IAMRegion, us-east-1 in aws, IAM) events to the hub bus of the same region, with their
//     role. Nothing is forwarded from the hub account itself (its default bus already has the
//     rules). When the hub's regions lack IAM's events region, the StackSet also deploys there
//     (d.MemberRegions), where the template holds only the IAM rules, forwarding to the primary
//     region's hub bus: IAM events are delivered in that region only.
//   - in IAM's events region, the execution role created after the rule forwarding its
//     CreateRole event (roleCreationForwarded), so that event converges the member at once,
//     whatever the primary region.
func MemberTemplate(d *Declaration) (map[string]interface{}, error) {
	outdir, err := os.MkdirTemp("", "ecr-warden-member-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the member template: %w", err)
	}
	defer os.RemoveAll(outdir)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), AnalyticsReporting: jsii.Bool(false)})
	ApplyChecks(app)
	stack := awscdk.NewStack(app, jsii.String("EcrWardenMember"), &awscdk.StackProps{
		Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{}),
		Description: jsii.String("ecr-warden member: execution role for the hub functions, event forwarding to the hub bus"),
	})
	newMemberResources(stack, d)
	artifact := app.Synth(nil).GetStackByName(stack.StackName())
	var findings []string
	for _, m := range *artifact.Messages() {
		if strings.EqualFold(string(m.Level), "error") {
			findings = append(findings, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
	}
	if len(findings) > 0 {
		return nil, fmt.Errorf("member template fails its checks:\n%s", strings.Join(findings, "\n"))
	}
	tmpl, ok := artifact.Template().(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("member template is not a JSON object")
	}
	return tmpl, nil
}

// newMemberResources adds the member resources to stack.
func newMemberResources(stack awscdk.Stack, d *Declaration) {
	part := d.Hub.Partition
	roleRegion := awscdk.NewCfnCondition(stack, jsii.String("IsRoleRegion"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), d.RoleRegion()),
	})
	// The PTC role boundary's condition, only where a boundary is made: an
	// unused condition is a template warning (W8001).
	primary := roleRegion
	if d.PrimaryRegion() != d.RoleRegion() && d.HasFromHubRules() {
		primary = awscdk.NewCfnCondition(stack, jsii.String("IsPrimaryRegion"), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), d.PrimaryRegion()),
		})
	}
	notHub := awscdk.NewCfnCondition(stack, jsii.String("IsNotHubAccount"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), d.Hub.AccountID)),
	})
	// onlyInNotHub is the condition "this region, outside the hub account", one per region whose
	// events exist there only (IAM's events region, ECR Public's us-east-1), named after the
	// region (IsUsEast1AndNotHubAccount).
	onlyIn := map[string]awscdk.CfnCondition{}
	onlyInNotHub := func(region string) awscdk.CfnCondition {
		if c, ok := onlyIn[region]; ok {
			return c
		}
		c := awscdk.NewCfnCondition(stack, jsii.String("Is"+regionID(region)+"AndNotHubAccount"), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionAnd(
				awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), region),
				awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), d.Hub.AccountID)),
			),
		})
		onlyIn[region] = c
		return c
	}
	iamNotHub := onlyInNotHub(d.IAMRegion())

	// Execution role.
	var callers []string
	for _, region := range d.Hub.Regions {
		for _, fn := range FunctionNames {
			if FunctionAccess[fn].AssumeMember {
				callers = append(callers, RoleARN(part, d.Hub.AccountID, d.Names.FunctionRole(fn, region)))
			}
		}
	}
	principal := awsiam.NewAccountPrincipal(jsii.String(d.Hub.AccountID)).WithConditions(&map[string]interface{}{
		"ArnEquals": map[string]interface{}{"aws:PrincipalArn": callers},
	})
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{})
	for _, s := range MemberStatements(d) {
		doc.AddStatements(s)
	}
	role := awsiam.NewRole(stack, jsii.String("ExecutionRole"), &awsiam.RoleProps{
		RoleName:       jsii.String(d.MemberRoleName),
		AssumedBy:      principal,
		Description:    jsii.String("ecr-warden: the hub functions converge this account's ECR policies and pull-through cache"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Converge": doc},
	})
	role.Node().DefaultChild().(awsiam.CfnRole).CfnOptions().SetCondition(roleRegion)
	memberSuppressions(role, d)
	if d.HasFromHubRules() {
		// The PTC role's permissions boundary: exactly the PTC role's own permissions, so a role
		// the execution role creates or changes can never do more than cache from the hub.
		boundary := awsiam.NewManagedPolicy(stack, jsii.String("PullThroughCacheRoleBoundary"), &awsiam.ManagedPolicyProps{
			ManagedPolicyName: jsii.String(d.PullThroughCache.Role.BoundaryName()),
			Description:       jsii.String("ecr-warden: permissions boundary of the pull-through-cache role (its own permissions, nothing more)"),
			Statements: &[]awsiam.PolicyStatement{
				statement("PullThroughCacheRolePermissions", sortedCopy(desired.PTCRoleActions), "*"),
			},
		})
		boundary.Node().DefaultChild().(awsiam.CfnManagedPolicy).CfnOptions().SetCondition(primary)
		suppress(boundary, "AwsSolutions-IAM5", reasonPTCBoundary, "Resource::*")
	}

	// Forwarding to the hub bus of this region (global events from IAM's events region to the
	// primary region's, when that region is not a hub region).
	hubBus := awscdk.Fn_Sub(jsii.String(fmt.Sprintf("arn:${AWS::Partition}:events:${AWS::Region}:%s:event-bus/%s", d.Hub.AccountID, d.Names.Bus())), nil)
	primaryBus := awscdk.Fn_Sub(jsii.String(fmt.Sprintf("arn:${AWS::Partition}:events:%s:%s:event-bus/%s", d.PrimaryRegion(), d.Hub.AccountID, d.Names.Bus())), nil)
	buses := []string{*hubBus}
	regional := notHub
	if !d.HubHasIAMRegion() && slices.Contains(d.MemberRegions(), d.IAMRegion()) {
		buses = append(buses, *primaryBus)
		// IAM's events region is no hub region: there, only the global events are forwarded.
		regional = awscdk.NewCfnCondition(stack, jsii.String("IsHubRegionAndNotHubAccount"), &awscdk.CfnConditionProps{
			Expression: awscdk.Fn_ConditionAnd(
				awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), d.IAMRegion())),
				awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_ACCOUNT_ID(), d.Hub.AccountID)),
			),
		})
	}
	// The forwarding rules of this stack instance (named: ForwardRuleName), whichever of them
	// this region holds; the role trusts EventBridge for them only (forwarderPrincipal).
	var ruleARNs []string
	for _, p := range MemberForwardPatterns(d) {
		if !memberForwards(d, p) {
			continue
		}
		ruleARNs = append(ruleARNs, *awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"+ForwardRuleName(d, p.ID)), nil))
	}
	fwd := awsiam.NewRole(stack, jsii.String("ForwarderRole"), &awsiam.RoleProps{
		AssumedBy:   forwarderPrincipal(*awscdk.Aws_ACCOUNT_ID(), ruleARNs),
		Description: jsii.String("ecr-warden: EventBridge puts this account's ECR events on the hub bus"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"PutEventsOnHubBus": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
			Statements: &[]awsiam.PolicyStatement{statement("PutEventsOnHubBus", []string{"events:PutEvents"}, buses...)},
		})},
	})
	fwd.Node().DefaultChild().(awsiam.CfnRole).CfnOptions().SetCondition(notHub)
	var created awsevents.CfnRule // forwards the execution role's CreateRole
	for _, p := range MemberForwardPatterns(d) {
		target, cond := hubBus, regional
		switch {
		case p.ToPrimary(d):
			target, cond = primaryBus, iamNotHub
		case !memberForwards(d, p):
			continue
		case p.USEast1Only:
			cond = onlyInNotHub(p.EventsRegion(d))
		}
		rule := awsevents.NewCfnRule(stack, jsii.String("Forward"+p.ID), &awsevents.CfnRuleProps{
			Name:         jsii.String(ForwardRuleName(d, p.ID)),
			Description:  jsii.String("ecr-warden: forward " + p.ID + " events to the hub bus"),
			EventPattern: p.Map(),
			State:        jsii.String("ENABLED"),
			Targets: &[]interface{}{&awsevents.CfnRule_TargetProperty{
				Id:      jsii.String("HubBus"),
				Arn:     target,
				RoleArn: fwd.RoleArn(),
			}},
		})
		rule.CfnOptions().SetCondition(cond)
		if p.ID == "IamRoleCreated" {
			created = rule
		}
	}
	if created != nil && d.RoleRegion() == d.IAMRegion() {
		roleCreationForwarded(stack, role, created, iamNotHub)
	}
}

// memberForwards says whether the member template forwards p at all: not the events of one region
// (ECR Public's us-east-1) when no hub region handles them (validation refuses publicRepositories
// then), unless they go to the primary region's bus (p.ToPrimary: IAM's).
func memberForwards(d *Declaration, p Pattern) bool {
	return p.ToPrimary(d) || !p.USEast1Only || slices.Contains(d.Hub.Regions, p.EventsRegion(d))
}

// roleCreationForwarded makes the execution role wait for the rule that forwards its CreateRole
// event (and so for that rule's target role, which the rule names), when both are in the same
// stack instance: the role region is IAM's events region (us-east-1 in aws), where IAM delivers
// its events (d.RoleRegion: the StackSet deploys there whenever members forward IAM events). The
// event then reaches the hub's drift function, which hands the member's units to the worker at once
// (shared/reconcile/rolecreated.go) instead of leaving them to the work queue's redelivery. The
// rule exists only outside the hub account, and the role everywhere in that region; a DependsOn
// on a resource whose condition is false fails the stack, so the role depends on a wait-condition
// handle (no resource in AWS) whose metadata names the rule only where the rule exists:
// CloudFormation resolves Fn::If before it orders resources.
func roleCreationForwarded(stack awscdk.Stack, role awsiam.Role, rule awsevents.CfnRule, ruleCond awscdk.CfnCondition) {
	gate := awscdk.NewCfnResource(stack, jsii.String("ExecutionRoleCreationForwarded"), &awscdk.CfnResourceProps{
		Type: jsii.String("AWS::CloudFormation::WaitConditionHandle"),
	})
	gate.AddMetadata(jsii.String("ForwardingRule"), awscdk.Fn_ConditionIf(ruleCond.LogicalId(), rule.Ref(), jsii.String("")))
	role.Node().DefaultChild().(awsiam.CfnRole).AddDependency(gate)
}

// regionID is region as a CloudFormation logical-id part: us-gov-west-1 is UsGovWest1.
func regionID(region string) string {
	var b strings.Builder
	for _, part := range strings.Split(region, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// BoundaryARN is the PTC role's permissions boundary in account (the member template's managed
// policy; the engine creates the role with it: desired.Role.PermissionsBoundary).
func BoundaryARN(d *Declaration, account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:policy/%s", d.Hub.Partition, account, d.PullThroughCache.Role.BoundaryName())
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// MemberStatements are the execution role's permissions: what the hub functions call inside a
// member through it. Registry-level ECR actions (registry policy, policy scope, pull-through-cache
// rules) and tag:GetResources do not support resource-level permissions; everything else names
// the account's repositories in the hub regions or the single PTC role.
//
// The registry policy and the repository policies are always converged: every member unit of a
// backfill or sweep converges the member's registry policy and every repository's policy
// (reconcile.Engine.Converge), and repository events of members arrive through the forwarding
// rules. Their write actions stay even when no grant targets members any more, because removing a
// grant from the declaration must remove its statements. Tag reads, PTC, the PTC role and ECR
// Public follow the declaration, as the engine's own conditions do.
func MemberStatements(d *Declaration) []awsiam.PolicyStatement {
	part := d.Hub.Partition
	account := *awscdk.Aws_ACCOUNT_ID()
	sw := SwitchesOf(d.Declaration)
	ptc := d.PullThroughCache != nil && (len(d.PullThroughCache.Rules) > 0 || len(d.PullThroughCache.RetiredPrefixes) > 0)
	memberPublic := false
	for _, g := range d.PublicRepositories {
		r := g.Registries
		memberPublic = memberPublic || r.AllMembers || len(r.OUs) > 0 || len(r.Accounts) > 0
	}
	var repos []string
	for _, region := range d.Hub.Regions {
		repos = append(repos, fmt.Sprintf("arn:%s:ecr:%s:%s:repository/*", part, region, account))
	}
	sorted := func(a ...[]string) []string {
		out := slices.Concat(a...)
		slices.Sort(out)
		return out
	}
	var out []awsiam.PolicyStatement
	out = append(out, statement("RegistryPolicy",
		[]string{"ecr:DeleteRegistryPolicy", "ecr:GetAccountSetting", "ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy"}, "*"))
	if s, ok := scopeSwitchStatement(sw.SwitchScope); ok {
		out = append(out, s)
	}
	out = append(out, statement("RepositoryPolicies", sorted(
		[]string{"ecr:DeleteRepositoryPolicy", "ecr:DescribeRepositories", "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy"},
		when(sw.ReadsTags, "ecr:ListTagsForResource")), repos...))
	if sw.MemberTagQueries {
		out = append(out, statement("FindTaggedRepositories", []string{"tag:GetResources"}, "*"))
	}
	if ptc {
		// ValidatePullThroughCacheRule checks every rule ecr-warden creates or updates
		// (reconcile.validateRules): AWS does not document whether the pull-through-cache service
		// sends aws:SourceAccount, which the PTC role's trust requires by default.
		out = append(out, statement("PullThroughCacheRules", []string{
			"ecr:CreatePullThroughCacheRule", "ecr:DeletePullThroughCacheRule", "ecr:DescribePullThroughCacheRules", "ecr:UpdatePullThroughCacheRule",
			"ecr:ValidatePullThroughCacheRule",
		}, "*"))
		// ECR creates its pull-through-cache service-linked role with the first rule, as the caller.
		slr := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("PullThroughCacheServiceLinkedRole"),
			Effect:  awsiam.Effect_ALLOW,
			Actions: jsii.Strings("iam:CreateServiceLinkedRole"),
			Resources: jsii.Strings(fmt.Sprintf("arn:%s:iam::%s:role/aws-service-role/%s/AWSServiceRoleForECRPullThroughCache",
				part, account, desired.PTCServicePrincipal)),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"iam:AWSServiceName": desired.PTCServicePrincipal},
			},
		})
		out = append(out, slr)
	}
	if secrets := d.CredentialSecrets(); len(secrets) > 0 && ptc {
		// The full ARN of a rule's credential secret (with its random suffix) is read by name
		// (reconcile.resolveCredentials); DescribeSecret reads metadata, never the value.
		var arns []string
		for _, region := range d.Hub.Regions {
			arns = append(arns, fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:ecr-pullthroughcache/*", part, region, account))
		}
		out = append(out, statement("ReadPullThroughCacheSecretArns", []string{"secretsmanager:DescribeSecret"}, arns...))
	}
	if roles := d.DeclaredRoles(); len(roles) > 0 {
		// Before writing a document, the engine checks that the roles it names exist
		// (reconcile.principalState): a missing one would make AWS refuse the whole document.
		var arns []string
		for _, r := range roles {
			arns = append(arns, fmt.Sprintf("arn:%s:iam::%s:role/%s", part, account, r.PathName))
		}
		slices.Sort(arns)
		out = append(out, statement("CheckDeclaredRolesExist", []string{"iam:GetRole"}, slices.Compact(arns)...))
	}
	if d.HasFromHubRules() {
		ptcRole := RoleARN(part, account, d.PullThroughCache.Role.Name)
		out = append(out, statement("ReadPullThroughCacheRole", []string{"iam:GetRole", "iam:GetRolePolicy"}, ptcRole))
		// Every change to the PTC role requires its permissions boundary (iam:PermissionsBoundary:
		// the one set by CreateRole or PutRolePermissionsBoundary, and the role's own for the
		// others), so whoever controls this role cannot make the PTC role more than a PTC role.
		// Attaching managed policies and removing the boundary are not allowed at all.
		out = append(out, conditioned("PullThroughCacheRole", []string{
			"iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy",
		}, "iam:PermissionsBoundary", BoundaryARN(d, account), ptcRole))
		// customRoleArn on an ECR-to-ECR rule hands the role to ECR: iam:PassRole on that role only,
		// with no iam:PassedToService condition, because AWS documents neither that the rule calls
		// check PassRole nor for which service (README "Unverified"): a wrong service name would
		// refuse every fromHub rule. The role passed is the boundary-capped PTC role.
		out = append(out, statement("PassPullThroughCacheRole", []string{"iam:PassRole"}, ptcRole))
	}
	// Registry-level ECR actions and tag:GetResources (Resource "*") in the hub regions only: the
	// engine converges members there and nowhere else.
	inHubRegions(out, d.Hub.Regions)
	if memberPublic {
		// Only events reach member public repositories (engine.PublicRepository: read, then set or
		// delete one policy); a whole-registry listing happens in the hub only. DescribeRepositories
		// names one repository: whether an event's repository was deleted since (reconcile.confirmGone).
		out = append(out, statement("PublicRepositoryPolicies", []string{
			"ecr-public:DeleteRepositoryPolicy", "ecr-public:DescribeRepositories", "ecr-public:GetRepositoryPolicy", "ecr-public:SetRepositoryPolicy",
		}, fmt.Sprintf("arn:%s:ecr-public::%s:repository/*", part, account)))
	}
	return out
}
