package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DeployBackfillPayload is what the deploy-time custom resource sends to the backfill function: a
// real run over every target that first plans and applies nothing if the plan refuses a document
// (requireCleanPlan), unless the app was told allowRefusals=true.
func DeployBackfillPayload(allowRefusals bool) string {
	if allowRefusals {
		return `{"action":"backfill","targets":{"all":true},"dryRun":false}`
	}
	return `{"action":"backfill","targets":{"all":true},"dryRun":false,"requireCleanPlan":true}`
}

// DeployBackfill makes a deploy that changes the declaration bring AWS in line with it: a custom
// resource invokes the backfill function (asynchronously, so a long fan-out never holds the
// deployment) on create and on every update. The declaration's SHA-256 is part of the physical
// resource id, which is part of the resource's properties, so any change to the declaration is an
// update and runs the backfill again; an unchanged declaration runs nothing.
type DeployBackfill struct {
	constructs.Construct
	Resource customresources.AwsCustomResource
}

// NewDeployBackfill creates the custom resource after everything the backfill needs.
func NewDeployBackfill(scope constructs.Construct, id string, d *Declaration, fns *Functions, allowRefusals bool, after ...constructs.IDependable) *DeployBackfill {
	c := constructs.NewConstruct(scope, &id)
	backfill := fns.ByName[FnBackfill]
	call := &customresources.AwsSdkCall{
		Service: jsii.String("Lambda"),
		Action:  jsii.String("invoke"),
		Parameters: map[string]interface{}{
			"FunctionName":   backfill.FunctionName(),
			"InvocationType": "Event",
			"Payload":        DeployBackfillPayload(allowRefusals),
		},
		PhysicalResourceId: customresources.PhysicalResourceId_Of(jsii.String("backfill-" + d.SHA256)),
	}
	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// The provider function's own role: it writes its own log group and (the policy below) invokes
	// the backfill, nothing else. CDK's default role carries AWSLambdaBasicExecutionRole, which
	// allows logs:CreateLogGroup, CreateLogStream and PutLogEvents on every log group: a hub principal
	// allowed to pass that role to a function of its own could write into the ecr-warden functions'
	// log groups (whose EMF lines are the decision metrics the alarms watch).
	role := awsiam.NewRole(c, jsii.String("InvokeRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("ecr-warden: the deploy's custom resource invokes the backfill function"),
	})
	role.AddToPolicy(statement("Logs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, *logs.LogGroupArn()))
	cr := customresources.NewAwsCustomResource(c, jsii.String("Invoke"), &customresources.AwsCustomResourceProps{
		Role:                role,
		OnCreate:            call,
		OnUpdate:            call,
		InstallLatestAwsSdk: jsii.Bool(false),
		LogGroup:            logs,
		Timeout:             awscdk.Duration_Minutes(jsii.Number(2)),
		Policy: customresources.AwsCustomResourcePolicy_FromStatements(&[]awsiam.PolicyStatement{
			statement("InvokeBackfill", []string{"lambda:InvokeFunction"}, *backfill.FunctionArn()),
		}),
	})
	cr.Node().AddDependency(fns.Construct)
	for _, a := range after {
		cr.Node().AddDependency(a)
	}
	return &DeployBackfill{Construct: c, Resource: cr}
}
