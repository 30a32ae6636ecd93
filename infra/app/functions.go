package app

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/function"
)

// Environment variable names of the function runtime contract (contract.md): shared/function's,
// which the functions read, so the stack sets the names they read.
const (
	EnvDeclarationFile = function.DeclarationFile
	EnvAuditTable      = function.AuditTable
	EnvLeaseTable      = function.LeaseTable
	EnvWorkQueueURL    = function.WorkQueueURL
	EnvOrgRoleARN      = function.OrgRoleARN
	// EnvSelfRoleNames is the drift function's list of ecr-warden's own role names (comma
	// separated): writes made in their sessions are ecr-warden's and must not be re-converged.
	EnvSelfRoleNames = function.SelfRoleNames
	// DeclarationInTaskRoot is where the asset's declaration.json lands in the Lambda sandbox.
	DeclarationInTaskRoot = "/var/task/declaration.json"
)

// Asynchronous invocation settings: Lambda retries a failed event twice, then sends it to the
// failed-events queue; events older than MaxEventAgeHours are given up (the sweep repairs them).
const (
	AsyncRetryAttempts = 2
	MaxEventAgeHours   = 6
	LogRetention       = awslogs.RetentionDays_THREE_MONTHS
)

// functionSpec sizes one function. Timeouts follow the work: one resource is quick; an account, a
// plan of the whole organization or one account+region reconcile may take minutes.
type functionSpec struct {
	timeoutSeconds float64
	memoryMB       float64
	description    string
}

var functionSpecs = map[string]functionSpec{
	FnRepository: {120, 256, "ecr-warden: converge a repository's policy when it is created"},
	FnAccount:    {300, 256, "ecr-warden: converge an account that joins, moves or leaves the organization"},
	FnBackfill:   {900, 512, "ecr-warden: plan or fan out a backfill; the scheduled sweep"},
	FnWorker:     {WorkerTimeoutSeconds, 512, "ecr-warden: converge one account and region from the work queue"},
	FnDrift:      {120, 256, "ecr-warden: re-converge a policy, rule or role edited by hand"},
}

// FunctionEnv lists the WARDEN_ variables each function reads (its main.go's function.Spec Env), and
// only those: the backfill, the account function (a moved account's repositories) and drift (the registries a
// created role's repository grants name) queue work, the worker sends on the rest of a unit that
// stopped before its deadline (a registry too large for one try), and the worker reads the organization only for a unit
// whose accounts are older than reconcile.WorkFreshFor (a retried or redriven message). The backfill gets the lease table although a dry run takes no lease,
// because its setup builds the lease client and refuses an empty name.
var FunctionEnv = map[string][]string{
	FnRepository: {EnvDeclarationFile, EnvAuditTable, EnvLeaseTable, EnvOrgRoleARN},
	FnAccount:    {EnvDeclarationFile, EnvAuditTable, EnvLeaseTable, EnvOrgRoleARN, EnvWorkQueueURL},
	FnBackfill:   {EnvDeclarationFile, EnvAuditTable, EnvLeaseTable, EnvWorkQueueURL, EnvOrgRoleARN},
	FnWorker:     {EnvDeclarationFile, EnvAuditTable, EnvLeaseTable, EnvOrgRoleARN, EnvWorkQueueURL},
	FnDrift:      {EnvDeclarationFile, EnvAuditTable, EnvLeaseTable, EnvOrgRoleARN, EnvSelfRoleNames, EnvWorkQueueURL},
}

// SelfRoleNames is WARDEN_SELF_ROLE_NAMES: the role name of every hub function in every hub region,
// in the format functions/drift parses (names, comma separated). Any of them may write in the hub
// (a primary-region worker converges every region), so drift must recognise all of them; the
// member execution role drift adds itself from the declaration.
func SelfRoleNames(d *Declaration) string {
	var names []string
	for _, region := range d.Hub.Regions {
		for _, fn := range FunctionNames {
			names = append(names, d.Names.FunctionRole(fn, region))
		}
	}
	return strings.Join(names, ",")
}

// FunctionsProps wires the functions to the state and queues they use.
type FunctionsProps struct {
	Decl      *Declaration
	AssetRoot string
	State     *State
	Queues    *Queues
	// Architecture the functions run on: arm64, or the host's in the local rehearsal.
	Architecture awslambda.Architecture
}

// Functions are the five hub functions, each with its own named role, log group and permissions.
type Functions struct {
	constructs.Construct
	ByName    map[string]awslambda.Function
	Roles     map[string]awsiam.Role
	LogGroups map[string]awslogs.LogGroup
}

// NewFunctions creates the functions from the prebuilt assets (<assetRoot>/<fn>/bootstrap and the
// declaration.json next to it).
func NewFunctions(scope constructs.Construct, id string, p FunctionsProps) *Functions {
	c := constructs.NewConstruct(scope, &id)
	stack := awscdk.Stack_Of(c)
	region := *stack.Region()
	d := p.Decl
	f := &Functions{Construct: c, ByName: map[string]awslambda.Function{}, Roles: map[string]awsiam.Role{},
		LogGroups: map[string]awslogs.LogGroup{}}
	values := map[string]*string{
		EnvDeclarationFile: jsii.String(DeclarationInTaskRoot),
		EnvAuditTable:      p.State.Audit.TableName(),
		EnvLeaseTable:      p.State.Lease.TableName(),
		EnvWorkQueueURL:    p.Queues.Work.QueueUrl(),
		EnvOrgRoleARN:      jsii.String(d.OrgRoleARN()),
		EnvSelfRoleNames:   jsii.String(SelfRoleNames(d)),
	}
	switches := SwitchesOf(d.Declaration)
	for _, fn := range FunctionNames {
		spec := functionSpecs[fn]
		logGroup := awslogs.NewLogGroup(c, jsii.String(fn+"Logs"), &awslogs.LogGroupProps{
			LogGroupName:  jsii.String(d.Names.LogGroup(fn)),
			Retention:     LogRetention,
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		role := awsiam.NewRole(c, jsii.String(fn+"Role"), &awsiam.RoleProps{
			RoleName:    jsii.String(d.Names.FunctionRole(fn, region)),
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("ecr-warden " + fn + " function; trusted by name in member and management roles"),
		})
		res := resources{
			partition: d.Hub.Partition, region: region, hub: d.Hub.AccountID, hubRegions: d.Hub.Regions,
			memberRoleName: d.MemberRoleName, orgRoleARN: d.OrgRoleARN(),
			auditTable: p.State.Audit.TableArn(), leaseTable: p.State.Lease.TableArn(), otherLeaseTables: otherLeaseTables(d, region),
			workQueue: p.Queues.Work.QueueArn(), failedEvents: p.Queues.FailedEvents.QueueArn(), logGroup: logGroup.LogGroupArn(),
			managementAccount: d.Hub.ManagementAccountID, organizationID: d.Hub.OrganizationID,
			switches: switches, hubRoles: HubRoleARNs(d.Declaration),
			functionARN: FunctionARN(d, region, fn),
		}
		for _, s := range FunctionAccess[fn].statements(res) {
			role.AddToPolicy(s)
		}
		env := map[string]*string{}
		for _, k := range FunctionEnv[fn] {
			env[k] = values[k]
		}
		props := &awslambda.FunctionProps{
			FunctionName: jsii.String(d.Names.Function(fn)),
			Description:  jsii.String(spec.description),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.AssetRoot, fn)), nil),
			Handler:      jsii.String("bootstrap"),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: p.Architecture,
			MemorySize:   jsii.Number(spec.memoryMB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(spec.timeoutSeconds)),
			Environment:  &env,
			Role:         role,
			LogGroup:     logGroup,
			// functions.reservedConcurrency of the declaration: an event flood (one member
			// creating repositories by the thousand, events put on the hub bus) is throttled
			// here, and retried by Lambda, instead of taking the account's whole concurrency.
			ReservedConcurrentExecutions: jsii.Number(d.Functions.ReservedConcurrency.Of(fn)),
		}
		deliver := FunctionAccess[fn].DeliverFailures // not the worker: SQS feeds it, its redrive policy is its failure path
		if deliver {
			props.RetryAttempts = jsii.Number(AsyncRetryAttempts)
			props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(MaxEventAgeHours))
		}
		fun := awslambda.NewFunction(c, jsii.String(fn), props)
		if deliver {
			onFailureToQueue(fun, p.Queues.FailedEvents)
		}
		if fn == FnWorker {
			// A plain event source mapping, not SqsEventSource: that one grants the role
			// ChangeMessageVisibility and GetQueueUrl too; the ConsumeWork statement holds exactly
			// what Lambda's poller calls.
			fun.AddEventSourceMapping(jsii.String("WorkQueue"), &awslambda.EventSourceMappingOptions{
				EventSourceArn:          p.Queues.Work.QueueArn(),
				BatchSize:               jsii.Number(1),
				ReportBatchItemFailures: jsii.Bool(true),
				// Bounded concurrency keeps Organizations and IAM within their rate limits; the
				// poller never runs more workers than the function's reserved concurrency, so
				// none of its invocations is throttled.
				MaxConcurrency: jsii.Number(d.Functions.ReservedConcurrency.Of(FnWorker)),
			})
		}
		f.ByName[fn] = fun
		f.Roles[fn] = role
		f.LogGroups[fn] = logGroup
	}
	return f
}

// onFailureToQueue makes queue the on-failure destination of fun's asynchronous invocations, in the
// invoke config CDK made for its retry settings (same logical id as before). CDK's SqsDestination
// would grant the role sqs:GetQueueAttributes and sqs:GetQueueUrl besides sqs:SendMessage; the role
// holds sqs:SendMessage alone (the DeliverFailedInvocations statement), which is what the Lambda
// developer guide lists for an Amazon SQS destination.
func onFailureToQueue(fun awslambda.Function, queue awssqs.IQueue) {
	cfg := fun.Node().FindChild(jsii.String("EventInvokeConfig")).Node().DefaultChild().(awslambda.CfnEventInvokeConfig)
	cfg.SetDestinationConfig(&awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
		OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: queue.QueueArn()},
	})
}

// FunctionARN is the ARN of the hub function fn in region (its name is d.Names.Function).
func FunctionARN(d *Declaration, region, fn string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", d.Hub.Partition, region, d.Hub.AccountID, d.Names.Function(fn))
}

// otherLeaseTables are the ARNs of the lease tables of the hub regions other than region (each
// hub region's stack has one, under the same name).
func otherLeaseTables(d *Declaration, region string) []string {
	var out []string
	for _, r := range d.Hub.Regions {
		if r != region {
			out = append(out, tableARN(d, r, "lease"))
		}
	}
	return out
}
