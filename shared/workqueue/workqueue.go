// Package workqueue hands reconcile units (one account in one region) to the
// worker through its SQS queue. The backfill fans a run out through it, and
// the account function hands over a moved account's repositories: one
// sender, so both keep the same message shape, FIFO grouping and retries.
package workqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// Sender is the part of the SQS client a Queue needs.
type Sender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var (
	_ Sender              = (*sqs.Client)(nil)
	_ reconcile.UnitQueue = Queue{}
)

const (
	// MaxMessageBytes is SQS's limit for one message and for a whole batch.
	MaxMessageBytes = 256 * 1024
	// maxBatchEntries is SendMessageBatch's entry limit.
	maxBatchEntries = 10
	// maxDelay is SQS's longest per-message delay.
	maxDelay = 15 * time.Minute
	// attempts bounds the sends of entries SQS fails on its side.
	attempts = 3
)

// Queue sends units to one queue.
type Queue struct {
	Client Sender
	URL    string
}

// Send queues one message per unit with SendMessageBatch (at most 10
// entries and 256 KiB per call), retrying entries SQS reports as failed, and
// returns how many were sent. On a FIFO queue each account and region is its
// own message group, so two runs never converge the same registry at once.
// A unit too large for one message even with its accounts compressed
// (Message) is refused before anything is sent.
//
// Units are encoded batch by batch as they are sent, never all at once: a
// unit that carries the organization is about 116 bytes per account, so the
// 4,000 units of 1,000 members in 4 regions whose grants enumerate are 464 MB
// of message bodies, more than the backfill's 512 MB holds beside the walk
// (TestSendHoldsOneBatchAtATime). The size check therefore encodes each unit
// once more, and keeps nothing of it.
func (q Queue) Send(ctx context.Context, units []reconcile.Work) (int, error) {
	if q.URL == "" {
		return 0, fmt.Errorf("sending %d work units: no work queue URL", len(units))
	}
	var enc encoder
	for _, w := range units {
		if _, err := enc.encode(w); err != nil {
			return 0, err
		}
	}
	fifo := strings.HasSuffix(q.URL, ".fifo")
	sent, bytes := 0, 0
	batch := make([]sqstypes.SendMessageBatchRequestEntry, 0, maxBatchEntries)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := q.sendBatch(ctx, batch)
		sent += n
		clear(batch) // drop the bodies sent
		batch, bytes = batch[:0], 0
		return err
	}
	for i, w := range units {
		if w.Delay > 0 && fifo {
			// A FIFO queue takes no per-message delay, and needs none: a
			// message group (the account and region) keeps its order.
			continue
		}
		body, err := enc.encode(w)
		if err != nil {
			return sent, err
		}
		if len(batch) == maxBatchEntries || bytes+len(body) > MaxMessageBytes {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprintf("u%d", i)), MessageBody: aws.String(string(body))}
		if w.Delay > 0 {
			e.DelaySeconds = int32(min(w.Delay, maxDelay) / time.Second)
		}
		if fifo {
			e.MessageGroupId = aws.String(w.Account + "-" + w.Region)
			e.MessageDeduplicationId = aws.String(dedupID(w))
		}
		batch = append(batch, e)
		bytes += len(body)
	}
	return sent, flush()
}

// dedupID is a unit's deduplication id on a FIFO queue: its run, account,
// region and cursor (After). A continuation is the same unit further on,
// and SQS drops a message whose id it saw in the last 5 minutes, so without
// the cursor a unit's second try would vanish behind its first. Hashed: a
// cursor is a repository name of up to 256 characters, an id at most 128.
func dedupID(w reconcile.Work) string {
	sum := sha256.Sum256([]byte(w.RunID + "\x00" + w.Account + "\x00" + w.Region + "\x00" + w.After))
	return hex.EncodeToString(sum[:])
}

// sendBatch sends one batch; entries SQS fails on its side (throttled,
// internal error) are sent again a few times before the send gives up.
func (q Queue) sendBatch(ctx context.Context, batch []sqstypes.SendMessageBatchRequestEntry) (int, error) {
	sent := 0
	for attempt := 1; ; attempt++ {
		out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: batch})
		if err != nil {
			return sent, fmt.Errorf("sending work to %s: %w", q.URL, err)
		}
		sent += len(out.Successful)
		if len(out.Failed) == 0 {
			return sent, nil
		}
		failed := map[string]string{}
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
		}
		if attempt == attempts {
			var msgs []string
			for id, m := range failed {
				msgs = append(msgs, id+" "+m)
			}
			sort.Strings(msgs)
			return sent, fmt.Errorf("sending work to %s: %d messages failed: %s", q.URL, len(failed), strings.Join(msgs, "; "))
		}
		var again []sqstypes.SendMessageBatchRequestEntry
		for _, e := range batch {
			if _, ok := failed[aws.ToString(e.Id)]; ok {
				again = append(again, e)
			}
		}
		batch = again
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}
