package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Queue settings. The worker's visibility timeout is six times its function timeout (the AWS
// guidance for SQS event sources), and a target is dead-lettered after five failed receives.
const (
	WorkerTimeoutSeconds = 600
	WorkMaxReceiveCount  = 5
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

// NewQueues creates the queues, all with SQS-managed encryption and TLS enforced.
func NewQueues(scope constructs.Construct, id string, n Names) *Queues {
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
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * WorkerTimeoutSeconds)),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(4)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: workDLQ, MaxReceiveCount: jsii.Number(WorkMaxReceiveCount)},
	})
	return &Queues{Construct: c, Work: work, WorkDeadLetters: workDLQ, FailedEvents: failed}
}
