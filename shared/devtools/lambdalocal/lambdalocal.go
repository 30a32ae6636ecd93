// Package lambdalocal runs real Lambda `bootstrap` binaries on this machine
// under a small implementation of the Lambda Runtime API (2018-06-01).
//
// AWS's Runtime Interface Emulator cannot be installed here, and tests that
// call handlers in-process would skip what the deployed artefact really does
// (environment, init, the aws-lambda-go runtime loop, panics, exits, logs).
// So an Instance starts the binary as a child process with
// AWS_LAMBDA_RUNTIME_API pointing at a loopback server, hands it events
// through GET .../invocation/next and collects what it posts back, the way
// the Lambda service does: one process is one execution environment, it
// stays warm across invokes, at most one invoke runs in it at a time, it is
// killed on timeout and started again (a new cold start) after it dies.
package lambdalocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Defaults applied to a zero Function field.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultInitTimeout = 10 * time.Second // Lambda's init phase limit
	DefaultMemoryMB    = 128
	DefaultRegion      = "us-east-1"
	DefaultAccountID   = "123456789012"
	// MaxResponseSize is Lambda's synchronous response payload limit.
	MaxResponseSize = 6 * 1024 * 1024
)

// Function describes one Lambda function to run locally.
type Function struct {
	// Name is AWS_LAMBDA_FUNCTION_NAME and part of the invoked function ARN.
	Name string
	// Binary is the path of the `bootstrap` executable; its directory becomes
	// LAMBDA_TASK_ROOT and the working directory, as in Lambda.
	Binary string
	// Env is added to the Lambda-provided environment and wins over it
	// (except AWS_LAMBDA_RUNTIME_API), e.g. AWS_ENDPOINT_URL, WARDEN_*.
	Env map[string]string
	// Timeout is the function timeout per invoke (default 30s).
	Timeout time.Duration
	// InitTimeout bounds process start to the first /next (default 10s).
	InitTimeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	MemoryMB int
	// Region is AWS_REGION / AWS_DEFAULT_REGION (default us-east-1).
	Region string
	// AccountID is used in the invoked function ARN (default 123456789012).
	AccountID string
	// LogOutput, if set, also receives every log line as it is read, for
	// watching a run live; Result.Logs is filled either way.
	LogOutput io.Writer
}

// withDefaults validates f and fills its zero fields.
func (f Function) withDefaults() (Function, error) {
	if f.Binary == "" {
		return f, errors.New("starting local Lambda: Function.Binary is empty")
	}
	abs, err := filepath.Abs(f.Binary)
	if err != nil {
		return f, fmt.Errorf("starting local Lambda (%s): %w", f.Binary, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return f, fmt.Errorf("starting local Lambda: bootstrap binary (%s): %w", abs, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return f, fmt.Errorf("starting local Lambda: bootstrap binary (%s) is not an executable file", abs)
	}
	f.Binary = abs
	if f.Name == "" {
		f.Name = filepath.Base(filepath.Dir(abs))
	}
	if f.Timeout <= 0 {
		f.Timeout = DefaultTimeout
	}
	if f.InitTimeout <= 0 {
		f.InitTimeout = DefaultInitTimeout
	}
	if f.MemoryMB <= 0 {
		f.MemoryMB = DefaultMemoryMB
	}
	if f.Region == "" {
		f.Region = DefaultRegion
	}
	if f.AccountID == "" {
		f.AccountID = DefaultAccountID
	}
	return f, nil
}

// ARN is the invoked function ARN the runtime sees.
func (f Function) ARN() string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", f.Region, f.AccountID, f.Name)
}

// environment is the child's complete environment for one process start.
// The host environment is not inherited (Lambda does not inherit the
// caller's shell either), except AWS credentials when the caller gave none.
func (f Function) environment(runtimeAPI string) []string {
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        f.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      f.Region,
		"AWS_DEFAULT_REGION":              f.Region,
		"LAMBDA_TASK_ROOT":                filepath.Dir(f.Binary),
		"_HANDLER":                        "bootstrap",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
	}
	// Credentials: the caller's Env wins; otherwise the host's (so a run
	// against a real endpoint works with exported credentials); otherwise
	// the static dummies moto accepts.
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		env["AWS_ACCESS_KEY_ID"] = os.Getenv("AWS_ACCESS_KEY_ID")
		env["AWS_SECRET_ACCESS_KEY"] = os.Getenv("AWS_SECRET_ACCESS_KEY")
		if t := os.Getenv("AWS_SESSION_TOKEN"); t != "" {
			env["AWS_SESSION_TOKEN"] = t
		}
	} else {
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "testing", "testing"
	}
	for k, v := range f.Env {
		env[k] = v
	}
	env["AWS_LAMBDA_RUNTIME_API"] = runtimeAPI
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Result is what one invoke produced, as the Lambda Invoke API and the
// REPORT log line would tell it.
type Result struct {
	RequestID string
	// Payload is the response body the function posted (nil on error).
	Payload []byte
	// Err is set when the invoke failed: a handler error or panic, a crash
	// (Runtime.ExitError), a timeout (Sandbox.Timedout) or a failed init.
	Err *FunctionError
	// Logs are the lines the process wrote to stdout and stderr since the
	// previous invoke ended (on a cold start this includes init output).
	Logs []string
	// Cold is true when this invoke started a new process.
	Cold bool
	// InitDuration is set on cold starts: process start to its first
	// GET /next, i.e. Lambda's "Init Duration".
	InitDuration time.Duration
	// Duration is event handed out to response or error received
	// (Lambda's "Duration"), or to the timeout/crash.
	Duration time.Duration
}

// FunctionError is a failed invoke as Lambda reports it: errorType and
// errorMessage, plus the raw error document the runtime posted.
type FunctionError struct {
	Type    string
	Message string
	// Body is the error JSON posted by the runtime (nil for errors the
	// harness produced, such as timeouts and exits).
	Body []byte
}

// Error makes a FunctionError usable as a Go error.
func (e *FunctionError) Error() string {
	return e.Type + ": " + e.Message
}

// Error types the harness itself reports, matching Lambda's.
const (
	ErrorTypeExit        = "Runtime.ExitError"
	ErrorTypeTimeout     = "Sandbox.Timedout"
	ErrorTypeInitTimeout = "Runtime.InitTimeout"
	ErrorTypeTooLarge    = "Function.ResponseSizeTooLarge"
)

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("local Lambda instance is closed")

// Instance is one execution environment of a Function: at most one process
// at a time, serving at most one invoke at a time.
type Instance struct {
	fn  Function
	sem chan struct{} // one invoke at a time

	mu     sync.Mutex
	proc   *process
	closed bool
	carry  []string // log lines of a dead process not yet given to an invoke
}

// Start validates fn and starts its process right away, so the init phase
// runs while the caller prepares its first event (Lambda does the same for
// provisioned environments; the init time is reported on the first invoke
// either way).
func Start(ctx context.Context, fn Function) (*Instance, error) {
	f, err := fn.withDefaults()
	if err != nil {
		return nil, err
	}
	i := &Instance{fn: f, sem: make(chan struct{}, 1)}
	p, err := startProcess(f)
	if err != nil {
		return nil, err
	}
	i.proc = p
	if ctx.Err() != nil {
		i.Close()
		return nil, ctx.Err()
	}
	return i, nil
}

// Function returns the function definition with defaults applied.
func (i *Instance) Function() Function { return i.fn }

// Invoke delivers payload as one event and waits for the outcome. Function
// failures are in Result.Err; the error return is for the harness itself
// (cannot start the process, ctx cancelled, instance closed). Concurrent
// calls are served one after another.
func (i *Instance) Invoke(ctx context.Context, payload []byte) (Result, error) {
	select {
	case i.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-i.sem }()
	// A process that died between invokes (e.g. after a panic) never saw
	// this event, so starting a fresh one and trying again is what Lambda
	// does too; once is enough, a second death is reported.
	for attempt := 0; ; attempt++ {
		p, err := i.process()
		if err != nil {
			return Result{}, err
		}
		res, undelivered, err := i.invokeOn(ctx, p, payload)
		if undelivered && attempt == 0 {
			continue
		}
		return res, err
	}
}

// process returns the live process, starting a new one if there is none.
func (i *Instance) process() (*process, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, ErrClosed
	}
	if i.proc != nil && !i.proc.hasExited() {
		return i.proc, nil
	}
	if i.proc != nil {
		i.carry = append(i.carry, i.proc.logs.take()...)
	}
	p, err := startProcess(i.fn)
	if err != nil {
		return nil, err
	}
	i.proc = p
	return p, nil
}

// retire drops p after it was killed or died, keeping its last log lines.
func (i *Instance) retire(p *process) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc == p {
		i.proc = nil
	}
}

// keep holds lines for the next invoke's Result.Logs.
func (i *Instance) keep(lines []string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.carry = append(i.carry, lines...)
}

// logs returns the carried-over lines plus everything p has written so far.
func (i *Instance) logs(p *process) []string {
	p.logs.drain()
	i.mu.Lock()
	defer i.mu.Unlock()
	out := append(i.carry, p.logs.take()...)
	i.carry = nil
	return out
}

// invokeOn runs one event on p. undelivered reports that p died before it
// took the event, so the caller may retry on a new process.
func (i *Instance) invokeOn(ctx context.Context, p *process, payload []byte) (res Result, undelivered bool, err error) {
	res.Cold = !p.initReported
	if res.Cold {
		p.initReported = true
		fe, err := i.awaitInit(ctx, p)
		if err != nil { // the caller gave up; the init goes on for the next invoke
			p.initReported = false
			return res, false, err
		}
		if fe != nil {
			res.InitDuration = p.initDuration()
			res.Err = fe
			res.Logs = i.logs(p)
			return res, false, nil
		}
		res.InitDuration = p.initDuration()
	}

	inv := newInvocation(payload, i.fn)
	res.RequestID = inv.id
	timer := time.NewTimer(i.fn.Timeout)
	defer timer.Stop()

	// Hand the event to the runtime's pending GET /next.
	select {
	case p.pending <- inv:
		inv.deliveredAt = time.Now()
	case <-p.exited:
		res.Logs = i.logs(p)
		i.retire(p)
		if res.Cold { // died right after its first /next: an init crash in all but name
			res.Err = exitError(inv.id, p.exitErr)
			return res, false, nil
		}
		i.keep(res.Logs)
		return Result{}, true, nil
	case <-ctx.Done():
		return res, false, ctx.Err()
	case <-timer.C:
		i.kill(p)
		res.Err = timeoutError(i.fn.Timeout)
		res.Logs = i.logs(p)
		return res, false, nil
	}

	select {
	case o := <-inv.done:
		res.Duration = o.at.Sub(inv.deliveredAt)
		res.Payload, res.Err = o.payload, o.err
		res.Logs = i.logs(p)
	case <-p.exited:
		res.Duration = time.Since(inv.deliveredAt)
		// The runtime may have posted its answer right before exiting (a
		// panic does exactly that); the answer wins over the exit.
		select {
		case o := <-inv.done:
			res.Payload, res.Err = o.payload, o.err
		default:
			res.Err = exitError(inv.id, p.exitErr)
		}
		res.Logs = i.logs(p)
		i.retire(p)
	case <-timer.C:
		res.Duration = i.fn.Timeout
		i.kill(p)
		res.Err = timeoutError(i.fn.Timeout)
		res.Logs = i.logs(p)
	case <-ctx.Done():
		// The handler is still running and cannot be interrupted; the
		// environment is unusable, as after a timeout.
		i.kill(p)
		i.logs(p) // dropped: nobody receives this invoke's result
		return res, false, ctx.Err()
	}
	return res, false, nil
}

// awaitInit waits for p's first GET /next. A failed init comes back as a
// FunctionError (posted to /init/error, an exit, or the init timeout).
func (i *Instance) awaitInit(ctx context.Context, p *process) (*FunctionError, error) {
	// A warm process invoked long after it started is ready already; check
	// first, because select picks at random among ready cases and the init
	// timer below would have fired too.
	select {
	case <-p.ready:
		return nil, nil
	default:
	}
	timer := time.NewTimer(time.Until(p.started.Add(i.fn.InitTimeout)))
	defer timer.Stop()
	select {
	case <-p.ready:
		return nil, nil
	case fe := <-p.initErr:
		i.kill(p)
		return fe, nil
	case <-p.exited:
		i.retire(p)
		select {
		case fe := <-p.initErr:
			return fe, nil
		default:
		}
		return exitError("", p.exitErr), nil
	case <-timer.C:
		i.kill(p)
		return &FunctionError{Type: ErrorTypeInitTimeout, Message: fmt.Sprintf("Init phase did not finish within %s", i.fn.InitTimeout)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// kill ends p at once (SIGKILL to its process group, as Lambda does on a
// timeout) and forgets it so the next invoke starts a new one.
func (i *Instance) kill(p *process) {
	p.stop(0)
	i.retire(p)
}

// Close stops the process (SIGTERM, then SIGKILL after two seconds) and
// makes further invokes fail with ErrClosed.
func (i *Instance) Close() error {
	i.mu.Lock()
	i.closed = true
	p := i.proc
	i.proc = nil
	i.mu.Unlock()
	if p != nil {
		p.stop(2 * time.Second)
	}
	return nil
}

func exitError(requestID string, err error) *FunctionError {
	reason := "Runtime exited without providing a reason"
	if err != nil {
		reason = "Runtime exited with error: " + err.Error()
	}
	if requestID != "" {
		reason = "RequestId: " + requestID + " Error: " + reason
	}
	return &FunctionError{Type: ErrorTypeExit, Message: reason}
}

func timeoutError(d time.Duration) *FunctionError {
	return &FunctionError{Type: ErrorTypeTimeout, Message: fmt.Sprintf("Task timed out after %.2f seconds", d.Seconds())}
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newRequestID returns a random UUID (version 4), the shape of Lambda's
// request ids.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
