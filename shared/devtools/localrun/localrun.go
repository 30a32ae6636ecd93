// Package localrun runs a backfill the way AWS would, on this machine: the
// real backfill binary queues its work units in the local AWS's SQS, and
// Drain plays the part of Lambda's SQS event source mapping, handing the
// queued messages to the real worker binary in SQS events and deleting what
// the worker did not report as a batch item failure. Messages that keep
// failing reach the dead-letter queue through the queue's redrive policy,
// as in AWS.
//
// The integration tests, `make bench` and the local `make backfill` share it,
// so all three exercise the fan-out path rather than an in-process shortcut.
// It also seeds an organization with OUs, accounts and repositories for them.
package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// Names of the local resources the functions are pointed at.
const (
	AuditTable = audit.DefaultTable
	LeaseTable = "ecr-warden-leases"
	WorkQueue  = "ecr-warden-work"
	DeadLetter = "ecr-warden-work-dlq"
)

// Env is what Prepare created: the environment the functions need.
type Env struct {
	QueueURL string
	QueueARN string
	DLQURL   string
}

// Vars is the function environment for Env (WARDEN_* names from the
// function runtime contract).
func (e Env) Vars() map[string]string {
	return map[string]string{
		"WARDEN_AUDIT_TABLE":     AuditTable,
		"WARDEN_LEASE_TABLE":     LeaseTable,
		"WARDEN_WORK_QUEUE_URL":  e.QueueURL,
		"AWS_ACCESS_KEY_ID":      "testing",
		"AWS_SECRET_ACCESS_KEY":  "testing",
		"WARDEN_SELF_ROLE_NAMES": "",
	}
}

// Prepare creates the audit and lease tables and the work queue with its
// dead-letter queue (redrive after maxReceive receives, as the CDK stack
// configures it). Existing resources are reused. The lease table is also
// created in each of regions (the declaration's other hub regions), where
// the functions take the leases of those regions' documents.
func Prepare(ctx context.Context, cfg aws.Config, maxReceive int, regions ...string) (Env, error) {
	db := dynamodb.NewFromConfig(cfg)
	if err := audit.CreateTable(ctx, db, AuditTable); err != nil {
		return Env{}, fmt.Errorf("creating the audit table: %w", err)
	}
	if err := lease.CreateTables(ctx, cfg, LeaseTable, regions); err != nil {
		return Env{}, fmt.Errorf("creating the lease table: %w", err)
	}
	q := sqs.NewFromConfig(cfg)
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(DeadLetter)})
	if err != nil {
		return Env{}, fmt.Errorf("creating queue %s: %w", DeadLetter, err)
	}
	dlqARN, err := queueARN(ctx, q, aws.ToString(dlq.QueueUrl))
	if err != nil {
		return Env{}, err
	}
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": strconv.Itoa(maxReceive)})
	work, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(WorkQueue), Attributes: map[string]string{
		"RedrivePolicy": string(redrive), "VisibilityTimeout": "900"}})
	if err != nil {
		return Env{}, fmt.Errorf("creating queue %s: %w", WorkQueue, err)
	}
	arn, err := queueARN(ctx, q, aws.ToString(work.QueueUrl))
	if err != nil {
		return Env{}, err
	}
	return Env{QueueURL: aws.ToString(work.QueueUrl), QueueARN: arn, DLQURL: aws.ToString(dlq.QueueUrl)}, nil
}

func queueARN(ctx context.Context, q *sqs.Client, url string) (string, error) {
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("reading the ARN of queue %s: %w", url, err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

// Invoker runs one event on a function: a lambdalocal.Instance or Pool.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdalocal.Result, error)
}

// Delivery is one SQS event handed to the worker and what came of it.
type Delivery struct {
	Messages []sqstypes.Message
	Result   lambdalocal.Result
	// Failed are the message ids the worker reported as batch item
	// failures (every message when the invocation itself failed).
	Failed []string
	// WholeBatch says why every message failed, when the response itself
	// made Lambda fail the whole batch ("" otherwise): see batchFailures.
	WholeBatch string
}

// batchFailures is which messages of a batch Lambda's event source mapping
// with ReportBatchItemFailures makes visible again after the worker's
// answer r, keyed by message id. A failed invocation fails them all. So,
// as the Lambda developer guide documents ("Lambda treats a batch as a
// complete failure if your function returns": invalid JSON, an empty or
// null itemIdentifier, one with a bad key name, or a message id that is
// not in the batch), does a response Lambda cannot read; why is then
// said in the second result. No response, "null", an empty or null
// batchItemFailures list is a complete success.
func batchFailures(msgs []sqstypes.Message, r lambdalocal.Result) (map[string]bool, string) {
	all := func(why string) (map[string]bool, string) {
		failed := map[string]bool{}
		for _, m := range msgs {
			failed[aws.ToString(m.MessageId)] = true
		}
		return failed, why
	}
	if r.Err != nil {
		return all("")
	}
	failed := map[string]bool{}
	if len(bytes.TrimSpace(r.Payload)) == 0 {
		return failed, ""
	}
	var resp struct {
		BatchItemFailures []map[string]any `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(r.Payload, &resp); err != nil {
		return all(fmt.Sprintf("the worker's response %q is not JSON Lambda reads: %v", r.Payload, err))
	}
	inBatch := map[string]bool{}
	for _, m := range msgs {
		inBatch[aws.ToString(m.MessageId)] = true
	}
	for _, f := range resp.BatchItemFailures {
		id, ok := f["itemIdentifier"].(string)
		if !ok || id == "" || !inBatch[id] {
			return all(fmt.Sprintf("the worker's batch item failure %v has no itemIdentifier naming a message of the batch", f))
		}
		failed[id] = true
	}
	return failed, ""
}

// DrainResult is what a Drain delivered.
type DrainResult struct {
	Deliveries []Delivery
	// Done counts messages the worker converged (deleted from the queue).
	Done int
	// Failures counts batch item failures over all deliveries (a message
	// failing on each of its receives counts each time).
	Failures int
	// DeadLettered is the number of messages in the dead-letter queue
	// afterwards; DeadLetters are their bodies.
	DeadLettered int
	DeadLetters  []string
}

// Drain delivers the queue's messages to the worker in SQS events of up to
// batchSize (at most 10) records, with up to parallel events in flight, until
// the queue is empty. It acts like Lambda's event source mapping with
// ReportBatchItemFailures: successes are deleted, failures are made visible
// again at once (the visibility timeout stands in for SQS's wait), so a unit
// that keeps failing is received again until the redrive policy moves it to
// the dead-letter queue. maxRounds bounds the receives, in case the queue has
// no redrive policy.
func Drain(ctx context.Context, client *sqs.Client, env Env, region string, worker Invoker, batchSize, parallel, maxRounds int) (DrainResult, error) {
	if batchSize < 1 || batchSize > 10 {
		batchSize = 10
	}
	if parallel < 1 {
		parallel = 1
	}
	var (
		res  DrainResult
		mu   sync.Mutex
		errs []error
	)
	for round := 0; round < maxRounds; round++ {
		var batches [][]sqstypes.Message
		for len(batches) < parallel {
			out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(env.QueueURL),
				MaxNumberOfMessages: int32(batchSize), VisibilityTimeout: 900,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
			if err != nil {
				return res, fmt.Errorf("receiving from %s: %w", env.QueueURL, err)
			}
			if len(out.Messages) == 0 {
				break
			}
			batches = append(batches, out.Messages)
		}
		if len(batches) == 0 {
			return res, finish(ctx, client, env, &res)
		}
		var wg sync.WaitGroup
		for _, msgs := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := deliver(ctx, client, env, region, worker, msgs)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				res.Deliveries = append(res.Deliveries, d)
				res.Done += len(msgs) - len(d.Failed)
				res.Failures += len(d.Failed)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
	}
	return res, fmt.Errorf("draining %s: still not empty after %d rounds (does the queue have a redrive policy?)", env.QueueURL, maxRounds)
}

// deliver hands one batch to the worker and settles its messages.
func deliver(ctx context.Context, client *sqs.Client, env Env, region string, worker Invoker, msgs []sqstypes.Message) (Delivery, error) {
	ev := Event(msgs, env.QueueARN, region)
	payload, err := json.Marshal(ev)
	if err != nil {
		return Delivery{}, err
	}
	r, err := worker.Invoke(ctx, payload)
	if err != nil {
		return Delivery{}, fmt.Errorf("invoking the worker: %w", err)
	}
	d := Delivery{Messages: msgs, Result: r}
	var failed map[string]bool
	failed, d.WholeBatch = batchFailures(msgs, r)
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		id := aws.ToString(m.MessageId)
		if failed[id] {
			d.Failed = append(d.Failed, id)
			if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(env.QueueURL),
				ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				return d, fmt.Errorf("releasing failed message %s: %w", id, err)
			}
			continue
		}
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	if len(del) > 0 {
		if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(env.QueueURL), Entries: del}); err != nil {
			return d, fmt.Errorf("deleting converged messages: %w", err)
		}
	}
	return d, nil
}

// finish counts (and keeps the bodies of) the dead-lettered messages
// without consuming them.
func finish(ctx context.Context, client *sqs.Client, env Env, res *DrainResult) error {
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(env.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 900})
		if err != nil {
			return fmt.Errorf("reading the dead-letter queue: %w", err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		for _, m := range out.Messages {
			res.DeadLettered++
			res.DeadLetters = append(res.DeadLetters, aws.ToString(m.Body))
		}
	}
}

// Event builds the SQS event Lambda's event source mapping would deliver.
func Event(msgs []sqstypes.Message, queueARN, region string) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:      aws.ToString(m.MessageId),
			ReceiptHandle:  aws.ToString(m.ReceiptHandle),
			Body:           aws.ToString(m.Body),
			Md5OfBody:      aws.ToString(m.MD5OfBody),
			Attributes:     m.Attributes,
			EventSource:    "aws:sqs",
			EventSourceARN: queueARN,
			AWSRegion:      region,
		})
	}
	return ev
}
