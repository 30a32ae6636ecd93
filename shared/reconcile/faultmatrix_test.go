package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The fault matrix (TestWriteFaultMatrix): one worker unit of a member
// registry (a V1 scope to switch, a registry policy and repository policies
// holding foreign statements, a grant enumerating an OU's accounts, so the
// organization is walked under the lease, a tag grant, a policy to delete,
// PTC rules to create and one to retire, the PTC role to create), the
// retired unit of that member once the declaration configures nothing in it
// (every owned statement removed, foreign ones kept), an account departure
// (its hub half through the hub registry policy's mailbox, then the
// enumerating grant of the member left), an account move's hub half (the
// member leaves an OU a hub grant enumerates), and two events on documents of the
// member (one repository policy, the registry policy: the per-document
// protocol), are each run once cleanly, counting every call they send to
// AWS and DynamoDB (the audit trail and the lease table). Then,
// for every k, the same job runs with its k-th call hit by one fault (it
// dies right after AWS acted on the call; a 5xx after the SDK's retries,
// acted on or not; throttling past the retries; its lease lapses and is
// taken by another writer just before the call), the sweep settles what it
// left past the stale age, and the job runs again cleanly as SQS's or
// Lambda's retry would (a new process, every lease lapsed), followed by
// another sweep. After each:
//
//   - AWS holds exactly what the clean run left, foreign statements byte for byte;
//   - every write AWS received came while a stored pending intent for that
//     document was in the table, and while the lease it was fenced by was
//     still the writer's and unexpired;
//   - no record is left pending or unknown, and each write record's outcome
//     says what AWS held when it was stored (applied only if AWS held what
//     it writes; failed only if it did not);
//   - a run that answered success (SQS deletes the message, Lambda drops the
//     event) left AWS as the clean run does and no record open.

// matrixFault is what happens to the k-th call.
type matrixFault string

const (
	// faultDies: AWS (or DynamoDB) acts on the call, its answer is lost and
	// the process dies: nothing after it is sent.
	faultDies matrixFault = "dies-after"
	// faultServer: the call fails with a 5xx after the SDK's retries, not acted on.
	faultServer matrixFault = "5xx"
	// faultServerActed: AWS acted on the call, but its answer (after the
	// SDK's retries) is a 5xx; the process goes on.
	faultServerActed matrixFault = "5xx-acted"
	// faultThrottled: the call is throttled past the SDK's retries.
	faultThrottled matrixFault = "throttled"
	// faultLeaseLost: the process pauses just before the call until its lease
	// lapses, another holder takes it, then the call goes on.
	faultLeaseLost matrixFault = "lease-lost"
	// faultPartialDies: a BatchWriteItem of the audit trail stores the first
	// half of its records, hands the rest back as UnprocessedItems (as
	// DynamoDB does under throttling), and the process dies before it
	// sends them again. Only BatchWriteItem calls are hit.
	faultPartialDies matrixFault = "partial-batch-dies"
	// faultPartialThrottled: a BatchWriteItem stores the first half of its
	// records, and every later one of the process (the retries of the
	// rest, the outcomes) comes back wholly unprocessed: the table stays
	// throttled past the trail's retries, the process goes on.
	faultPartialThrottled matrixFault = "partial-batch-throttled"
)

// batchOnly are the faults that hit only a BatchWriteItem call.
var batchOnly = map[matrixFault]bool{faultPartialDies: true, faultPartialThrottled: true}

// matrixDeclaration: in every member the PTC role, three rules (one of them
// from the hub) and a retired one, a registry grant (a V2 registry policy,
// the switch allowed), a repository grant by name and one by tag.
const matrixDeclaration = `"registryPolicyScope": {"allowSwitchToV2": true},
	"pullThroughCache": {"members": {"all": true}, "role": {"name": "ecr-warden-ptc"}, "retiredPrefixes": ["old"],
	"rules": [{"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws"}, {"prefix": "quay", "upstreamRegistryUrl": "quay.io"},
		{"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}]},
	"grants": [
	{"name": "team-b-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}},
	{"name": "ou-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry", "principalMode": "enumerate",
	 "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]}, "registries": {"allMembers": true}},
	{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}},
	{"name": "tagged-push", "repositoryTags": {"share": "org"}, "access": "push", "placement": "repository",
	 "principals": {"roles": ["arn:aws:iam::` + fTeamB + `:role/ci"]}, "registries": {"allMembers": true}}]`

// matrixForeign are the statements someone else wrote, by document; each
// must stay byte for byte.
var matrixForeign = map[string]string{
	"registry":     `{"Sid":"ReplicateFromSecurity","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:` + fTeamA + `:repository/*"}`,
	"apps/a":       `{"Sid":"Scanner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:DescribeImages"}`,
	"apps/c":       `{"Sid":"NoDelete","Effect":"Deny","Principal":{"AWS":"*"},"NotAction":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`,
	"tools/t":      `{"Sid":"LambdaPull","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:us-east-1:` + fTeamA + `:function:*"}}}`,
	"keep/k":       `{"Sid":"Mirror","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage"}`,
	"hub registry": `{"Sid":"AuditorDescribe","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamA + `:root"},"Action":"ecr:DescribeRepositories","Resource":"arn:aws:ecr:us-east-1:` + fHub + `:repository/*"}`,
}

func matrixDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// matrix is one world for one run of the matrix: the fake AWS, the audit
// and lease tables, and the hooks that count, break and check every call of
// the process running now.
type matrix struct {
	aws    *fakeaws.AWS
	world  *world
	audit  *matrixAudit
	leases *matrixLeases
	work   Work
	// decl, when set, is the declaration the processes run under instead
	// of the world's (matrixDeclaration): a retired unit's, which no longer
	// configures the member.
	decl *config.Declaration

	mu       sync.Mutex
	proc     *matrixProcess
	problems []string
	// intents are the ids of the records ever stored pending; outcomes,
	// by id, what AWS held of the document when the record's outcome was
	// last stored.
	intents  map[string]bool
	outcomes map[string]matrixOutcome
	stolen   bool // a lease was taken from the process (faultLeaseLost)
}

// matrixProcess is one invocation: its calls, and the fault it meets.
type matrixProcess struct {
	fault  matrixFault
	k      int
	calls  []string
	dead   bool
	awsSeq int // the AWS call being served (the fake serves one at a time)
	// partial: the next BatchWriteItem served stores half its items
	// (faultPartial*); throttled: every one after it stores none.
	partial, throttled bool
}

type matrixOutcome struct {
	decision string
	holds    bool // AWS held what the write writes
	text     string
}

func newMatrix(t *testing.T) *matrix {
	t.Helper()
	w := newWorld(t, matrixDeclaration)
	f := w.aws
	f.CreateRole(fTeamB, "ci", `{"Version":"2012-10-17","Statement":[]}`)
	f.SetScope(fTeamA, fRegion, "V1")
	f.SetRegistryPolicy(fTeamA, fRegion, matrixDoc(matrixForeign["registry"]))
	f.SetRegistryPolicy(fHub, fRegion, matrixDoc(matrixForeign["hub registry"]))
	for _, name := range []string{"apps/a", "apps/b", "apps/c", "old/x", "keep/k"} {
		f.CreateRepository(fTeamA, fRegion, name, nil)
	}
	f.CreateRepository(fTeamA, fRegion, "tools/t", map[string]string{"share": "org"})
	f.SetRepositoryPolicy(fTeamA, fRegion, "apps/a", matrixDoc(matrixForeign["apps/a"],
		`{"Sid":"EcrWardenRevoked","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+fHub+`:root"},"Action":"ecr:PutImage"}`))
	f.SetRepositoryPolicy(fTeamA, fRegion, "apps/c", matrixDoc(matrixForeign["apps/c"]))
	f.SetRepositoryPolicy(fTeamA, fRegion, "tools/t", matrixDoc(matrixForeign["tools/t"]))
	f.SetRepositoryPolicy(fTeamA, fRegion, "keep/k", matrixDoc(matrixForeign["keep/k"]))
	f.SetRepositoryPolicy(fTeamA, fRegion, "old/x", matrixDoc(`{"Sid":"EcrWardenOldPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+fHub+`:root"},"Action":"ecr:BatchGetImage"}`))
	f.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("mine"), UpstreamRegistryUrl: aws.String("ghcr.io")})
	f.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("old"), UpstreamRegistryUrl: aws.String("registry.k8s.io")})
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	m := &matrix{aws: f, world: w, audit: &matrixAudit{Table: fakeaws.NewTable(), items: map[string]map[string]string{}},
		leases:  &matrixLeases{items: map[string]ddbItem{}},
		work:    Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: toDesiredAll(walk.Accounts), Role: true, WalkedAt: time.Now()},
		intents: map[string]bool{}, outcomes: map[string]matrixOutcome{}}
	m.audit.m, m.leases.m = m, m
	f.Fail(func(c fakeaws.Call) error {
		seq, err := m.before(c.Context, c.Service+"."+c.Operation, &c)
		m.mu.Lock()
		m.proc.awsSeq = seq
		m.mu.Unlock()
		return err
	})
	f.Lose(func(c fakeaws.Call) error {
		m.mu.Lock()
		seq := m.proc.awsSeq
		m.mu.Unlock()
		return m.after(seq, c.Service, c.Operation)
	})
	return m
}

// engine is a new process (new caches, new lease owner tokens) over m.
func (m *matrix) engine(t *testing.T, ttl time.Duration) *Engine {
	t.Helper()
	trail, err := audit.New(m.audit, "audit", audit.Options{Function: "worker", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(m.leases, "leases", lease.Options{Holder: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	e := *m.world.engine
	if m.decl != nil {
		e.Decl = m.decl
	}
	e.Exec = &apply.Executor{Trail: trail, Leases: leases, LeaseTTL: ttl}
	e.Org = inventory.NewOrg(m.aws.Organizations(), inventory.OrgOptions{})
	// As the worker: its own account read from the organization, counts
	// only. One read at a time keeps the order of the calls, so the k-th
	// call of a run is the k-th of the clean run until the fault.
	e.VerifyUnits, e.CountsOnly, e.Concurrency = true, true, 1
	return &e
}

// matrixJob is what one process runs: a unit, or an event.
type matrixJob func(ctx context.Context, m *matrix, e *Engine) error

// run runs job as one process meeting fault at call k (none for k 0).
func (m *matrix) run(t *testing.T, job matrixJob, fault matrixFault, k int, ttl time.Duration) (*matrixProcess, error) {
	t.Helper()
	p := &matrixProcess{fault: fault, k: k}
	m.mu.Lock()
	m.proc = p
	m.mu.Unlock()
	return p, job(context.Background(), m, m.engine(t, ttl))
}

// sweep settles the stale records as the sweep does, from a new process,
// past their stale age.
func (m *matrix) sweep(t *testing.T) error {
	t.Helper()
	m.mu.Lock()
	m.proc = &matrixProcess{}
	m.mu.Unlock()
	e := m.engine(t, time.Minute)
	recs, err := e.Exec.Trail.(*audit.Trail).Stale(context.Background(), time.Now().Add(apply.DefaultStaleAfter))
	if err != nil {
		return err
	}
	_, err = e.SettleStale(context.Background(), recs)
	return err
}

func (m *matrix) problem(format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

var errDead = errors.New("the process died: nothing is sent")

// before is every call's first step, as the process sends it: counted,
// hit by the fault when it is the k-th, and, for an AWS write, checked
// against the intents stored and the lease it is fenced by. c is nil for
// DynamoDB calls.
func (m *matrix) before(ctx context.Context, name string, c *fakeaws.Call) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p.dead {
		return 0, errDead
	}
	p.calls = append(p.calls, name)
	seq := len(p.calls)
	if seq == p.k {
		switch p.fault {
		case faultServer:
			return seq, sdkError(name, http.StatusInternalServerError, "InternalFailure", smithy.FaultServer)
		case faultThrottled:
			code := "ThrottlingException"
			if strings.HasPrefix(name, "DynamoDB.") {
				code = "ProvisionedThroughputExceededException"
			}
			return seq, sdkError(name, http.StatusBadRequest, code, smithy.FaultClient)
		case faultLeaseLost:
			m.stolen = m.leases.steal() || m.stolen
		case faultPartialDies, faultPartialThrottled:
			p.partial = name == "DynamoDB.BatchWriteItem"
		}
	}
	if ctx.Err() != nil || c == nil {
		return seq, nil // not sent (its context ended), or not an AWS call
	}
	// The call is sent now, or not at all: a context past its deadline
	// whose timer has not fired yet (a starved scheduler, 2 cores shared by
	// hundreds of cases) is ended too, as the fake's own check would find
	// it a moment later. The lease is checked at the same instant, so the
	// check holds the fence to the lease table's expiry exactly.
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok && !now.Before(dl) {
		return seq, &smithy.OperationError{ServiceID: c.Service, OperationName: c.Operation, Err: &smithyhttp.RequestSendError{Err: context.DeadlineExceeded}}
	}
	if w, ok := matrixWrite(c); ok {
		m.checkWrite(c, w, now)
	}
	return seq, nil
}

// after runs when the call was answered: the dying fault's call acted and
// its answer is lost.
func (m *matrix) after(seq int, service, op string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if seq != p.k || seq == 0 {
		return nil
	}
	switch p.fault {
	case faultDies, faultPartialDies:
		p.dead = true
		return &smithy.OperationError{ServiceID: service, OperationName: op, Err: &smithyhttp.RequestSendError{Err: errors.New("connection reset by peer")}}
	case faultServerActed:
		return sdkError(service+"."+op, http.StatusInternalServerError, "InternalFailure", smithy.FaultServer)
	}
	return nil
}

// sdkError is what the SDK returns after its retries for a call AWS
// answered with status and code.
func sdkError(name string, status int, code string, fault smithy.ErrorFault) error {
	service, op, _ := strings.Cut(name, ".")
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: &awshttp.ResponseError{RequestID: "matrix",
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "injected by the fault matrix", Fault: fault}}}}
}

// matrixTarget is the document an AWS write call writes, as its audit
// record names it; doc is what it writes when the call carries a document.
type matrixTarget struct {
	kind, account, region, name string
	doc                         *string
}

func matrixWrite(c *fakeaws.Call) (matrixTarget, bool) {
	t := matrixTarget{account: c.Account, region: c.Region}
	switch in := c.Input.(type) {
	case *ecr.SetRepositoryPolicyInput:
		t.kind, t.name, t.doc = KindRepositoryPolicy, aws.ToString(in.RepositoryName), in.PolicyText
	case *ecr.DeleteRepositoryPolicyInput:
		t.kind, t.name, t.doc = KindRepositoryPolicy, aws.ToString(in.RepositoryName), aws.String("")
	case *ecr.PutRegistryPolicyInput:
		t.kind, t.doc = KindRegistryPolicy, in.PolicyText
	case *ecr.DeleteRegistryPolicyInput:
		t.kind, t.doc = KindRegistryPolicy, aws.String("")
	case *ecr.PutAccountSettingInput: // the scope switch, written with the registry policy
		t.kind = KindRegistryPolicy
	case *ecr.CreatePullThroughCacheRuleInput:
		t.kind, t.name = KindPTCRule, aws.ToString(in.EcrRepositoryPrefix)
	case *ecr.UpdatePullThroughCacheRuleInput:
		t.kind, t.name = KindPTCRule, aws.ToString(in.EcrRepositoryPrefix)
	case *ecr.DeletePullThroughCacheRuleInput:
		t.kind, t.name = KindPTCRule, aws.ToString(in.EcrRepositoryPrefix)
	case *iam.CreateRoleInput:
		t.kind, t.name, t.doc = KindRoleTrustPolicy, aws.ToString(in.RoleName), in.AssumeRolePolicyDocument
	case *iam.UpdateAssumeRolePolicyInput:
		t.kind, t.name, t.doc = KindRoleTrustPolicy, aws.ToString(in.RoleName), in.PolicyDocument
	case *iam.PutRolePermissionsBoundaryInput:
		t.kind, t.name = KindRoleTrustPolicy, aws.ToString(in.RoleName)
	case *iam.PutRolePolicyInput:
		t.kind, t.name, t.doc = KindRoleInlinePolicy, aws.ToString(in.RoleName), in.PolicyDocument
	case *iam.DeleteRolePolicyInput:
		t.kind, t.name, t.doc = KindRoleInlinePolicy, aws.ToString(in.RoleName), aws.String("")
	default:
		return t, false
	}
	return t, true
}

// checkWrite: no AWS write without a stored intent for its document, and
// none but under the writer's own unexpired lease. m.mu is held.
func (m *matrix) checkWrite(c *fakeaws.Call, w matrixTarget, now time.Time) {
	what := fmt.Sprintf("%s.%s %s %s/%s", c.Service, c.Operation, w.kind, w.account, w.name)
	afters := m.audit.pending(w)
	if len(afters) == 0 {
		m.problem("write %s sent without a stored pending intent for its document", what)
	} else if w.doc != nil && !slices.Contains(afters, *w.doc) {
		m.problem("write %s sends a document no stored intent names:\n%s\nintents: %q", what, *w.doc, afters)
	}
	held, ok := lease.FromContext(c.Context)
	ls, isLease := held.(*lease.Lease)
	if !ok || !isLease {
		m.problem("write %s sent outside any lease", what)
		return
	}
	if want := lease.RegistryKey(w.account, fRegion); ls.Key != want {
		m.problem("write %s sent under lease %s, not %s", what, ls.Key, want)
	}
	if owner, exp := m.leases.holder(ls.Key); owner != ls.Owner || exp < now.Unix() {
		dl, _ := c.Context.Deadline()
		m.problem("write %s sent after its lease %s (owner %q, fenced until %s) was lost: held by %q until %d, now %s", what, ls.Key, ls.Owner, dl.Format("15:04:05.000"), owner, exp, now.Format("15:04:05.000"))
	}
}

// dynamo runs one DynamoDB call of the process: not sent when its context
// ended, else counted and hit like any call.
func (m *matrix) dynamo(ctx context.Context, op string, do func() error) error {
	name := "DynamoDB." + op
	if err := ctx.Err(); err != nil {
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: &smithyhttp.RequestSendError{Err: err}}
	}
	seq, err := m.before(ctx, name, nil)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // paused past its deadline
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: &smithyhttp.RequestSendError{Err: err}}
	}
	err = do()
	if lerr := m.after(seq, "DynamoDB", op); lerr != nil {
		return lerr
	}
	return err
}

// matrixAudit is the audit table: fakeaws's table with BatchWriteItem (so
// the trail batches as it does against DynamoDB), every call going through
// the matrix, and a copy of each item's string attributes to check intents
// and outcomes against.
type matrixAudit struct {
	*fakeaws.Table
	m     *matrix
	mu    sync.Mutex
	items map[string]map[string]string // pk/sk -> attribute -> value
}

func itemKey(it map[string]ddbtypes.AttributeValue) string {
	return attrOf(it, audit.AttrPK) + "\x00" + attrOf(it, audit.AttrSK)
}

func attrOf(it map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (a *matrixAudit) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	var out *dynamodb.PutItemOutput
	err := a.m.dynamo(ctx, "PutItem", func() error {
		var err error
		if out, err = a.Table.PutItem(ctx, in, opts...); err == nil {
			a.stored(in.Item)
		}
		return err
	})
	return out, err
}

func (a *matrixAudit) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	left := map[string][]ddbtypes.WriteRequest{}
	err := a.m.dynamo(ctx, "BatchWriteItem", func() error {
		a.m.mu.Lock()
		p := a.m.proc
		partial, throttled := p.partial, p.throttled
		if partial {
			p.partial, p.throttled = false, p.fault == faultPartialThrottled
		}
		a.m.mu.Unlock()
		for table, reqs := range in.RequestItems {
			for i, r := range reqs {
				if throttled || (partial && i >= len(reqs)/2) {
					left[table] = append(left[table], r)
					continue
				}
				if _, err := a.Table.PutItem(ctx, &dynamodb.PutItemInput{Item: r.PutRequest.Item}); err != nil {
					return err
				}
				a.stored(r.PutRequest.Item)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: left}, nil
}

func (a *matrixAudit) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	var out *dynamodb.UpdateItemOutput
	err := a.m.dynamo(ctx, "UpdateItem", func() error {
		var err error
		if out, err = a.Table.UpdateItem(ctx, in, opts...); err != nil {
			return err
		}
		// The trail's outcome update: "SET #d = :d, ... REMOVE #p".
		a.mu.Lock()
		it := maps.Clone(a.items[itemKey(in.Key)])
		a.mu.Unlock()
		set, _, _ := strings.Cut(aws.ToString(in.UpdateExpression), " REMOVE ")
		for _, as := range strings.Split(strings.TrimPrefix(set, "SET "), ",") {
			lhs, rhs, _ := strings.Cut(as, "=")
			if v, ok := in.ExpressionAttributeValues[strings.TrimSpace(rhs)].(*ddbtypes.AttributeValueMemberS); ok {
				it[in.ExpressionAttributeNames[strings.TrimSpace(lhs)]] = v.Value
			}
		}
		a.record(itemKey(in.Key), it)
		return nil
	})
	return out, err
}

func (a *matrixAudit) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	var out *dynamodb.QueryOutput
	err := a.m.dynamo(ctx, "Query", func() error {
		var err error
		out, err = a.Table.Query(ctx, in, opts...)
		return err
	})
	return out, err
}

func (a *matrixAudit) stored(item map[string]ddbtypes.AttributeValue) {
	it := map[string]string{}
	for k, v := range item {
		if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
			it[k] = s.Value
		}
	}
	a.record(itemKey(item), it)
}

// record keeps the item's copy and, for a write record, notes its intent
// or what AWS holds of its document as its outcome is stored.
func (a *matrixAudit) record(key string, it map[string]string) {
	a.mu.Lock()
	a.items[key] = it
	a.mu.Unlock()
	id, d := it["id"], it["decision"]
	m := a.m
	switch d {
	case string(audit.DecisionPending):
		m.mu.Lock()
		m.intents[id] = true
		m.mu.Unlock()
	case string(audit.DecisionApplied), string(audit.DecisionFailed), string(audit.DecisionUnknown):
		m.mu.Lock()
		intent := m.intents[id]
		m.mu.Unlock()
		if !intent {
			return
		}
		holds, text := m.holds(it)
		m.mu.Lock()
		m.outcomes[id] = matrixOutcome{decision: d, holds: holds, text: text}
		m.mu.Unlock()
	}
}

// pending are the documents (After) of the stored pending intents for w.
func (a *matrixAudit) pending(w matrixTarget) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, it := range a.items {
		if it["decision"] == string(audit.DecisionPending) && it["kind"] == w.kind && it["accountId"] == w.account &&
			it["name"] == w.name && (w.kind == KindRoleTrustPolicy || w.kind == KindRoleInlinePolicy || it["region"] == w.region) {
			out = append(out, it["after"])
		}
	}
	return out
}

// open are the records still pending or unknown.
func (a *matrixAudit) open() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, it := range a.items {
		if d := it["decision"]; d == string(audit.DecisionPending) || d == string(audit.DecisionUnknown) {
			out = append(out, fmt.Sprintf("%s %s %s %s", d, it["op"], it["pk"], it["error"]))
		}
	}
	slices.Sort(out)
	return out
}

// holds reads, straight from the fake (no call), whether AWS holds what
// the write record it writes.
func (m *matrix) holds(it map[string]string) (bool, string) {
	account, region, name, after := it["accountId"], it["region"], it["name"], it["after"]
	doc := func(text string) (bool, string) {
		return apply.Compare(text, apply.Change{After: after, Before: it["before"]}).Holds == apply.HoldsAfter, text
	}
	switch it["kind"] {
	case KindRepositoryPolicy:
		return doc(m.aws.RepositoryPolicy(account, region, name))
	case KindRegistryPolicy:
		return doc(m.aws.RegistryPolicy(account, region))
	case KindRoleTrustPolicy:
		trust, _, _ := m.aws.Role(account, name)
		return doc(trust)
	case KindRoleInlinePolicy:
		_, inline, _ := m.aws.Role(account, name)
		_, policyName, _ := strings.Cut(it["pk"], "/policy/")
		return doc(inline[policyName])
	case KindPTCRule:
		want, _ := plan.ParseRule(after)
		var cur *plan.Rule
		if r, ok := m.aws.Rules(account, region)[name]; ok {
			cur = &plan.Rule{Prefix: name, UpstreamRegistryURL: aws.ToString(r.UpstreamRegistryUrl), UpstreamRegistry: string(r.UpstreamRegistry),
				CredentialARN: aws.ToString(r.CredentialArn), CustomRoleARN: aws.ToString(r.CustomRoleArn), UpstreamRepositoryPrefix: aws.ToString(r.UpstreamRepositoryPrefix)}
		}
		return plan.SameRule(cur, want), cur.String()
	}
	return false, "no way to read a " + it["kind"]
}

// matrixLeases is the lease table: the lease's items and the hub registry
// policy's mailbox, with the conditional puts, updates, deletes, reads and
// transactions shared/lease sends evaluated as DynamoDB does
// (faultmatrix_ddb_test.go), every call going through the matrix.
type matrixLeases struct {
	m     *matrix
	mu    sync.Mutex
	items map[string]ddbItem // by pk
}

const thief = "another-writer#1"

func numberOf(v ddbtypes.AttributeValue) int64 {
	n, _ := v.(*ddbtypes.AttributeValueMemberN)
	if n == nil {
		return 0
	}
	i, _ := strconv.ParseInt(n.Value, 10, 64)
	return i
}

// ddbRefused is err as the SDK returns DynamoDB's HTTP 400 answer to op.
func ddbRefused(op string, err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: &awshttp.ResponseError{RequestID: "matrix",
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest}}, Err: err}}}
}

func (l *matrixLeases) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	err := l.m.dynamo(ctx, "PutItem", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		key := attrOf(in.Item, lease.AttrPK)
		cur := l.items[key]
		ok, err := ddbCondition(cur, aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		if err != nil {
			return err
		}
		if !ok {
			return ddbRefused("PutItem", ddbConditionFailed(ddbAllOld(cur, in.ReturnValuesOnConditionCheckFailure)))
		}
		l.items[key] = maps.Clone(in.Item)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &dynamodb.PutItemOutput{}, nil
}

func (l *matrixLeases) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out := &dynamodb.UpdateItemOutput{}
	err := l.m.dynamo(ctx, "UpdateItem", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		key := attrOf(in.Key, lease.AttrPK)
		cur := l.items[key]
		ok, err := ddbCondition(cur, aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		if err != nil {
			return err
		}
		if !ok {
			return ddbRefused("UpdateItem", ddbConditionFailed(ddbAllOld(cur, in.ReturnValuesOnConditionCheckFailure)))
		}
		next, err := ddbUpdate(cur, in.Key, aws.ToString(in.UpdateExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		if err != nil {
			return err
		}
		l.items[key] = next
		switch in.ReturnValues {
		case ddbtypes.ReturnValueAllNew:
			out.Attributes = maps.Clone(next)
		case ddbtypes.ReturnValueAllOld:
			out.Attributes = maps.Clone(cur)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *matrixLeases) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	out := &dynamodb.DeleteItemOutput{}
	err := l.m.dynamo(ctx, "DeleteItem", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		key := attrOf(in.Key, lease.AttrPK)
		cur := l.items[key]
		ok, err := ddbCondition(cur, aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		if err != nil {
			return err
		}
		if !ok {
			return ddbRefused("DeleteItem", ddbConditionFailed(ddbAllOld(cur, in.ReturnValuesOnConditionCheckFailure)))
		}
		if in.ReturnValues == ddbtypes.ReturnValueAllOld {
			out.Attributes = maps.Clone(cur)
		}
		delete(l.items, key)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *matrixLeases) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out := &dynamodb.GetItemOutput{}
	err := l.m.dynamo(ctx, "GetItem", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		out.Item = maps.Clone(l.items[attrOf(in.Key, lease.AttrPK)])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TransactWriteItems checks every item's condition, then writes them all,
// or none with the reasons (ConditionalCheckFailed with the item when asked,
// else None) as DynamoDB cancels a transaction.
func (l *matrixLeases) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	err := l.m.dynamo(ctx, "TransactWriteItems", func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		type write struct {
			key  string
			next ddbItem // nil: delete
		}
		var writes []write
		reasons := make([]ddbtypes.CancellationReason, len(in.TransactItems))
		canceled := false
		for i, ti := range in.TransactItems {
			var (
				key, cond string
				names     map[string]string
				values    map[string]ddbtypes.AttributeValue
				ret       ddbtypes.ReturnValuesOnConditionCheckFailure
				apply     func(cur ddbItem) (ddbItem, error)
			)
			switch {
			case ti.Put != nil:
				p := ti.Put
				key, cond, names, values, ret = attrOf(p.Item, lease.AttrPK), aws.ToString(p.ConditionExpression), p.ExpressionAttributeNames, p.ExpressionAttributeValues, p.ReturnValuesOnConditionCheckFailure
				apply = func(ddbItem) (ddbItem, error) { return maps.Clone(p.Item), nil }
			case ti.Update != nil:
				u := ti.Update
				key, cond, names, values, ret = attrOf(u.Key, lease.AttrPK), aws.ToString(u.ConditionExpression), u.ExpressionAttributeNames, u.ExpressionAttributeValues, u.ReturnValuesOnConditionCheckFailure
				apply = func(cur ddbItem) (ddbItem, error) {
					return ddbUpdate(cur, u.Key, aws.ToString(u.UpdateExpression), u.ExpressionAttributeNames, u.ExpressionAttributeValues)
				}
			case ti.Delete != nil:
				d := ti.Delete
				key, cond, names, values, ret = attrOf(d.Key, lease.AttrPK), aws.ToString(d.ConditionExpression), d.ExpressionAttributeNames, d.ExpressionAttributeValues, d.ReturnValuesOnConditionCheckFailure
				apply = func(ddbItem) (ddbItem, error) { return nil, nil }
			default:
				return fmt.Errorf("matrix lease table: transaction item %d is no put, update or delete", i)
			}
			cur := l.items[key]
			ok, err := ddbCondition(cur, cond, names, values)
			if err != nil {
				return err
			}
			reasons[i] = ddbtypes.CancellationReason{Code: aws.String("None")}
			if !ok {
				canceled = true
				reasons[i] = ddbtypes.CancellationReason{Code: aws.String("ConditionalCheckFailed"), Message: aws.String("The conditional request failed"), Item: ddbAllOld(cur, ret)}
				continue
			}
			next, err := apply(cur)
			if err != nil {
				return err
			}
			writes = append(writes, write{key, next})
		}
		if canceled {
			return ddbRefused("TransactWriteItems", &ddbtypes.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons})
		}
		for _, w := range writes {
			if w.next == nil {
				delete(l.items, w.key)
			} else {
				l.items[w.key] = w.next
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// isMailbox reports whether the item at key is a mailbox, not a lease.
func isMailbox(key string) bool { return strings.HasPrefix(key, "mailbox/") }

// holder is who holds key's lease and until when (Unix seconds).
func (l *matrixLeases) holder(key string) (string, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.items[key]
	return attrOf(it, lease.AttrOwner), numberOf(it[lease.AttrExpiresAt])
}

// steal waits, holding up the calling process, until every lease it holds
// has lapsed by the clock, then takes each as another writer; it reports
// whether there was one.
func (l *matrixLeases) steal() bool {
	l.mu.Lock()
	var keys []string
	var until int64
	for k, it := range l.items {
		if exp := numberOf(it[lease.AttrExpiresAt]); !isMailbox(k) && attrOf(it, lease.AttrOwner) != thief && exp >= time.Now().Unix() {
			keys = append(keys, k)
			until = max(until, exp)
		}
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return false
	}
	// Lapsed once the whole second it stores has passed (the take's
	// condition is expiresAt < now, in seconds).
	time.Sleep(time.Until(time.Unix(until+1, 0)))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		// The other writer holds it for about a second: a writer that
		// re-plans under a new lease waits for it, not for the test.
		l.items[k] = ddbItem{lease.AttrPK: &ddbtypes.AttributeValueMemberS{Value: k}, lease.AttrOwner: &ddbtypes.AttributeValueMemberS{Value: thief},
			lease.AttrHolder:    &ddbtypes.AttributeValueMemberS{Value: "another-writer"},
			lease.AttrExpiresAt: &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)}}
	}
	return true
}

// lapseAll is time passing beyond every lease's expiry, and every
// mailbox's open mark's.
func (l *matrixLeases) lapseAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	zero := &ddbtypes.AttributeValueMemberN{Value: "0"}
	for k, it := range l.items {
		if isMailbox(k) {
			if _, ok := it["openUntil"]; ok {
				it["openUntil"] = zero
			}
			continue
		}
		it[lease.AttrExpiresAt] = zero
	}
}

// matrixState is what AWS holds of the member's documents, in full.
func (m *matrix) state() map[string]string {
	f := m.aws
	out := map[string]string{"registry": f.RegistryPolicy(fTeamA, fRegion), "scope": f.Scope(fTeamA, fRegion),
		"hub registry": f.RegistryPolicy(fHub, fRegion)}
	for _, name := range []string{"apps/a", "apps/b", "apps/c", "old/x", "keep/k", "tools/t"} {
		out[name] = f.RepositoryPolicy(fTeamA, fRegion, name)
	}
	for prefix, r := range f.Rules(fTeamA, fRegion) {
		out["rule "+prefix] = fmt.Sprintf("%s %s %s %s %s", aws.ToString(r.UpstreamRegistryUrl), r.UpstreamRegistry,
			aws.ToString(r.CredentialArn), aws.ToString(r.CustomRoleArn), aws.ToString(r.UpstreamRepositoryPrefix))
	}
	if trust, inline, ok := f.Role(fTeamA, "ecr-warden-ptc"); ok {
		out["role trust"] = trust
		for name, doc := range inline {
			out["role policy "+name] = doc
		}
		out["role boundary"] = f.Boundary(fTeamA, "ecr-warden-ptc")
	}
	return out
}

func diffStates(got, want map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			out = append(out, fmt.Sprintf("%s:\n  got  %s\n  want %s", k, got[k], want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: got %s, want nothing", k, got[k]))
		}
	}
	return out
}

// checkOutcomes: every write record is settled, and says what AWS held
// when its outcome was stored.
func (m *matrix) checkOutcomes() {
	for _, open := range m.audit.open() {
		m.problem("record left open after the retry and the sweep: %s", open)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.intents {
		o, ok := m.outcomes[id]
		switch {
		case !ok:
			m.problem("record %s has no outcome", id)
		case o.decision == string(audit.DecisionApplied) && !o.holds:
			m.problem("record %s stored applied while AWS held %s", id, o.text)
		case o.decision == string(audit.DecisionFailed) && o.holds:
			m.problem("record %s stored failed while AWS held what it writes: %s", id, o.text)
		}
	}
}

// matrixUnit is the worker converging m.work.
func matrixUnit(ctx context.Context, m *matrix, e *Engine) error {
	_, err := e.Converge(ctx, m.work.Cause(), m.work)
	return err
}

// matrixRetiredDeclaration is matrixDeclaration configuring nothing in the
// member any more: every grant and the pull-through cache only in
// another account, as an edit that narrows their selectors leaves it.
var matrixRetiredDeclaration = strings.ReplaceAll(strings.ReplaceAll(matrixDeclaration,
	`"registries": {"allMembers": true}`, `"registries": {"accounts": ["`+fTeamB+`"]}`),
	`"members": {"all": true}`, `"members": {"accounts": ["`+fTeamB+`"]}`)

// retire sets m up for a retired unit: the member as the clean unit under
// matrixDeclaration converged it (its owned statements, PTC rules and role
// beside the foreign ones), then the declaration that configures nothing
// in it, and the unit the backfill's next full run sends for it
// (functions/backfill retireUnit: its own account only, Retired).
func retire(t *testing.T, m *matrix) {
	t.Helper()
	if _, err := m.run(t, matrixUnit, "", 0, time.Minute); err != nil {
		t.Fatalf("retire: converging the member first: %v", err)
	}
	m.leases.lapseAll()
	m.decl = newWorld(t, matrixRetiredDeclaration).engine.Decl
	if desired.New(m.decl, m.work.Accounts).Configures(fTeamA) {
		t.Fatalf("retire: the retired declaration still configures %s", fTeamA)
	}
	var own []desired.Account
	for _, a := range m.work.Accounts {
		if a.ID == fTeamA {
			own = append(own, a)
		}
	}
	m.work = Work{RunID: "sweep-2", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: own, Retired: true, WalkedAt: time.Now()}
}

// depart sets m up for an account departure: the hub as its clean sweep
// unit converged it (its upstream grant naming every PTC member's role,
// beside a foreign statement), then the second member leaves the
// organization (RemoveAccountFromOrganization). Its event's hub half
// removes it from the hub's registry policy through the policy's mailbox
// (hubmailbox.go); the event also converges the enumerating grants of the
// remaining member's registry (Engine.Account).
func depart(t *testing.T, m *matrix) {
	t.Helper()
	hub := m.work
	hub.Account, hub.Role = fHub, false
	if _, err := m.run(t, func(ctx context.Context, m *matrix, e *Engine) error {
		_, err := e.Converge(ctx, hub.Cause(), hub)
		return err
	}, "", 0, time.Minute); err != nil {
		t.Fatalf("depart: converging the hub first: %v", err)
	}
	if !strings.Contains(m.aws.RegistryPolicy(fHub, fRegion), fTeamB) {
		t.Fatalf("depart: the hub's registry policy does not name %s before it leaves:\n%s", fTeamB, m.aws.RegistryPolicy(fHub, fRegion))
	}
	m.leases.lapseAll()
	m.aws.Leave(fTeamB)
}

// matrixMovedDeclaration is matrixDeclaration with a grant in the hub's
// registry that lists the accounts of the OU "workloads" one by one, so a
// member moved out of it loses its grant in the hub.
var matrixMovedDeclaration = strings.Replace(matrixDeclaration, `"grants": [`, `"grants": [
	{"name": "hub-ou-pull", "repositories": ["base/*"], "access": "pull", "placement": "registry", "principalMode": "enumerate",
	 "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]}, "registries": {"hub": true}},`, 1)

// move sets m up for an account move's hub half: under
// matrixMovedDeclaration, the hub as its clean sweep unit converged it
// (the OU grant naming both members, the upstream grant, a foreign
// statement), then the member moves out of "workloads" into another OU.
func move(t *testing.T, m *matrix) {
	t.Helper()
	m.decl = newWorld(t, matrixMovedDeclaration).engine.Decl
	hub := m.work
	hub.Account, hub.Role = fHub, false
	if _, err := m.run(t, func(ctx context.Context, m *matrix, e *Engine) error {
		_, err := e.Converge(ctx, hub.Cause(), hub)
		return err
	}, "", 0, time.Minute); err != nil {
		t.Fatalf("move: converging the hub first: %v", err)
	}
	m.leases.lapseAll()
	m.aws.Join(fTeamA, "elsewhere")
}

// matrixMove is an account move event's hub half (Engine.HubForAccount
// as Engine.Account runs it for a member still in the organization): the
// account read from the organization at its new place, its change posted
// to the hub registry policy's mailbox and applied.
func matrixMove(ctx context.Context, _ *matrix, e *Engine) error {
	acct, err := e.accountInfo(ctx, fTeamA)
	if err != nil {
		return err
	}
	_, err = e.HubForAccount(ctx, CauseOf(target(trigger.KindAccountMoved, fTeamA)), acct, true)
	return err
}

// matrixDeparture is the account function on the second member's departure.
func matrixDeparture(ctx context.Context, _ *matrix, e *Engine) error {
	_, err := e.Account(ctx, target(trigger.KindAccountDeparted, fTeamB))
	return err
}

// matrixJobs are the writers the matrix runs: the worker's unit of the
// member registry, the retired unit of the same member once the
// declaration no longer configures it (setup: retire), and two events (the
// per-document write protocol: a conditional intent, the history read, the
// outcome update).
var matrixJobs = []struct {
	name  string
	job   matrixJob
	setup func(t *testing.T, m *matrix) // before the job's runs; nil: none
	// check, when set, checks what the clean run leaves (what every run
	// of the job must then leave too).
	check func(t *testing.T, want map[string]string)
}{
	{name: "unit", job: matrixUnit},
	{name: "retired-unit", job: matrixUnit, setup: retire, check: func(t *testing.T, want map[string]string) {
		for _, doc := range []string{"registry", "apps/a", "apps/b", "apps/c", "tools/t"} {
			if strings.Contains(want[doc], `"Sid":"EcrWarden`) {
				t.Errorf("retired unit: %s still holds a statement ecr-warden owns:\n%s", doc, want[doc])
			}
		}
		if want["apps/b"] != "" {
			t.Errorf("retired unit: apps/b, which held only ecr-warden's statements, has a policy: %s", want["apps/b"])
		}
	}},
	{name: "move-event-hub-half", job: matrixMove, setup: move, check: func(t *testing.T, want map[string]string) {
		_, ou, _ := strings.Cut(want["hub registry"], `"Sid":"EcrWardenHubOuPull`)
		ou, _, _ = strings.Cut(ou, `"Resource"`)
		if ou == "" || strings.Contains(ou, fTeamA) || !strings.Contains(ou, fTeamB) {
			t.Errorf("move: the hub's OU grant should list %s and no longer %s:\n%s", fTeamB, fTeamA, want["hub registry"])
		}
	}},
	{name: "departure-event", job: matrixDeparture, setup: depart, check: func(t *testing.T, want map[string]string) {
		if strings.Contains(want["hub registry"], fTeamB) || !strings.Contains(want["hub registry"], fTeamA) {
			t.Errorf("departure: the hub's registry policy should name %s and no longer %s:\n%s", fTeamA, fTeamB, want["hub registry"])
		}
		// The member's enumerating grant lists the OU's accounts: the one left.
		_, ou, _ := strings.Cut(want["registry"], `"Sid":"EcrWardenOuPullAccounts"`)
		ou, _, _ = strings.Cut(ou, `"Resource"`)
		if ou == "" || strings.Contains(ou, fTeamB) || !strings.Contains(ou, fTeamA) {
			t.Errorf("departure: the member's OU grant should list %s and no longer %s:\n%s", fTeamA, fTeamB, want["registry"])
		}
	}},
	{name: "repository-event", job: func(ctx context.Context, _ *matrix, e *Engine) error {
		tg := target(trigger.KindRepository, fTeamA)
		tg.Repository = "apps/a"
		_, err := e.Reconcile(ctx, tg)
		return err
	}},
	{name: "registry-event", job: func(ctx context.Context, _ *matrix, e *Engine) error {
		_, err := e.Reconcile(ctx, target(trigger.KindRegistryPolicy, fTeamA))
		return err
	}},
}

// The matrix itself: every job's clean run first, then every job, fault
// and k side by side (the lease-lost runs each pause a second or two for
// their lease to lapse; the rest take milliseconds), each in a world of
// its own; failures are reported per job.
func TestWriteFaultMatrix(t *testing.T) {
	// A rule that fails AWS's validation is asked again after IAM's
	// propagation; here a rule whose role a fault kept from being created
	// fails at once, and the retry validates it.
	waits := validationWaits
	validationWaits = []time.Duration{0, time.Millisecond, time.Millisecond}
	t.Cleanup(func() { validationWaits = waits })
	faults := []matrixFault{faultDies, faultServer, faultServerActed, faultThrottled, faultLeaseLost, faultPartialDies, faultPartialThrottled}
	type result struct {
		job, name string
		problems  []string
		stolen    bool
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		results []result
		batches = map[string]int{} // partial-batch cases per job
	)
	for _, j := range matrixJobs {
		want, calls := matrixReference(t, j.name, j.job, j.setup)
		if j.check != nil {
			j.check(t, want)
		}
		n := len(calls)
		for _, fault := range faults {
			for k := 1; k <= n; k++ {
				if batchOnly[fault] && calls[k-1] != "DynamoDB.BatchWriteItem" {
					continue
				}
				if batchOnly[fault] {
					batches[j.name]++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := newMatrix(t)
					if j.setup != nil {
						j.setup(t, m)
					}
					name := matrixCase(t, m, j.job, fault, k, want)
					mu.Lock()
					defer mu.Unlock()
					results = append(results, result{job: j.name, name: name, problems: m.problems, stolen: m.stolen})
				}()
			}
		}
	}
	wg.Wait()
	stolen := map[string]bool{}
	slices.SortFunc(results, func(a, b result) int { return strings.Compare(a.job+a.name, b.job+b.name) })
	for _, r := range results {
		stolen[r.job] = stolen[r.job] || r.stolen
		if len(r.problems) > 0 {
			t.Errorf("%s %s:\n%s", r.job, r.name, strings.Join(r.problems, "\n"))
		}
	}
	t.Logf("partial BatchWriteItem cases per job: %v", batches)
	if batches[matrixJobs[0].name] == 0 {
		t.Errorf("%s: no BatchWriteItem call for the partial-batch faults to hit: the unit's intents and outcomes are not batched", matrixJobs[0].name)
	}
	for _, j := range matrixJobs {
		if !stolen[j.name] {
			t.Errorf("%s: no lease-lost run found a lease to take: the fault never hit a held lease", j.name)
		}
	}
}

// matrixReference runs job cleanly and returns what AWS then holds and how
// many calls the run sent; a second clean run must write nothing.
func matrixReference(t *testing.T, name string, job matrixJob, setup func(*testing.T, *matrix)) (map[string]string, []string) {
	t.Helper()
	ref := newMatrix(t)
	if setup != nil {
		setup(t, ref)
	}
	before := len(ref.aws.Writes())
	p, err := ref.run(t, job, "", 0, time.Minute)
	if err != nil {
		t.Fatalf("%s: clean run: %v", name, err)
	}
	want := ref.state()
	for doc, st := range matrixForeign {
		hasAll(t, name+" "+doc, want[doc], st)
	}
	ref.checkOutcomes()
	if len(ref.problems) > 0 {
		t.Fatalf("%s: clean run:\n%s", name, strings.Join(ref.problems, "\n"))
	}
	writes := ref.aws.Writes()
	t.Logf("%s: the clean run sends %d calls: %s", name, len(p.calls), strings.Join(p.calls, " "))
	t.Logf("%s: and writes %d times: %s", name, len(writes)-before, strings.Join(writes[before:], "; "))
	if _, err := ref.run(t, job, "", 0, time.Minute); err != nil || len(ref.aws.Writes()) != len(writes) {
		t.Fatalf("%s: a second clean run: error %v, writes %v; want none", name, err, ref.aws.Writes()[len(writes):])
	}
	return want, p.calls
}

// matrixCase runs job in m with fault at call k, then as the sweep and the
// retry follow it, checks what m's hooks cannot check call by call, and
// returns the case's name (the fault, k and the call it hit).
func matrixCase(t *testing.T, m *matrix, job matrixJob, fault matrixFault, k int, want map[string]string) string {
	ttl := time.Minute
	if fault == faultLeaseLost {
		ttl = time.Second // lapses within the test's patience
	}
	p, ferr := m.run(t, job, fault, k, ttl)
	hit := "(not reached)"
	if len(p.calls) >= k {
		hit = p.calls[k-1]
	}
	if ferr == nil && fault != faultDies {
		// SQS deletes the message, Lambda drops the event: the run must
		// have converged.
		if d := diffStates(m.state(), want); len(d) > 0 {
			m.problem("the faulty run answered success but AWS differs from the clean run:\n%s", strings.Join(d, "\n"))
		}
		for _, open := range m.audit.open() {
			m.problem("the faulty run answered success with a record open: %s", open)
		}
	}
	// Past the stale age: the sweep settles what the run left open from
	// what AWS holds now; then the run is delivered again, its lease long
	// lapsed; a later sweep finds nothing more to settle.
	if err := m.sweep(t); err != nil {
		m.problem("the sweep failed to settle: %v", err)
	}
	m.leases.lapseAll()
	if _, err := m.run(t, job, "", 0, time.Minute); err != nil {
		m.problem("the retry failed: %v", err)
	}
	if err := m.sweep(t); err != nil {
		m.problem("the second sweep failed to settle: %v", err)
	}
	if d := diffStates(m.state(), want); len(d) > 0 {
		m.problem("after the retry AWS differs from the clean run:\n%s", strings.Join(d, "\n"))
	}
	m.checkOutcomes()
	return fmt.Sprintf("%s/k=%02d/%s", fault, k, hit)
}
