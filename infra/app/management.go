package app

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Management is a stack in the management account: Organizations events exist only in its
// partition's Organizations region (Declaration.ManagementRegion: us-east-1 in aws), Control Tower
// events only in the Control Tower home region, so each of those regions gets one, forwarding to
// the hub bus. The Organizations region's stack also holds the organization reader.
type Management struct {
	awscdk.Stack
	Forwarding *Forwarding
	Reader     awsiam.Role
}

// NewManagement composes the management stack for region; organizations and controlTower say
// which event sources this region forwards.
func NewManagement(scope constructs.Construct, id string, d *Declaration, region string, organizations, controlTower bool) *Management {
	stack := awscdk.NewStack(scope, &id, &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(d.Hub.ManagementAccountID), Region: jsii.String(region)},
		Description: jsii.String("ecr-warden management account (" + region + "): forwards account events to the hub, organization reader"),
	})
	m := &Management{Stack: stack}
	var patterns []Pattern
	if organizations {
		patterns = append(patterns, OrganizationsPattern(d))
	}
	if controlTower {
		patterns = append(patterns, ControlTowerPattern(d))
	}
	m.Forwarding = NewForwarding(stack, "Forwarding", d, region, patterns)
	if region == d.ManagementRegion() && !d.IsHubAlsoManagement() {
		m.Reader = NewOrganizationReader(stack, "OrganizationReader", d)
	}
	return m
}

// Forwarding sends the matching events of this account's default bus to the hub bus of every hub
// region, through a role (cross-account bus targets with a role are what EventBridge recommends).
type Forwarding struct {
	constructs.Construct
	Role  awsiam.Role
	Rules []awsevents.Rule
}

// NewForwarding creates the role and one rule per pattern.
func NewForwarding(scope constructs.Construct, id string, d *Declaration, region string, patterns []Pattern) *Forwarding {
	c := constructs.NewConstruct(scope, &id)
	var buses []string
	for _, r := range d.Hub.Regions {
		// When the hub is the management account, its own default-bus rules already see these.
		if d.IsHubAlsoManagement() && r == region {
			continue
		}
		buses = append(buses, d.Names.BusARN(d.Hub.Partition, r, d.Hub.AccountID))
	}
	f := &Forwarding{Construct: c}
	if len(buses) == 0 || len(patterns) == 0 {
		return f
	}
	var rules []string
	for _, p := range patterns {
		rules = append(rules, fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", d.Hub.Partition, region, d.Hub.ManagementAccountID, ForwardRuleName(d, p.ID)))
	}
	f.Role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   forwarderPrincipal(d.Hub.ManagementAccountID, rules),
		Description: jsii.String("ecr-warden: EventBridge puts forwarded events on the hub bus (the targets grant events:PutEvents on each bus)"),
	})
	for _, p := range patterns {
		rule := awsevents.NewRule(c, jsii.String(p.ID), &awsevents.RuleProps{
			RuleName:     jsii.String(ForwardRuleName(d, p.ID)),
			Description:  jsii.String("ecr-warden: forward " + p.ID + " events to the hub bus"),
			EventPattern: p.EventPattern(),
		})
		for i, arn := range buses {
			bus := awsevents.EventBus_FromEventBusArn(c, jsii.String(fmt.Sprintf("%sHubBus%d", p.ID, i)), jsii.String(arn))
			rule.AddTarget(awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{Role: f.Role}))
		}
		f.Rules = append(f.Rules, rule)
	}
	return f
}

// ForwardRuleName is the name of the rule that forwards the events of the route id to the hub bus,
// in the management account and in members alike. The rules are named so that their role can
// trust exactly them (forwarderPrincipal).
func ForwardRuleName(d *Declaration, id string) string { return d.Names.Resource("forward-" + id) }

// forwarderPrincipal is EventBridge acting for the given rules of account only: the role a
// forwarding rule's targets use trusts events.amazonaws.com with aws:SourceArn (for event bus rule
// targets, the rule's ARN) and aws:SourceAccount, as EventBridge's "Cross-service confused deputy
// prevention" page recommends. Without them any rule of the account could put events with this
// role, one made by anyone allowed events:PutRule, events:PutTargets and iam:PassRole on it (a
// broad identity policy), and the hub bus would take them as this installation's forwarding.
func forwarderPrincipal(account string, ruleARNs []string) awsiam.IPrincipal {
	return awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil).WithConditions(&map[string]interface{}{
		"StringEquals": map[string]interface{}{"aws:SourceAccount": account},
		"ArnEquals":    map[string]interface{}{"aws:SourceArn": ruleARNs},
	})
}

// NewOrganizationReader creates the read-only role the hub functions assume to walk the
// organization. Only the hub function roles may assume it (aws:PrincipalArn), and each action is
// scoped to this organization's accounts, OUs and roots where Organizations allows it.
func NewOrganizationReader(scope constructs.Construct, id string, d *Declaration) awsiam.Role {
	var callers []string
	for _, region := range d.Hub.Regions {
		for _, fn := range FunctionNames {
			if FunctionAccess[fn].ReadOrganization {
				callers = append(callers, RoleARN(d.Hub.Partition, d.Hub.AccountID, d.Names.FunctionRole(fn, region)))
			}
		}
	}
	principal := awsiam.NewAccountPrincipal(jsii.String(d.Hub.AccountID)).WithConditions(&map[string]interface{}{
		"ArnEquals": map[string]interface{}{"aws:PrincipalArn": callers},
	})
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{},
	})
	for _, s := range organizationReadStatements(d.Hub.Partition, d.Hub.ManagementAccountID, d.Hub.OrganizationID) {
		doc.AddStatements(s)
	}
	return awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		RoleName:       jsii.String(d.Names.OrgReaderRole()),
		AssumedBy:      principal,
		Description:    jsii.String("ecr-warden: read-only view of the organization for the hub functions"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"ReadOrganization": doc},
	})
}
