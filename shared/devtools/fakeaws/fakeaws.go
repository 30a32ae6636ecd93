// Package fakeaws is an in-memory AWS for the engine's unit tests (the fast
// lane, go test -short): ECR, ECR Public, IAM, Secrets Manager, the Resource
// Groups Tagging API and Organizations, each a client with exactly the SDK
// method signatures the product's consumer-side interfaces name, plus an
// in-memory audit table and lease for the write protocol.
//
// It answers with the real SDK error types, wrapped the way the SDK wraps
// them (operation error, HTTP response error), so the product's error
// handling runs as it does against AWS: *ecrtypes.RepositoryPolicyNotFoundException
// for a repository without a policy, *ecrtypes.InvalidParameterException
// "Invalid registry policy provided" for a registry policy naming a role that
// does not exist or a V1-scoped registry given actions V1 does not enforce,
// *iamtypes.NoSuchEntityException, *ecrtypes.PullThroughCacheRuleAlreadyExistsException,
// and a smithy API error AccessDenied for a denied call or an execution role
// that cannot be assumed. What it refuses follows the local AWS's extension
// (shared/devtools/localaws/motoext.py), and the same scenarios run there in
// make test; this fake exists so the engine's decisions can be tested in
// milliseconds without Python.
//
// Every call is counted (Calls) and may be refused (Deny, Unassumable, Fail)
// or have its answer lost after it acted (Lose). A call whose context is
// done is not sent, as the SDK sends none.
package fakeaws

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AWS is one in-memory AWS: accounts with their registries, IAM and
// secrets, and one organization. The zero value is not usable; call New.
type AWS struct {
	mu          sync.Mutex
	partition   string
	accounts    map[string]*account
	org         *organization
	calls       map[string]int
	writes      []string
	deny        map[string]bool
	unassumable map[string]string
	fail        []func(Call) error
	lose        []func(Call) error
	latency     func(Call) time.Duration
	requests    int
}

// Call names one API call as it reaches the fake.
type Call struct {
	Account, Region, Service, Operation string
	// Input is the SDK input struct (e.g. *ecr.PutRegistryPolicyInput).
	Input any
	// Context is the call's context: a hook can read what the caller
	// sent it under (the lease a write is fenced by: lease.FromContext).
	Context context.Context
}

// New returns an empty AWS in the "aws" partition.
func New() *AWS {
	return &AWS{partition: "aws", accounts: map[string]*account{}, calls: map[string]int{}, deny: map[string]bool{}, unassumable: map[string]string{}}
}

// account is what one account holds.
type account struct {
	id         string
	registries map[string]*registry // by region
	roles      map[string]*role
	users      map[string]bool
	secrets    map[string]map[string]string // region -> name -> full ARN
	public     map[string]*repository       // ECR Public, us-east-1
}

func (f *AWS) acct(id string) *account {
	a, ok := f.accounts[id]
	if !ok {
		a = &account{id: id, registries: map[string]*registry{}, roles: map[string]*role{}, users: map[string]bool{},
			secrets: map[string]map[string]string{}, public: map[string]*repository{}}
		f.accounts[id] = a
	}
	return a
}

// Account makes id known (its IAM is then checked for the principals a
// policy names, as AWS checks them); accounts are also made known by
// anything created in them.
func (f *AWS) Account(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acct(id)
}

// Deny makes every call of service/operation in account answer AccessDenied
// (what a missing permission in the execution role looks like).
func (f *AWS) Deny(account, service, operation string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny[account+"|"+service+"|"+operation] = true
}

// Unassumable makes every call in account fail as the SDK fails when
// sts:AssumeRole into its execution role is refused: the member's role is
// missing or does not trust the hub. roleARN is the role that was assumed.
func (f *AWS) Unassumable(account, roleARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unassumable[account] = roleARN
}

// Fail adds a hook run before every call (after Deny and Unassumable): a
// non-nil error is returned instead of the call's answer. Build it with
// APIError (or a typed SDK error) so it is wrapped as the SDK would.
func (f *AWS) Fail(hook func(Call) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, hook)
}

// Lose adds a hook run after every call that was answered (its effect, if
// any, is in the fake): a non-nil error is returned instead of the answer, as
// when the connection drops after AWS acted, or the process dies right after
// sending the call. Build it as for Fail.
func (f *AWS) Lose(hook func(Call) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lose = append(f.lose, hook)
}

// Latency makes every call wait as long as fn says before it is answered,
// outside the fake's lock, so calls in flight at once wait side by side as
// they do against AWS (a Fail hook that sleeps would hold the lock and put
// every call in a queue). Benchmarks use it to model ECR's round trips.
func (f *AWS) Latency(fn func(Call) time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = fn
}

// Calls returns how often service/operation was called (refused calls
// included), e.g. Calls("ECR", "PutRegistryPolicy").
func (f *AWS) Calls(service, operation string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[service+"."+operation]
}

// Writes lists the successful write calls in order, as
// "Service.Operation account/region name".
func (f *AWS) Writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

// CallCounts is every counted call, "Service.Operation" -> count.
func (f *AWS) CallCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// String lists the calls, sorted, for test failure messages.
func (f *AWS) String() string {
	c := f.CallCounts()
	var b strings.Builder
	for _, k := range sortedKeys(c) {
		fmt.Fprintf(&b, "%s=%d ", k, c[k])
	}
	return strings.TrimSpace(b.String())
}

// enter counts a call and says whether it is refused before it reaches the
// service. f.mu must be held.
func (f *AWS) enter(c Call) error {
	f.calls[c.Service+"."+c.Operation]++
	f.requests++
	if roleARN, ok := f.unassumable[c.Account]; ok {
		sts := wrap("STS", "AssumeRole", http.StatusForbidden, f.requests, &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient,
			Message: "User: arn:" + f.partition + ":sts::000000000000:assumed-role/ecr-warden-function/ecr-warden is not authorized to perform: sts:AssumeRole on resource: " + roleARN})
		return &smithy.OperationError{ServiceID: c.Service, OperationName: c.Operation,
			Err: fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", sts)}
	}
	if f.deny[c.Account+"|"+c.Service+"|"+c.Operation] {
		code := "AccessDeniedException"
		if c.Service == "IAM" || c.Service == "STS" {
			code = "AccessDenied"
		}
		return f.refuse(c, http.StatusForbidden, &smithy.GenericAPIError{Code: code, Fault: smithy.FaultClient,
			Message: fmt.Sprintf("User: arn:%s:sts::%s:assumed-role/ecr-warden-execution/ecr-warden is not authorized to perform: %s:%s", f.partition, c.Account, strings.ToLower(c.Service), c.Operation)})
	}
	for _, h := range f.fail {
		if err := h(c); err != nil {
			return f.hookError(c, err)
		}
	}
	if err := c.Context.Err(); err != nil {
		// A hook held the call (a paused process) until its context ended.
		return notSent(c, err)
	}
	return nil
}

// hookError is a Fail or Lose hook's error as the SDK returns it: as it is
// when it is already an operation error, else wrapped as a refusal. f.mu must
// be held.
func (f *AWS) hookError(c Call, err error) error {
	var op *smithy.OperationError
	if asOperationError(err, &op) {
		return err
	}
	return f.refuse(c, http.StatusBadRequest, err)
}

// notSent is the SDK's error for a call whose context ended before it was
// sent.
func notSent(c Call, err error) error {
	return &smithy.OperationError{ServiceID: c.Service, OperationName: c.Operation, Err: &smithyhttp.RequestSendError{Err: err}}
}

// scope is where a client acts: an account and, for regional services, a
// region.
type scope struct {
	f               *AWS
	account, region string
}

func (s scope) call(ctx context.Context, service, operation string, in any) Call {
	return Call{Account: s.account, Region: s.region, Service: service, Operation: operation, Input: in, Context: ctx}
}

// serve runs one call under the fake's lock: not sent when its context is
// done; else counted, refused when Deny, Unassumable or a Fail hook says so,
// else answered by fn with the state the call acts on, and that answer
// replaced when a Lose hook says so.
func serve[S, O any](f *AWS, cl Call, state func() S, fn func(S, Call) (*O, error)) (*O, error) {
	if cl.Context == nil {
		cl.Context = context.Background()
	}
	if err := cl.Context.Err(); err != nil {
		return nil, notSent(cl, err)
	}
	f.mu.Lock()
	latency := f.latency
	f.mu.Unlock()
	if latency != nil {
		time.Sleep(latency(cl))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(cl); err != nil {
		return nil, err
	}
	out, err := fn(state(), cl)
	for _, h := range f.lose {
		if lerr := h(cl); lerr != nil {
			return nil, f.hookError(cl, lerr)
		}
	}
	return out, err
}

// wrote records a successful write. f.mu must be held.
func (f *AWS) wrote(c Call, name string) {
	f.writes = append(f.writes, fmt.Sprintf("%s.%s %s/%s %s", c.Service, c.Operation, c.Account, c.Region, name))
}

// refuse wraps an API error as the SDK returns it. f.mu must be held.
func (f *AWS) refuse(c Call, status int, err error) error {
	f.requests++
	return wrap(c.Service, c.Operation, status, f.requests, err)
}

// wrap is what the SDK returns for an API error: an operation error around
// an HTTP response error around the typed error.
func wrap(service, operation string, status, request int, err error) error {
	return &smithy.OperationError{ServiceID: service, OperationName: operation, Err: &awshttp.ResponseError{
		RequestID:     fmt.Sprintf("fake-%06d", request),
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err},
	}}
}

func asOperationError(err error, target **smithy.OperationError) bool {
	op, ok := err.(*smithy.OperationError)
	if ok {
		*target = op
	}
	return ok
}

// APIError is an error with an AWS error code and message, for Fail hooks
// (AccessDenied, ThrottlingException, ...): the typed errors of the SDK are
// better where one exists.
func APIError(code, message string) error {
	return &smithy.GenericAPIError{Code: code, Message: message, Fault: smithy.FaultClient}
}
