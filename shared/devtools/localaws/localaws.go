// Package localaws runs the project's local AWS: moto server, extended by the
// project's own Python launcher (motoext.py) with the ECR and ECR Public
// operations moto lacks. Tests, the demo and `make emulator` all start it
// through this package so every AWS call goes through the real SDK over HTTP.
// A Proxy in front of it counts calls and injects faults.
//
// Added by motoext.py (per account and region, wiped by Reset):
//
//   - ECR pull-through-cache rules (Create/Describe/Update/Delete/Validate),
//     50 per registry, prefix pattern and length, upstream URL checks; a
//     credentialArn must be the full ARN (with Secrets Manager's suffix) of
//     an existing secret ecr-pullthroughcache/... in the registry's account
//     and region (else SecretNotFoundException); an update needs a
//     credential or a role ("Please set either credential arn or role arn");
//     every PTC call in a cn-* or us-gov-* region is refused.
//
//   - Registry and repository policies (private and ECR Public) naming an
//     IAM role or user that does not exist are refused, as AWS refuses them
//     (InvalidParameterException, "Invalid registry policy provided" /
//     "Principal not found"), but only in accounts the local AWS knows: an
//     account of an organization it holds, or one whose IAM has a role or a
//     user. Principals in other (made-up) accounts are accepted unchecked.
//
//   - ECR PutAccountSetting/GetAccountSetting (REGISTRY_POLICY_SCOPE defaults
//     to V2, as AWS configures new registries; V1 can be set for tests),
//     and PutRegistryPolicy honouring the scope: V1 accepts only
//     ecr:ReplicateImage, ecr:BatchImportUpstreamImage, ecr:CreateRepository
//     (else InvalidParameterException "Invalid registry policy provided").
//
//   - ECR repository creation templates (Create/Describe/Update/Delete).
//
//   - ECR Public repositories, policies and tags, us-east-1 only: other
//     regions answer UnsupportedCommandException.
//
//   - Resource Groups Tagging API GetResources also returns tagged ECR
//     repositories (type filter "ecr" or "ecr:repository", or none), with
//     tag filters and pagination as moto applies them to other services, so
//     tag-based grants can be resolved with listing pages.
//
//   - Organizations DescribeAccount answers Account.Paths (the account's
//     entity path, o-x/r-y/ou-a/.../<account id>/), which the Organizations
//     API reference lists in the answer and moto leaves out.
//
//   - DynamoDB refuses an expression string (UpdateExpression,
//     ConditionExpression, KeyConditionExpression, FilterExpression,
//     ProjectionExpression, also in transaction and BatchGetItem items) over
//     4 KB (4096 bytes) with a ValidationException, "Invalid <name>:
//     Expression size has exceeded the maximum allowed size; expression
//     size: N", as AWS does; moto takes any length.
//
//   - IAM PutRolePolicy refuses a policy that would take the role's inline
//     policies, together, past 10,240 characters (whitespace not counted)
//     with LimitExceeded, as IAM does; moto stores any size.
//
//   - IAM CreateRole, UpdateAssumeRolePolicy, PutRolePermissionsBoundary and
//     PutRolePolicy refuse what IAM documents a refusal for: names and paths
//     outside the model's pattern and length (ValidationError), a role name
//     taken in another case (EntityAlreadyExists), a trust policy that is not
//     one, names a role or user that does not exist in an account the local
//     AWS knows (MalformedPolicyDocument, "Invalid principal in policy") or
//     passes 2,048 characters (LimitExceeded), a permissions boundary in the
//     role's account that does not exist (NoSuchEntity), an inline policy
//     with a Principal (MalformedPolicyDocument). moto takes all of them.
//     SeedAssumedRoles creates the PTC role's boundary the member StackSet
//     creates.
//
//   - Organizations DescribeAccount of an id that is not 12 digits answers
//     InvalidInputException (reason INVALID_PATTERN or MAX_LENGTH_EXCEEDED),
//     as the API reference's pattern says; moto answers AccountNotFound.
//
//   - STS AssumeRole into a role that does not exist (looked up by its full
//     ARN in its account's IAM) is refused as AWS refuses it: HTTP 403,
//     AccessDenied, "User: <caller> is not authorized to perform:
//     sts:AssumeRole on resource: <role arn>"; moto hands out keys for any
//     ARN. The harness's own session name "localaws" (AccountConfig) is
//     exempt: it stands for the test's administrator access to every
//     account. SeedAssumedRoles creates the roles ecr-warden assumes.
//
//   - Calls that carry the harness's X-Localaws-Call-Id (every config this
//     package builds sends one per SDK call, the same on its retries) are
//     answered once: a call id seen before gets the answer it got, as an
//     idempotency token would, so the harness's retry of a read that failed
//     on the client never acts twice. Calls without it are untouched.
//
//   - DynamoDB TransactWriteItems honours ClientRequestToken as AWS does:
//     the same token with the same parameters as a transaction that
//     succeeded in the last 10 minutes answers success and changes nothing
//     (the SDK's retry of a transaction whose answer was lost carries the
//     first attempt's token), with other parameters
//     IdempotentParameterMismatchException; moto ignores the token.
//
//   - DynamoDB refuses before acting, with a ValidationException, what the
//     API reference and developer guide say AWS refuses and moto took: a
//     BatchWriteItem naming one item twice (by its key, put or delete), with
//     more than 25 requests or an item over 400 KB (moto wrote the items
//     before it); an expression attribute name or value no expression of its
//     request or transaction action uses (moto: names only), an empty such
//     map, or one without expressions; an empty or repeating set or a number
//     past 38 digits or DynamoDB's range anywhere in a request's values; put
//     items over 4 MB in one transaction. An action that takes an item past
//     400 KB cancels its transaction (TransactionCanceledException, reason
//     ValidationError), where moto answered a bare ValidationException.
//
//   - SQS SendMessageBatch refuses an entry Id outside ASCII letters, digits,
//     '-' and '_' (moto took any Unicode letter), a MessageDeduplicationId or
//     MessageGroupId outside 1-128 letters, digits and punctuation, and
//     counts message sizes in UTF-8 bytes, not characters.
//
//   - STS AssumeRole refuses a session name outside 2-64 characters of
//     [\w+=,.@-], a DurationSeconds outside 900-43200, over the role's
//     MaxSessionDuration, or over an hour for a chained session.
//
// Known differences from AWS: no authorization (any principal may call
// anything, trust policies are not evaluated: AssumeRole needs only the role
// to exist), principals are checked only in
// accounts the local AWS knows (see above), the error text ECR Public and
// unsupported PTC regions answer is not documented, ValidatePullThroughCacheRule
// cannot reach an upstream (it reports a rule valid when its credential
// secret exists and, for a customRoleArn, when the role exists and its trust
// lets pullthroughcache.ecr.amazonaws.com assume it with the condition keys
// the emulated service sends: aws:SourceAccount and aws:SourceArn unless a
// test says otherwise with SetPTCServiceContext; its failure text is the
// emulator's own), creation templates are stored but never
// applied (moto never creates repositories on its own).
package localaws

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

//go:embed motoext.py
var launcher []byte

// startTimeout bounds how long Start waits for moto to answer.
const startTimeout = 120 * time.Second

// Server is one running moto process owned by this package.
type Server struct {
	// URL is the endpoint to give the SDK, e.g. http://127.0.0.1:40123.
	URL     string
	cmd     *exec.Cmd
	dir     string
	done    chan struct{} // closed when the process has exited
	waitErr error         // the process's exit status, set before done closes
	// apart serves DynamoDB behind router when Options.DynamoDBApart.
	apart  *Server
	router *router
}

// Options tune Start. The zero value picks a free loopback port.
type Options struct {
	Port   int      // 0 picks a free port
	Stdout *os.File // where moto's own log goes; nil discards it
	// DynamoDBApart serves DynamoDB from a second moto process behind one
	// endpoint, as AWS serves it apart from ECR, IAM and the rest: moto
	// answers on one Python thread at a time, so otherwise every audit and
	// lease call waits for the ECR calls before it and the reverse. Not for
	// CloudFormation deployments: a stack's tables would be created in the
	// first process, where DynamoDB calls no longer go.
	DynamoDBApart bool
}

// Start launches moto with the project's extension and waits until it answers.
func Start(ctx context.Context, opt Options) (*Server, error) {
	if short() {
		return nil, ErrShort
	}
	if opt.DynamoDBApart {
		return startApart(ctx, opt)
	}
	port := opt.Port
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("finding a free loopback port: %w", err)
		}
		port = p
	} else if err := portFree(port); err != nil {
		// moto would fail to bind and exit, but whatever holds the port (often another local AWS)
		// answers the readiness check first, so Start would report ready on someone else's server.
		return nil, err
	}
	dir, err := os.MkdirTemp("", "localaws-*")
	if err != nil {
		return nil, fmt.Errorf("creating launcher dir: %w", err)
	}
	script := filepath.Join(dir, "motoext.py")
	if err := os.WriteFile(script, launcher, 0o600); err != nil {
		return nil, fmt.Errorf("writing launcher: %w", err)
	}
	cmd := exec.Command(Python(), script, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = withoutEnv(os.Environ(), "MOTO_ACCOUNT_ID")
	if opt.Stdout != nil {
		cmd.Stdout, cmd.Stderr = opt.Stdout, opt.Stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto (%s): %w", cmd.Path, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	// Importing moto takes about half a second on a quiet machine, but far
	// longer when several test binaries start at once on two cores; a start
	// that merely waited its turn must not fail the run.
	deadline := time.Now().Add(startTimeout)
	for {
		if resp, err := http.Get(s.URL + "/moto-api/"); err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("moto exited before answering on %s: %v (is moto installed? `python3 -m pip install 'moto[server]==5.2.1'`)", s.URL, s.waitErr)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("moto did not answer on %s within %s", s.URL, startTimeout)
		}
	}
}

// Python is the interpreter the local AWS runs with ($PYTHON, else python3);
// moto and boto3 are installed into it (make moto), so tools that drive boto3
// against the local AWS use it too.
func Python() string {
	if p := os.Getenv("PYTHON"); p != "" {
		return p
	}
	return "python3"
}

// Reset wipes all state in every account and region, and sets the emulated
// pull-through-cache service back to its default request context.
func (s *Server) Reset() error {
	if s.apart != nil {
		if err := s.apart.Reset(); err != nil {
			return err
		}
	}
	return s.resetOne()
}

func (s *Server) resetOne() error {
	if err := os.Remove(filepath.Join(s.dir, ptcServiceFile)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("resetting the pull-through-cache service context: %w", err)
	}
	resp, err := http.Post(s.motoURL()+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("resetting moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resetting moto: HTTP %d", resp.StatusCode)
	}
	return nil
}

// ptcServiceFile is where SetPTCServiceContext tells motoext.py which
// condition keys the emulated pull-through-cache service sends.
const ptcServiceFile = "ptc-service.json"

// DefaultPTCServiceKeys are the condition keys the emulated pull-through-cache
// service sends when it assumes a rule's role (ValidatePullThroughCacheRule
// evaluates the role's trust policy against them). AWS does not document
// which keys the real service sends.
var DefaultPTCServiceKeys = []string{"aws:SourceAccount", "aws:SourceArn"}

// SetPTCServiceContext makes the emulated pull-through-cache service send
// only keys (aws:SourceAccount, aws:SourceArn) when it assumes a rule's role,
// so tests can play a service that does not send what a trust policy
// requires; Reset restores DefaultPTCServiceKeys.
func (s *Server) SetPTCServiceContext(keys ...string) error {
	if keys == nil {
		keys = []string{}
	}
	b, err := json.Marshal(map[string][]string{"sends": keys})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, ptcServiceFile), b, 0o600); err != nil {
		return fmt.Errorf("setting the pull-through-cache service context: %w", err)
	}
	return nil
}

// Stop ends the moto process group it started (by its own process id) and
// removes the launcher directory.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	if s.router != nil {
		s.router.close()
		s.router = nil
	}
	if s.apart != nil {
		_ = s.apart.Stop()
		s.apart = nil
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
	return os.RemoveAll(s.dir)
}

// Wait blocks until the server exits (used by `make emulator`); Stop may be
// called while another goroutine waits.
func (s *Server) Wait() error {
	<-s.done
	return s.waitErr
}

// Config returns an SDK config pointed at the server with static dummy
// credentials of the given account's default principal. Retries are off:
// unsupported calls answer HTTP 500, which the SDK would otherwise retry.
func (s *Server) Config(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.URL),
		Retryer:      testRetryer,
		HTTPClient:   testHTTPClient,
		APIOptions:   []func(*middleware.Stack) error{withCallID},
	}
}

// AccountConfig returns an SDK config acting in another account: it calls
// sts:AssumeRole for arn:aws:iam::<accountID>:role/<roleName> on the server
// with the session name "localaws" (moto switches account by the returned
// keys; the local AWS refuses AssumeRole into a role that does not exist,
// except for this session, the test's own administrator access) and
// wraps the temporary keys in static credentials. base is usually
// s.Config(region) or a proxy's Config, so the member's calls go where the
// caller's would.
func AccountConfig(ctx context.Context, base aws.Config, accountID, roleName string) (aws.Config, error) {
	roleARN := fmt.Sprintf("arn:aws:iam::%s:role/%s", accountID, roleName)
	out, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String("localaws"),
	})
	if err != nil {
		return aws.Config{}, fmt.Errorf("assuming role (%s): %w", roleARN, err)
	}
	cfg := base.Copy()
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg, nil
}

// testRetryer retries nothing but one client-side race: Go's transport can
// close a connection from its write loop while the response body is still
// being read, which the SDK reports as a 200 that failed to deserialize with
// "use of closed network connection" (aws/aws-sdk-go-v2#1825, #2737). It
// happens under load on loopback too. Every other error, including HTTP 500s
// for operations moto lacks and the faults a test injects, surfaces on the
// first attempt, so tests see exactly the calls they make.
func testRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}

// callIDHeader carries one id per SDK call (the same on its retries), so the
// local AWS answers a retry of a call it already answered with that answer
// instead of acting twice (motoext.py). The harness retries the closed
// connection race (testRetryer), which hits answers the server already gave:
// without the id a retried CreateRepository or CreateAccount acted twice.
const callIDHeader = "X-Localaws-Call-Id"

// withCallID adds callIDHeader in the build step, which runs once per call,
// before the retry loop of the finalize step.
func withCallID(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("localawsCallID", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			req.Header.Set(callIDHeader, strconv.FormatUint(callIDs.Add(1), 10)+"-"+callIDPrefix)
		}
		return next.HandleBuild(ctx, in)
	}), middleware.After)
}

var (
	callIDs      atomic.Uint64
	callIDPrefix = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())
)

// testHTTPClient opens a connection per request. moto's server can close a
// kept-alive connection just as the client reuses it; with retries off that
// race surfaced as "use of closed network connection" in tests under load.
// Loopback connections are cheap, so the harness avoids reuse altogether.
var testHTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.DisableKeepAlives = true
})

// portFree says whether a fixed port can be listened on, and if not, what to do.
func portFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is in use (another make emulator, or another program): stop it, "+
			"or pick a free port (make emulator EMULATOR_PORT=<port>): %w", port, err)
	}
	return l.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)+1] == key+"=" {
			continue
		}
		out = append(out, kv)
	}
	return out
}
