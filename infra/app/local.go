package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The `local` context switch (make deploy-local) synthesizes the same stacks for the deploy
// rehearsal on the local AWS, replacing only what the emulator cannot run:
//
//   - the deploy-time backfill's custom resource is left out: its provider is a Lambda function
//     the emulator would have to run in a container. The rehearsal invokes the backfill with the
//     same payload (DeployBackfillPayload) after the hub stack exists, as the custom resource would;
//   - the hub bus is named, not referenced, in its rules and its policy: the emulator resolves a
//     Ref to an AWS::Events::EventBus to an object its rules cannot use. Each of them depends on
//     the bus, so the order CloudFormation creates them in is unchanged;
//   - the functions are built for and declared with this host's architecture, because the
//     rehearsal runs the deployed bootstrap itself (the bytes in the uploaded asset) on this host;
//   - the dashboard is left out: its alarm-status widget reads the alarms' ARNs (Fn::GetAtt), and
//     the emulator skips AWS::CloudWatch::Alarm, so that reference cannot resolve there.
//
// Everything else (names, roles and their policies, environment, tables, queues, rules) is what
// `cdk deploy` ships. Local is never meant for AWS: an x86-64 function would run there, but
// without the deploy-time backfill.

// machine is the ELF machine the function assets must be built for.
func (o Options) machine() Machine {
	if o.Local {
		return HostMachine()
	}
	return MachineAArch64
}

// architecture is the Lambda architecture the functions are declared with.
func (o Options) architecture() awslambda.Architecture {
	if o.Local && HostMachine() == MachineX8664 {
		return awslambda.Architecture_X86_64()
	}
	return awslambda.Architecture_ARM_64()
}

// localize names the bus literally where the hub stack references it, and leaves the dashboard out.
func localize(h *Hub, d *Declaration) {
	h.Observability.Node().TryRemoveChild(jsii.String("Dashboard"))
	bus := h.Routing.Bus
	busDefault := bus.Node().DefaultChild()
	for key, rule := range h.Routing.Rules {
		if len(key) < 7 || key[:7] != "custom/" {
			continue
		}
		cfn := rule.Node().DefaultChild().(awsevents.CfnRule)
		cfn.SetEventBusName(jsii.String(d.Names.Bus()))
		cfn.Node().AddDependency(busDefault)
	}
	for _, c := range *bus.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if !*awscdk.CfnResource_IsCfnResource(c) {
			continue
		}
		if r := c.(awscdk.CfnResource); *r.CfnResourceType() == "AWS::Events::EventBusPolicy" {
			r.AddPropertyOverride(jsii.String("EventBusName"), d.Names.Bus())
			r.Node().AddDependency(busDefault)
		}
	}
}
