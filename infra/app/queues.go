package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Queue settings. The worker's visibility timeout is six times its function timeout (the AWS
// guidance for SQS event sources), and a target is dead-lettered after five failed receives.
const (
	WorkerTimeoutSeconds = 600
	// WorkVisibilitySeconds is the work queue's visibility timeout: a failed unit is retried this
	// long after its receive, an hour, more than reconcile.WorkFreshFor, so a retry reads the
	// organization again.
	WorkVisibilitySeconds = 6 * WorkerTimeoutSeconds
	WorkMaxReceiveCount   = 5
)

// Queues holds the backfill fan-out queue and the two dead-letter queues.
//
// The work queue is a standard queue, not FIFO: the DynamoDB lease already serialises writers per
// policy document, and every message names a whole account+region target that the worker
// converges level-triggered, so duplicates and reordering are harmless.
type Queues struct {
	constructs.Construct
	// Work carries one message per account+region target from backfill to worker.
	Work awssqs.Queue
	// WorkDeadLetters receives work messages that failed WorkMaxReceiveCount times.
	WorkDeadLetters awssqs.Queue
	// FailedEvents receives events that never reached or never succeeded in a function: EventBridge
	// target failures and Lambda on-failure destinations of asynchronous invocations.
	FailedEvents awssqs.Queue
}

// NewQueues creates the queues of region's hub stack, all with SQS-managed encryption and TLS
// enforced, and the work queue open to ecr-warden's own functions only (workQueueGuard).
func NewQueues(scope constructs.Construct, id string, d *Declaration, region string) *Queues {
	n := d.Names
	c := constructs.NewConstruct(scope, &id)
	retention := awscdk.Duration_Days(jsii.Number(14))
	dlq := func(id, name string) awssqs.Queue {
		return awssqs.NewQueue(c, jsii.String(id), &awssqs.QueueProps{
			QueueName:       jsii.String(name),
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
			RetentionPeriod: retention,
		})
	}
	workDLQ := dlq("WorkDeadLetters", n.Resource("work-dlq"))
	failed := dlq("FailedEvents", n.Resource("failed-events"))
	work := awssqs.NewQueue(c, jsii.String("Work"), &awssqs.QueueProps{
		QueueName:         jsii.String(n.Resource("work")),
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(WorkVisibilitySeconds)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(4)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: workDLQ, MaxReceiveCount: jsii.Number(WorkMaxReceiveCount)},
	})
	for _, st := range workQueueGuard(d, region, *work.QueueArn()) {
		work.AddToResourcePolicy(st)
	}
	return &Queues{Construct: c, Work: work, WorkDeadLetters: workDLQ, FailedEvents: failed}
}

// Work queue actions, by who may call them: the senders (SendMessageBatch is authorized as
// SendMessage) and the consumer (Lambda's poller, with the worker's role; ChangeMessageVisibility is
// called by nobody of ecr-warden and so by nobody at all).
var (
	workSendActions    = []string{"sqs:SendMessage"}
	workConsumeActions = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}
)

// WorkQueueRoles are the ARNs of region's function roles whose Access uses the work queue as
// use says (FunctionAccess: SendWork for the senders, ConsumeWork for the worker).
func WorkQueueRoles(d *Declaration, region string, use func(Access) bool) []string {
	return functionRoles(d, []string{region}, use)
}

// workQueueGuard is the work queue's resource policy beyond TLS: nobody but the functions that
// send work may send, and nobody but the worker may receive or delete. The worker trusts a unit's
// contents, its organization view included (the accounts and OU paths enumerating grants and the
// hub's upstream grant list), for reconcile.WorkFreshFor; so any principal of the hub account
// allowed sqs:SendMessage by its own identity policy (sqs:* on *, common for applications) could
// otherwise make the worker grant an account outside the organization pull access to the hub, and
// one allowed ReceiveMessage/DeleteMessage could drop a unit that revokes a grant. An explicit Deny
// in the queue policy holds whatever the caller's identity policy allows.
//
// Purging drops every unit at once, the revoking ones with the rest, as a DeleteMessage of each
// would; nothing of ecr-warden purges, so nobody may (an operator who must empty the queue can still
// change its policy, which needs sqs:SetQueueAttributes, an administrator's permission).
func workQueueGuard(d *Declaration, region, queueARN string) []awsiam.PolicyStatement {
	return []awsiam.PolicyStatement{
		denyAllBut("OnlyEcrWardenSendsWork", queueARN, workSendActions, WorkQueueRoles(d, region, func(a Access) bool { return a.SendWork })),
		denyAllBut("OnlyTheWorkerConsumesWork", queueARN, workConsumeActions, WorkQueueRoles(d, region, func(a Access) bool { return a.ConsumeWork })),
		denyAllBut("NobodyPurgesWork", queueARN, []string{"sqs:PurgeQueue"}, nil),
	}
}
