package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
)

// CloudTrail detail-types. Repositories that ECR creates itself (pull-through cache, replication,
// create-on-push) arrive as service events, so creation rules match both.
const (
	DetailAPICall      = "AWS API Call via CloudTrail"
	DetailServiceEvent = "AWS Service Event via CloudTrail"
)

// Pattern is one event pattern the hub routes to a function. Every pattern also requires that
// detail.errorCode does not exist: a failed call (AccessDenied, RepositoryAlreadyExists) changed
// nothing, so it must not wake a function.
type Pattern struct {
	// ID names the rule (construct id and rule-name suffix).
	ID          string
	Source      string
	DetailTypes []string
	EventNames  []string
	// RoleNames, when set, restricts IAM events to these roles (detail.requestParameters.roleName).
	RoleNames []string
	// Function handles matching events.
	Function string
	// USEast1Only marks events that exist only in us-east-1 (ECR Public, IAM).
	USEast1Only bool
}

// EventPattern renders p for EventBridge.
func (p Pattern) EventPattern() *awsevents.EventPattern {
	detail := map[string]interface{}{
		"eventName": jsii.Strings(p.EventNames...),
		"errorCode": []interface{}{map[string]interface{}{"exists": false}},
	}
	if len(p.RoleNames) > 0 {
		detail["requestParameters"] = map[string]interface{}{"roleName": jsii.Strings(p.RoleNames...)}
	}
	return &awsevents.EventPattern{
		Source:     jsii.Strings(p.Source),
		DetailType: jsii.Strings(p.DetailTypes...),
		Detail:     &detail,
	}
}

// Map renders p as the raw JSON pattern, for L1 rules (the member template).
func (p Pattern) Map() map[string]interface{} {
	detail := map[string]interface{}{
		"eventName": p.EventNames,
		"errorCode": []interface{}{map[string]interface{}{"exists": false}},
	}
	if len(p.RoleNames) > 0 {
		detail["requestParameters"] = map[string]interface{}{"roleName": p.RoleNames}
	}
	return map[string]interface{}{"source": []string{p.Source}, "detail-type": p.DetailTypes, "detail": detail}
}

// Event names, by the function that handles them.
var (
	repositoryCreation = []string{"CreateRepository"}
	organizationEvents = []string{"CreateAccountResult", "AccountJoinedOrganization", "AccountDepartedOrganization",
		"MoveAccount", "RemoveAccountFromOrganization"}
	controlTowerEvents = []string{"CreateManagedAccount", "UpdateManagedAccount"}
	ecrDriftEvents     = []string{"SetRepositoryPolicy", "DeleteRepositoryPolicy", "PutRegistryPolicy",
		"DeleteRegistryPolicy", "DeletePullThroughCacheRule"}
	ecrPublicDriftEvents = []string{"SetRepositoryPolicy", "DeleteRepositoryPolicy"}
	iamDriftEvents       = []string{"UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy"}
)

// OrganizationsPattern matches account lifecycle events of AWS Organizations (management account,
// us-east-1 only).
func OrganizationsPattern() Pattern {
	return Pattern{ID: "OrganizationsAccount", Source: "aws.organizations",
		DetailTypes: []string{DetailAPICall, DetailServiceEvent}, EventNames: organizationEvents, Function: FnAccount}
}

// ControlTowerPattern matches Control Tower account vending (Control Tower home region only).
func ControlTowerPattern() Pattern {
	return Pattern{ID: "ControlTowerAccount", Source: "aws.controltower",
		DetailTypes: []string{DetailAPICall, DetailServiceEvent}, EventNames: controlTowerEvents, Function: FnAccount}
}

// HubPatterns are the rules of the hub (on its custom bus and on its default bus alike).
func HubPatterns(d *Declaration) []Pattern {
	ps := []Pattern{
		{ID: "CreateRepository", Source: "aws.ecr", DetailTypes: []string{DetailAPICall, DetailServiceEvent},
			EventNames: repositoryCreation, Function: FnRepository},
		{ID: "CreatePublicRepository", Source: "aws.ecr-public", DetailTypes: []string{DetailAPICall},
			EventNames: repositoryCreation, Function: FnRepository, USEast1Only: true},
		OrganizationsPattern(),
		ControlTowerPattern(),
		{ID: "EcrPolicyDrift", Source: "aws.ecr", DetailTypes: []string{DetailAPICall},
			EventNames: ecrDriftEvents, Function: FnDrift},
		{ID: "EcrPublicPolicyDrift", Source: "aws.ecr-public", DetailTypes: []string{DetailAPICall},
			EventNames: ecrPublicDriftEvents, Function: FnDrift, USEast1Only: true},
	}
	if p := iamDriftPattern(d); p != nil {
		ps = append(ps, *p)
	}
	return ps
}

// iamDriftPattern matches hand edits of the member PTC role, the only IAM resource ecr-warden
// owns; nil when the declaration needs no PTC role.
func iamDriftPattern(d *Declaration) *Pattern {
	if !d.HasFromHubRules() {
		return nil
	}
	return &Pattern{ID: "IamRoleDrift", Source: "aws.iam", DetailTypes: []string{DetailAPICall},
		EventNames: iamDriftEvents, RoleNames: []string{d.PullThroughCache.Role.Name}, Function: FnDrift, USEast1Only: true}
}

// MemberForwardPatterns are what a member forwards to the hub bus: repository creation and drift
// of the ECR, ECR Public and IAM resources ecr-warden converges there.
func MemberForwardPatterns(d *Declaration) []Pattern {
	ps := []Pattern{
		{ID: "Ecr", Source: "aws.ecr", DetailTypes: []string{DetailAPICall, DetailServiceEvent},
			EventNames: append(append([]string{}, repositoryCreation...), ecrDriftEvents...)},
		{ID: "EcrPublic", Source: "aws.ecr-public", DetailTypes: []string{DetailAPICall},
			EventNames: append(append([]string{}, repositoryCreation...), ecrPublicDriftEvents...), USEast1Only: true},
	}
	if p := iamDriftPattern(d); p != nil {
		p.ID = "Iam"
		p.Function = ""
		ps = append(ps, *p)
	}
	return ps
}
