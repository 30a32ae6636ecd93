package inventory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Counts records AWS API calls by service and operation. Tests and `make
// bench` use it to prove what an operation costs (reads, writes, calls per
// repository) instead of timing it. The zero value is ready; it is safe for
// concurrent use by many clients at once.
type Counts struct {
	mu       sync.Mutex
	calls    map[string]int64
	attempts map[string]int64
}

// CountCalls returns an SDK API option that counts every operation call on
// the clients built with it, keyed "<service id>.<operation>" (for example
// "ECR.GetRepositoryPolicy", "Organizations.ListParents"). Use it with
// config.WithAPIOptions or by appending to aws.Config.APIOptions. Calls are
// counted once per operation invocation; retried HTTP attempts are counted
// separately (Attempts), so throttling shows up without inflating the cost of
// the algorithm.
func CountCalls(counts *Counts) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		call := middleware.InitializeMiddlewareFunc("inventory.CountCalls", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			counts.add(&counts.calls, key(ctx))
			return next.HandleInitialize(ctx, in)
		})
		attempt := middleware.FinalizeMiddlewareFunc("inventory.CountAttempts", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			counts.add(&counts.attempts, key(ctx))
			return next.HandleFinalize(ctx, in)
		})
		if err := stack.Initialize.Add(call, middleware.After); err != nil {
			return fmt.Errorf("adding call counter: %w", err)
		}
		if err := stack.Finalize.Add(attempt, middleware.After); err != nil {
			return fmt.Errorf("adding attempt counter: %w", err)
		}
		return nil
	}
}

func key(ctx context.Context) string {
	return awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
}

func (c *Counts) add(m *map[string]int64, k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k]++
}

// Get returns the number of calls of one operation, e.g. Get("ECR",
// "DescribeRepositories").
func (c *Counts) Get(service, operation string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[service+"."+operation]
}

// Service returns the number of calls made to one service (its SDK service
// id: "ECR", "ECR PUBLIC", "Organizations", "IAM", "STS", "DynamoDB", ...).
func (c *Counts) Service(service string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.calls {
		if strings.HasPrefix(k, service+".") {
			n += v
		}
	}
	return n
}

// Total returns the number of calls of every operation.
func (c *Counts) Total() int64 { return c.sum(func(string) bool { return true }) }

// Writes returns the number of calls of mutating operations (see IsWrite).
func (c *Counts) Writes() int64 { return c.sum(IsWrite) }

// Reads returns the number of calls of non-mutating operations.
func (c *Counts) Reads() int64 { return c.sum(func(op string) bool { return !IsWrite(op) }) }

func (c *Counts) sum(match func(op string) bool) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.calls {
		if match(k[strings.LastIndexByte(k, '.')+1:]) {
			n += v
		}
	}
	return n
}

// Attempts returns the number of HTTP attempts of one operation, retries
// included; Attempts - Get is the number of retries.
func (c *Counts) Attempts(service, operation string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[service+"."+operation]
}

// Snapshot returns a copy of the call counts keyed "<service>.<operation>".
func (c *Counts) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// Reset sets every count back to zero, so one Counts can measure several
// phases (first run, converged re-run) in turn.
func (c *Counts) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.attempts = nil, nil
}

// String renders the counts as sorted "service.operation n" lines, for test
// failure messages and benchmark tables.
func (c *Counts) String() string {
	snap := c.Snapshot()
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d\n", k, snap[k])
	}
	return b.String()
}

// writePrefixes are the verbs of the AWS operations that change state in the
// services ecr-warden uses (ECR, ECR Public, IAM, Organizations, DynamoDB,
// SQS, STS is read-only for our purposes).
var writePrefixes = []string{
	"Put", "Set", "Create", "Delete", "Update", "Tag", "Untag", "Attach", "Detach",
	"Move", "Remove", "BatchDelete", "BatchWrite", "TransactWrite", "Send", "Start",
	"Enable", "Disable", "Register", "Deregister", "Replicate", "Upload", "Initiate",
	"Complete", "Close", "Invite", "Accept", "Leave",
}

// IsWrite reports whether an operation name is a mutating call. It goes by the
// verb at the start of the name, which is how every AWS API names its writes;
// "BatchGetImage" and "BatchCheckLayerAvailability" are reads.
func IsWrite(operation string) bool {
	for _, p := range writePrefixes {
		if strings.HasPrefix(operation, p) {
			return true
		}
	}
	return false
}
