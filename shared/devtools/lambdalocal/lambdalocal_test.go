package lambdalocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// echoBinary is the test Lambda built once for this test binary.
var echoBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdalocal-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	echoBinary, err = BuildHost(context.Background(), "./testdata/echo", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// echoResponse mirrors testdata/echo's response.
type echoResponse struct {
	Echo        json.RawMessage   `json:"echo"`
	Env         map[string]string `json:"env"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineIn  int64             `json:"deadlineInMs"`
	TraceID     string            `json:"traceId"`
	Pid         int               `json:"pid"`
	InFlight    int32             `json:"inFlight"`
}

func start(t *testing.T, fn Function) *Instance {
	t.Helper()
	if fn.Binary == "" {
		fn.Binary = echoBinary
	}
	if fn.Name == "" {
		fn.Name = "echo"
	}
	i, err := Start(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	return i
}

func invoke(t *testing.T, i *Instance, event any) Result {
	t.Helper()
	payload, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := i.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return res
}

// ok decodes a successful echo response, failing the test otherwise.
func ok(t *testing.T, res Result) echoResponse {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("invoke failed: %v\nlogs: %q", res.Err, res.Logs)
	}
	var out echoResponse
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("decoding response %q: %v", res.Payload, err)
	}
	return out
}

func TestInvokeReturnsResponseWithLambdaContext(t *testing.T) {
	i := start(t, Function{Timeout: 20 * time.Second, Region: "eu-west-1", AccountID: "111111111111"})
	res := invoke(t, i, map[string]any{"echo": map[string]any{"hello": "world", "n": 1}})
	out := ok(t, res)
	if string(out.Echo) != `{"hello":"world","n":1}` {
		t.Errorf("echo = %s, want the event's echo field back", out.Echo)
	}
	if out.RequestID == "" || out.RequestID != res.RequestID {
		t.Errorf("request id seen by the function %q, reported %q: want equal and non-empty", out.RequestID, res.RequestID)
	}
	if want := "arn:aws:lambda:eu-west-1:111111111111:function:echo"; out.FunctionARN != want {
		t.Errorf("invoked function ARN = %q, want %q", out.FunctionARN, want)
	}
	if out.DeadlineIn <= 15_000 || out.DeadlineIn > 20_000 {
		t.Errorf("deadline %d ms ahead, want (15000, 20000] for a 20 s timeout", out.DeadlineIn)
	}
	if !strings.HasPrefix(out.TraceID, "Root=1-") {
		t.Errorf("_X_AMZN_TRACE_ID = %q, want an X-Ray trace header", out.TraceID)
	}
	if !res.Cold || res.InitDuration <= 0 {
		t.Errorf("first invoke: Cold=%v InitDuration=%v, want a cold start with an init time", res.Cold, res.InitDuration)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", res.Duration)
	}

	res2 := invoke(t, i, map[string]any{"echo": "again"})
	out2 := ok(t, res2)
	if out2.Pid != out.Pid {
		t.Errorf("second invoke ran in pid %d, first in %d: want the same warm process", out2.Pid, out.Pid)
	}
	if res2.Cold || res2.InitDuration != 0 {
		t.Errorf("second invoke: Cold=%v InitDuration=%v, want warm", res2.Cold, res2.InitDuration)
	}
	if res2.RequestID == res.RequestID {
		t.Errorf("both invokes got request id %q", res.RequestID)
	}
}

func TestEnvironmentMatchesLambdaAndCallerEnv(t *testing.T) {
	t.Setenv("LAMBDALOCAL_HOST_ONLY", "leak")
	i := start(t, Function{Name: "ecr-warden-repository", MemoryMB: 256, Region: "us-west-2", Env: map[string]string{
		"AWS_ENDPOINT_URL":        "http://127.0.0.1:1",
		"WARDEN_DECLARATION_FILE": "/tmp/declaration.json",
		"AWS_ACCESS_KEY_ID":       "AKIDLOCAL",
		"AWS_LAMBDA_RUNTIME_API":  "caller cannot override this",
	}})
	keys := []string{"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION",
		"AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_ENDPOINT_URL", "WARDEN_DECLARATION_FILE", "LAMBDALOCAL_HOST_ONLY"}
	out := ok(t, invoke(t, i, map[string]any{"env": keys}))
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "ecr-warden-repository",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/ecr-warden-repository",
		"AWS_REGION":                      "us-west-2",
		"AWS_DEFAULT_REGION":              "us-west-2",
		"LAMBDA_TASK_ROOT":                filepath.Dir(echoBinary),
		"_HANDLER":                        "bootstrap",
		"AWS_ACCESS_KEY_ID":               "AKIDLOCAL",
		"AWS_ENDPOINT_URL":                "http://127.0.0.1:1",
		"WARDEN_DECLARATION_FILE":         "/tmp/declaration.json",
		"LAMBDALOCAL_HOST_ONLY":           "",
	}
	for k, v := range want {
		if out.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, out.Env[k], v)
		}
	}
	if api := out.Env["AWS_LAMBDA_RUNTIME_API"]; !strings.HasPrefix(api, "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q, want a loopback host:port", api)
	}
	if out.Env["AWS_LAMBDA_LOG_STREAM_NAME"] == "" || out.Env["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Errorf("log stream %q / secret key %q: want both set", out.Env["AWS_LAMBDA_LOG_STREAM_NAME"], out.Env["AWS_SECRET_ACCESS_KEY"])
	}
}

func TestFunctionErrorKeepsProcessWarm(t *testing.T) {
	i := start(t, Function{})
	first := ok(t, invoke(t, i, map[string]any{}))
	res := invoke(t, i, map[string]any{"error": "repository policy too large"})
	if res.Err == nil {
		t.Fatalf("want a function error, got payload %s", res.Payload)
	}
	if res.Err.Type != "CustomError" || res.Err.Message != "repository policy too large" {
		t.Errorf("error = %+v, want CustomError: repository policy too large", res.Err)
	}
	if res.Payload != nil {
		t.Errorf("payload %q on error, want none", res.Payload)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.Err.Body, &doc); err != nil || doc["errorType"] != "CustomError" {
		t.Errorf("error body %s: want the runtime's JSON document", res.Err.Body)
	}
	if !slices.ContainsFunc(res.Logs, func(l string) bool { return strings.Contains(l, `"errorType":"CustomError"`) }) {
		t.Errorf("logs %q: want aws-lambda-go's error line", res.Logs)
	}
	after := invoke(t, i, map[string]any{})
	if ok(t, after).Pid != first.Pid || after.Cold {
		t.Errorf("after a handled error the process changed (cold=%v): want it kept warm", after.Cold)
	}
}

func TestPanicReportsErrorAndRestartsProcess(t *testing.T) {
	i := start(t, Function{})
	first := ok(t, invoke(t, i, map[string]any{}))
	res := invoke(t, i, map[string]any{"panic": "nil map in policy merge"})
	if res.Err == nil || res.Err.Type != "string" || res.Err.Message != "nil map in policy merge" {
		t.Fatalf("error = %+v, want errorType string (the panic value's type) and the panic message", res.Err)
	}
	if !strings.Contains(string(res.Err.Body), `"stackTrace"`) {
		t.Errorf("error body %s: want the panic's stack trace", res.Err.Body)
	}
	next := invoke(t, i, map[string]any{})
	out := ok(t, next)
	if out.Pid == first.Pid || !next.Cold || next.InitDuration <= 0 {
		t.Errorf("after a panic: pid %d (was %d), cold=%v, init=%v; want a new process with a reported init", out.Pid, first.Pid, next.Cold, next.InitDuration)
	}
	// aws-lambda-go logs "... the process should exit" after posting the
	// error; the line lands in the panicking invoke's logs or, if it was
	// written after that invoke returned, in the next one's.
	both := append(slices.Clone(res.Logs), next.Logs...)
	if !slices.ContainsFunc(both, func(l string) bool { return strings.Contains(l, "should exit") }) {
		t.Errorf("logs %q then %q: want the dead process's last line in one of them", res.Logs, next.Logs)
	}
}

func TestCrashDuringInvokeIsExitErrorAndNextInvokeRestarts(t *testing.T) {
	i := start(t, Function{})
	res := invoke(t, i, map[string]any{"log": []string{"about to crash"}, "exit": 7})
	if res.Err == nil || res.Err.Type != ErrorTypeExit {
		t.Fatalf("error = %+v, want %s", res.Err, ErrorTypeExit)
	}
	if want := "RequestId: " + res.RequestID + " Error: Runtime exited with error: exit status 7"; res.Err.Message != want {
		t.Errorf("message = %q, want %q", res.Err.Message, want)
	}
	if !slices.Contains(res.Logs, "about to crash") {
		t.Errorf("logs %q: want the line printed before the crash", res.Logs)
	}
	next := invoke(t, i, map[string]any{"echo": 1})
	if ok(t, next); !next.Cold || next.InitDuration <= 0 {
		t.Errorf("invoke after the crash: cold=%v init=%v, want a cold start", next.Cold, next.InitDuration)
	}
}

func TestTimeoutKillsProcess(t *testing.T) {
	i := start(t, Function{Timeout: time.Second})
	first := ok(t, invoke(t, i, map[string]any{}))
	res := invoke(t, i, map[string]any{"log": []string{"sleeping"}, "sleepMs": 60_000})
	if res.Err == nil || res.Err.Type != ErrorTypeTimeout || res.Err.Message != "Task timed out after 1.00 seconds" {
		t.Fatalf("error = %+v, want Sandbox.Timedout: Task timed out after 1.00 seconds", res.Err)
	}
	if !slices.Contains(res.Logs, "sleeping") {
		t.Errorf("logs %q: want the line printed before the timeout", res.Logs)
	}
	next := invoke(t, i, map[string]any{})
	if out := ok(t, next); out.Pid == first.Pid || !next.Cold {
		t.Errorf("after a timeout: pid %d (was %d), cold=%v; want a new process", out.Pid, first.Pid, next.Cold)
	}
}

func TestLogsAreCapturedPerInvoke(t *testing.T) {
	i := start(t, Function{})
	r1 := invoke(t, i, map[string]any{"log": []string{"a1", "a2"}, "stderr": []string{"e1"}})
	ok(t, r1)
	if want := []string{"echo init", "a1", "a2", "e1"}; !slices.Equal(r1.Logs, want) {
		t.Errorf("cold invoke logs = %q, want %q (init output, then stdout and stderr in order)", r1.Logs, want)
	}
	r2 := invoke(t, i, map[string]any{"log": []string{"b1"}})
	ok(t, r2)
	if want := []string{"b1"}; !slices.Equal(r2.Logs, want) {
		t.Errorf("warm invoke logs = %q, want %q", r2.Logs, want)
	}
	r3 := invoke(t, i, map[string]any{})
	ok(t, r3)
	if len(r3.Logs) != 0 {
		t.Errorf("quiet invoke logs = %q, want none", r3.Logs)
	}
}

func TestLogOutputReceivesLinesLive(t *testing.T) {
	var buf syncBuffer
	i := start(t, Function{LogOutput: &buf})
	ok(t, invoke(t, i, map[string]any{"log": []string{"live"}}))
	if got := buf.String(); got != "echo init\nlive\n" {
		t.Errorf("LogOutput got %q, want the same lines as Result.Logs", got)
	}
}

func TestInitDurationCoversInitWork(t *testing.T) {
	i := start(t, Function{Env: map[string]string{"ECHO_INIT_SLEEP_MS": "150"}})
	res := invoke(t, i, map[string]any{})
	ok(t, res)
	if res.InitDuration < 150*time.Millisecond {
		t.Errorf("InitDuration = %v, want at least the 150ms the init sleeps", res.InitDuration)
	}
}

func TestInitErrorIsReported(t *testing.T) {
	i := start(t, Function{Env: map[string]string{"ECHO_INIT_ERROR": "declaration file missing"}})
	for attempt := 1; attempt <= 2; attempt++ { // each invoke retries the init, as Lambda does
		res := invoke(t, i, map[string]any{})
		if res.Err == nil || res.Err.Type != "EchoInitError" || res.Err.Message != "declaration file missing" {
			t.Fatalf("attempt %d: error = %+v, want EchoInitError: declaration file missing", attempt, res.Err)
		}
		if !res.Cold || !slices.Contains(res.Logs, "echo init") {
			t.Errorf("attempt %d: cold=%v logs=%q, want a cold start with the init output", attempt, res.Cold, res.Logs)
		}
	}
}

func TestExitDuringInitIsExitError(t *testing.T) {
	i := start(t, Function{Env: map[string]string{"ECHO_INIT_EXIT": "1"}})
	res := invoke(t, i, map[string]any{})
	if res.Err == nil || res.Err.Type != ErrorTypeExit || res.Err.Message != "Runtime exited with error: exit status 4" {
		t.Fatalf("error = %+v, want Runtime.ExitError: Runtime exited with error: exit status 4", res.Err)
	}
	if !slices.Contains(res.Logs, "echo exiting during init") {
		t.Errorf("logs %q: want the init output", res.Logs)
	}
}

func TestResponseOverSixMBFails(t *testing.T) {
	i := start(t, Function{})
	res := invoke(t, i, map[string]any{"big": MaxResponseSize + 10})
	if res.Err == nil || res.Err.Type != ErrorTypeTooLarge {
		t.Fatalf("error = %+v, want %s", res.Err, ErrorTypeTooLarge)
	}
	ok(t, invoke(t, i, map[string]any{"echo": "still usable"}))
}

func TestConcurrentInvokesOnOneInstanceAreSerialised(t *testing.T) {
	i := start(t, Function{})
	const n = 6
	results := make([]Result, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() { results[k] = invoke(t, i, map[string]any{"sleepMs": 20}) })
	}
	wg.Wait()
	pids := map[int]bool{}
	for k, res := range results {
		out := ok(t, res)
		pids[out.Pid] = true
		if out.InFlight != 1 {
			t.Errorf("invoke %d saw %d handlers in flight, want 1", k, out.InFlight)
		}
	}
	if len(pids) != 1 {
		t.Errorf("invokes ran in %d processes, want 1", len(pids))
	}
}

func TestPoolRunsInvokesInParallelProcesses(t *testing.T) {
	const n = 3
	pool, err := NewPool(context.Background(), Function{Name: "echo", Binary: echoBinary}, n)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Each invoke announces itself and then waits for all of them: this only
	// finishes if the n invokes are running at the same time.
	dir := t.TempDir()
	release := filepath.Join(dir, "go")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		payload, _ := json.Marshal(map[string]any{"touch": filepath.Join(dir, fmt.Sprint(k)), "waitFor": release})
		wg.Go(func() { results[k], errs[k] = pool.Invoke(ctx, payload) })
	}
	for k := 0; k < n; {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprint(k))); err == nil {
			k++
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d invokes started concurrently", k, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	pids := map[int]bool{}
	for k := range n {
		if errs[k] != nil {
			t.Fatalf("invoke %d: %v", k, errs[k])
		}
		pids[ok(t, results[k]).Pid] = true
	}
	if len(pids) != n {
		t.Errorf("%d invokes ran in %d processes, want %d", n, len(pids), n)
	}
}

func TestCloseSendsSIGTERMToExtensionAwareRuntime(t *testing.T) {
	var buf syncBuffer
	i := start(t, Function{LogOutput: &buf, Env: map[string]string{"ECHO_SIGTERM": "1"}})
	ok(t, invoke(t, i, map[string]any{}))
	i.Close()
	if !strings.Contains(buf.String(), "echo got SIGTERM\n") {
		t.Errorf("output %q: want the SIGTERM handler's line (extension registered, graceful shutdown)", buf.String())
	}
}

func TestInvokeAfterCloseFails(t *testing.T) {
	i := start(t, Function{})
	i.Close()
	if _, err := i.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v, want ErrClosed", err)
	}
}

func TestInvokeHonoursContext(t *testing.T) {
	i := start(t, Function{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := i.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke with a cancelled context: %v, want context.Canceled", err)
	}
	ok(t, invoke(t, i, map[string]any{}))
}

func TestStartRejectsMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Function{Name: "repository", Binary: "/nonexistent/bootstrap"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/bootstrap") {
		t.Errorf("Start with a missing binary: %v, want an error naming the path", err)
	}
	_, err = Start(context.Background(), Function{Binary: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Errorf("Start with a directory: %v, want 'not an executable file'", err)
	}
}

func TestMeasureReportsSizeInitAndPercentiles(t *testing.T) {
	st, err := Measure(context.Background(), Function{Name: "echo", Binary: echoBinary}, []byte(`{"echo":1}`), 20)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(echoBinary)
	if st.BinarySize != fi.Size() || st.N != 20 {
		t.Errorf("size %d n %d, want %d and 20", st.BinarySize, st.N, fi.Size())
	}
	if st.Init <= 0 || st.First <= 0 || st.InvokeP50 <= 0 || st.InvokeP50 > st.InvokeP95 || st.InvokeP95 > st.InvokeMax {
		t.Errorf("stats %+v: want positive init/first and p50 <= p95 <= max", st)
	}
	t.Log(st)
	if _, err := Measure(context.Background(), Function{Name: "echo", Binary: echoBinary}, []byte(`{"error":"x"}`), 2); err == nil || !strings.Contains(err.Error(), "invoke 1 failed") {
		t.Errorf("Measure of a failing event: %v, want an error naming the failed invoke", err)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(d, 50); p != 5 {
		t.Errorf("p50 = %d, want 5", p)
	}
	if p := percentile(d, 95); p != 10 {
		t.Errorf("p95 = %d, want 10", p)
	}
	if p := percentile(d[:1], 95); p != 1 {
		t.Errorf("p95 of one = %d, want 1", p)
	}
}

// BenchmarkWarmInvoke is the harness's own overhead per event: one Runtime
// API round trip through a real aws-lambda-go process.
func BenchmarkWarmInvoke(b *testing.B) {
	i, err := Start(context.Background(), Function{Name: "echo", Binary: echoBinary})
	if err != nil {
		b.Fatal(err)
	}
	defer i.Close()
	payload := []byte(`{"echo":{"k":"v"}}`)
	res, err := i.Invoke(context.Background(), payload)
	if err != nil || res.Err != nil {
		b.Fatal(err, res.Err)
	}
	initTime := res.InitDuration
	for b.Loop() {
		if res, err := i.Invoke(context.Background(), payload); err != nil || res.Err != nil {
			b.Fatal(err, res.Err)
		}
	}
	b.ReportMetric(float64(initTime.Microseconds())/1000, "init-ms")
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
