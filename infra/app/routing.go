package app

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Target delivery settings: EventBridge retries a failing function invocation this often within
// this age, then puts the event into the failed-events queue.
const (
	TargetRetryAttempts  = 8
	TargetMaxEventAgeHrs = 2
)

// EventRouting is the hub bus and the rules that route events to the functions.
//
// Rules exist twice: on the custom bus (events forwarded by members and the management account)
// and on the default bus (the hub's own CloudTrail events, which only reach the default bus).
type EventRouting struct {
	constructs.Construct
	Bus awsevents.EventBus
	// Rules maps "<bus>/<pattern id>" (bus "custom" or "default") to its rule.
	Rules map[string]awsevents.Rule
}

// NewEventRouting creates the bus (the organization may put the events it routes on it:
// BusPolicyStatements) and one rule per pattern and bus.
func NewEventRouting(scope constructs.Construct, id string, d *Declaration, fns *Functions, failed awssqs.IQueue) *EventRouting {
	c := constructs.NewConstruct(scope, &id)
	region := *awscdk.Stack_Of(c).Region()
	bus := awsevents.NewEventBus(c, jsii.String("Bus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(d.Names.Bus()),
		Description:  jsii.String("ecr-warden: events forwarded by member accounts and the management account"),
	})
	for _, st := range BusPolicyStatements(d, *bus.EventBusArn()) {
		bus.AddToResourcePolicy(st)
	}
	r := &EventRouting{Construct: c, Bus: bus, Rules: map[string]awsevents.Rule{}}
	for _, busKind := range []string{"custom", "default"} {
		var target awsevents.IEventBus
		if busKind == "custom" {
			target = bus
		}
		for _, p := range HubPatterns(d) {
			// Events of one region only (ECR Public, IAM) are carried where they arrive:
			// us-east-1 for ECR Public, IAM's events region of the partition (Pattern.EventsRegion),
			// or for IAM the primary region's custom bus when that region is not a hub region
			// (members forward them there; the hub's default bus there never sees one).
			if !p.InHubRegion(d, region) || busKind == "default" && p.ToPrimary(d) {
				continue
			}
			ruleID := busKind + p.ID
			rule := awsevents.NewRule(c, jsii.String(ruleID), &awsevents.RuleProps{
				RuleName:     jsii.String(d.Names.Resource(busKind + "-" + p.ID)),
				Description:  jsii.String(fmt.Sprintf("ecr-warden: %s events on the %s bus to the %s function", p.ID, busKind, p.Function)),
				EventBus:     target,
				EventPattern: p.EventPattern(),
			})
			rule.AddTarget(awseventstargets.NewLambdaFunction(fns.ByName[p.Function], &awseventstargets.LambdaFunctionProps{
				DeadLetterQueue: failed,
				RetryAttempts:   jsii.Number(TargetRetryAttempts),
				MaxEventAge:     awscdk.Duration_Hours(jsii.Number(TargetMaxEventAgeHrs)),
			}))
			r.Rules[busKind+"/"+p.ID] = rule
		}
	}
	return r
}

// BusPolicyStatements are the hub bus's resource policy: who may put events on it, and which. The
// organization's accounts may put the events of the routes registries forward (trigger.Routes with
// origin FromRegistries, as this declaration renders them: their sources and detail-types), and the
// management account those of the routes it forwards (Organizations, Control Tower). Nothing else
// is admitted: a member's principal allowed events:PutEvents cannot fill the bus (and the account
// function's concurrency) with custom events, nor put Organizations or Control Tower events on it
// at all. ForAllValues, as in EventBridge's own example, because one PutEvents call carries up to
// ten entries and every one must be admitted.
func BusPolicyStatements(d *Declaration, busARN string) []awsiam.PolicyStatement {
	admitted := func(ps []Pattern) map[string]interface{} {
		var sources, types []string
		for _, p := range ps {
			sources = append(sources, p.Source)
			types = append(types, p.DetailTypes...)
		}
		slices.Sort(sources)
		slices.Sort(types)
		return map[string]interface{}{"events:source": slices.Compact(sources), "events:detail-type": slices.Compact(types)}
	}
	put := func(sid string, principal awsiam.IPrincipal, conditions map[string]interface{}) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{principal},
			Actions:    jsii.Strings("events:PutEvents"),
			Resources:  jsii.Strings(busARN),
			Conditions: &conditions,
		})
	}
	return []awsiam.PolicyStatement{
		put("OrganizationMayForwardRegistryEvents", awsiam.NewAnyPrincipal(), map[string]interface{}{
			"StringEquals":              map[string]interface{}{"aws:PrincipalOrgID": d.Hub.OrganizationID},
			"ForAllValues:StringEquals": admitted(patterns(d, trigger.FromRegistries)),
		}),
		put("ManagementMayForwardAccountEvents", awsiam.NewAccountPrincipal(jsii.String(d.Hub.ManagementAccountID)), map[string]interface{}{
			"ForAllValues:StringEquals": admitted(patterns(d, trigger.FromManagement)),
		}),
	}
}

// Sweep is the schedule that runs the backfill over every target. The function receives the plain
// scheduled event (events/scheduled-sweep.json), which it treats as "sweep everything".
type Sweep struct {
	constructs.Construct
	Rule awsevents.Rule
}

// NewSweep schedules the sweep from declaration.sweep.schedule.
func NewSweep(scope constructs.Construct, id string, d *Declaration, fns *Functions, failed awssqs.IQueue) *Sweep {
	c := constructs.NewConstruct(scope, &id)
	rule := awsevents.NewRule(c, jsii.String("Schedule"), &awsevents.RuleProps{
		RuleName:    jsii.String(d.Names.SweepRule()),
		Description: jsii.String("ecr-warden: scheduled sweep of every account and region (declaration.sweep.schedule)"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(d.Sweep.Schedule)),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fns.ByName[FnBackfill], &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: failed,
		RetryAttempts:   jsii.Number(TargetRetryAttempts),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(TargetMaxEventAgeHrs)),
	}))
	return &Sweep{Construct: c, Rule: rule}
}
