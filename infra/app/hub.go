package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Hub is the stack of one hub region: functions, bus and rules, state, queues, sweep, alarms and
// the deploy-time backfill.
type Hub struct {
	awscdk.Stack
	State     *State
	Queues    *Queues
	Functions *Functions
	Routing   *EventRouting
	Sweep     *Sweep
	Alarms    *Alarms
	// Observability is the dashboard and the saved Logs Insights queries.
	Observability *Observability
	Backfill      *DeployBackfill
}

// NewHub composes the hub stack for region.
func NewHub(scope constructs.Construct, id string, d *Declaration, o Options, region string) *Hub {
	stack := awscdk.NewStack(scope, &id, &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(d.Hub.AccountID), Region: jsii.String(region)},
		Description: jsii.String("ecr-warden hub (" + region + "): functions, event routing, audit trail, sweep"),
	})
	h := &Hub{Stack: stack}
	h.State = NewState(stack, "State", d, region)
	h.Queues = NewQueues(stack, "Queues", d, region)
	h.Functions = NewFunctions(stack, "Functions", FunctionsProps{Decl: d, AssetRoot: o.AssetRoot, State: h.State, Queues: h.Queues, Architecture: o.architecture()})
	h.Routing = NewEventRouting(stack, "Routing", d, h.Functions, h.Queues.FailedEvents)
	h.Alarms = NewAlarms(stack, "Alarms", h.Functions, h.Queues, o.AlarmTopicARN, d.Names)
	h.Observability = NewObservability(stack, "Observability", h.Functions, h.Alarms, d.Names)
	// A backfill covers every declared region, so the sweep and the deploy-time backfill run from
	// the primary region only; the other regions' functions still serve their own events.
	if region == d.PrimaryRegion() {
		h.Sweep = NewSweep(stack, "Sweep", d, h.Functions, h.Queues.FailedEvents)
		if !o.Local {
			h.Backfill = NewDeployBackfill(stack, "DeployBackfill", d, h.Functions, o.AllowRefusals, h.State.Construct, h.Queues.Construct)
		}
	}
	if o.Local {
		localize(h, d)
	}
	return h
}
