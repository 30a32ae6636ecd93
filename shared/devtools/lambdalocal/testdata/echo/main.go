// Command echo is a test-only Lambda used to exercise the local runtime: it
// echoes its input and, on request, fails, panics, exits, sleeps, prints log
// lines and reports environment variables and its Lambda context.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// request says what the echo function should do for one event.
type request struct {
	Echo    json.RawMessage `json:"echo,omitempty"`
	Log     []string        `json:"log,omitempty"`    // lines printed to stdout
	Stderr  []string        `json:"stderr,omitempty"` // lines printed to stderr
	Error   string          `json:"error,omitempty"`  // return an error with this message
	Panic   string          `json:"panic,omitempty"`  // panic with this value
	Exit    *int            `json:"exit,omitempty"`   // os.Exit with this code mid-invoke
	SleepMs int             `json:"sleepMs,omitempty"`
	Env     []string        `json:"env,omitempty"`     // report these variables
	Big     int             `json:"big,omitempty"`     // respond with this many bytes of padding
	Touch   string          `json:"touch,omitempty"`   // create this file once running
	WaitFor string          `json:"waitFor,omitempty"` // then wait until this file exists
}

type response struct {
	Echo        json.RawMessage   `json:"echo,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineIn  int64             `json:"deadlineInMs"`
	TraceID     string            `json:"traceId"`
	Pid         int               `json:"pid"`
	Padding     string            `json:"padding,omitempty"`
	InFlight    int32             `json:"inFlight"` // handlers running in this process, this one included
}

// inFlight counts concurrent handler calls in this process; Lambda runs one
// at a time per execution environment.
var inFlight atomic.Int32

// CustomError gives the error a distinct Go type so the runtime reports
// errorType "CustomError".
type CustomError struct{ msg string }

func (e *CustomError) Error() string { return e.msg }

func handle(ctx context.Context, req request) (response, error) {
	n := inFlight.Add(1)
	defer inFlight.Add(-1)
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	for _, l := range req.Log {
		fmt.Println(l)
	}
	for _, l := range req.Stderr {
		fmt.Fprintln(os.Stderr, l)
	}
	if req.Touch != "" {
		if err := os.WriteFile(req.Touch, nil, 0o600); err != nil {
			return response{}, err
		}
	}
	for req.WaitFor != "" {
		if _, err := os.Stat(req.WaitFor); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if req.SleepMs > 0 {
		time.Sleep(time.Duration(req.SleepMs) * time.Millisecond)
	}
	if req.Exit != nil {
		os.Exit(*req.Exit)
	}
	if req.Panic != "" {
		panic(req.Panic)
	}
	if req.Error != "" {
		return response{}, &CustomError{msg: req.Error}
	}
	res := response{Echo: req.Echo, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		DeadlineIn: time.Until(dl).Milliseconds(), TraceID: os.Getenv("_X_AMZN_TRACE_ID"), Pid: os.Getpid(), InFlight: n}
	if len(req.Env) > 0 {
		res.Env = map[string]string{}
		for _, k := range req.Env {
			res.Env[k] = os.Getenv(k)
		}
	}
	if req.Big > 0 {
		res.Padding = string(bytes.Repeat([]byte("x"), req.Big))
	}
	return res, nil
}

// initError reports a failed initialisation through the Runtime API the way
// custom runtimes do, so the harness's /init/error endpoint is exercised.
func initError(msg string) {
	body, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": "EchoInitError"})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "EchoInitError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "posting init error:", err)
		os.Exit(3)
	}
	resp.Body.Close()
	fmt.Fprintln(os.Stderr, "init error posted:", resp.StatusCode)
	os.Exit(1)
}

func main() {
	fmt.Println("echo init")
	if ms, _ := strconv.Atoi(os.Getenv("ECHO_INIT_SLEEP_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if msg := os.Getenv("ECHO_INIT_ERROR"); msg != "" {
		initError(msg)
	}
	if os.Getenv("ECHO_INIT_EXIT") != "" {
		fmt.Fprintln(os.Stderr, "echo exiting during init")
		os.Exit(4)
	}
	if os.Getenv("ECHO_SIGTERM") != "" {
		// Registers aws-lambda-go's internal extension, so the runtime's
		// Extensions API and graceful shutdown are exercised.
		lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() {
			fmt.Println("echo got SIGTERM")
			os.Exit(0)
		}))
	}
	lambda.Start(handle)
}
