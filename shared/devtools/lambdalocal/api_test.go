package lambdalocal

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newTestProcess is a process without a child: the test plays the runtime.
func newTestProcess(t *testing.T) (*process, *httptest.Server) {
	p := &process{
		pending: make(chan *invocation),
		initErr: make(chan *FunctionError, 1),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
	}
	srv := httptest.NewServer(p.routes())
	t.Cleanup(srv.Close)
	return p, srv
}

func post(t *testing.T, url, body string, header http.Header) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc
}

// trailerReader sets the error trailers when the body ends, the way
// aws-lambda-go reports a failure while streaming a response.
type trailerReader struct {
	r       io.Reader
	trailer http.Header
}

func (tr *trailerReader) Read(b []byte) (int, error) {
	n, err := tr.r.Read(b)
	if err == io.EOF {
		tr.trailer.Set(headerErrorType, "StreamError")
		tr.trailer.Set(trailerErrorBody, base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"broken pipe","errorType":"StreamError"}`)))
	}
	return n, err
}

func TestRuntimeAPIProtocol(t *testing.T) {
	p, srv := newTestProcess(t)
	fn := Function{Name: "repository", Region: "us-east-1", AccountID: "111111111111", Timeout: 5 * time.Second}
	inv := newInvocation([]byte(`{"detail":{}}`), fn)
	go func() { p.pending <- inv }()

	before := time.Now()
	resp, err := http.Get(srv.URL + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"detail":{}}` {
		t.Fatalf("GET next: %d %s, want 200 and the event", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); got != inv.id || len(got) != 36 {
		t.Errorf("request id header %q, want the invocation's UUID %q", got, inv.id)
	}
	if got := resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn"); got != "arn:aws:lambda:us-east-1:111111111111:function:repository" {
		t.Errorf("function ARN header %q", got)
	}
	if got := resp.Header.Get("Lambda-Runtime-Trace-Id"); !strings.HasPrefix(got, "Root=1-") {
		t.Errorf("trace id header %q, want an X-Ray trace header", got)
	}
	deadline, err := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if lo, hi := before.Add(5*time.Second).UnixMilli(), time.Now().Add(5*time.Second).UnixMilli(); err != nil || deadline < lo || deadline > hi {
		t.Errorf("deadline header %d, want epoch ms in [%d, %d]", deadline, lo, hi)
	}
	select {
	case <-p.ready:
	default:
		t.Error("GET next did not end the init phase")
	}

	if code, doc := post(t, srv.URL+"/2018-06-01/runtime/invocation/not-the-id/response", `{}`, nil); code != http.StatusBadRequest || doc["errorType"] != "InvalidRequestID" {
		t.Errorf("response for an unknown id: %d %v, want 400 InvalidRequestID", code, doc)
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/2018-06-01/runtime/invocation/"+inv.id+"/response", nil)
	req.Trailer = http.Header{headerErrorType: nil, trailerErrorBody: nil}
	req.Body = io.NopCloser(&trailerReader{r: strings.NewReader(`{"partial":`), trailer: req.Trailer})
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST response: %d, want 202", resp.StatusCode)
	}
	o := <-inv.done
	if o.err == nil || o.err.Type != "StreamError" || o.err.Message != "broken pipe" || o.payload != nil {
		t.Errorf("response with error trailers became %+v / %q, want the trailer's StreamError", o.err, o.payload)
	}

	if code, _ := post(t, srv.URL+"/2018-06-01/runtime/invocation/"+inv.id+"/error", `{}`, nil); code != http.StatusBadRequest {
		t.Errorf("second answer for the same id: %d, want 400", code)
	}
	if code, doc := post(t, srv.URL+"/2018-06-01/runtime/init/error", `{}`, nil); code != http.StatusForbidden || doc["errorType"] != "InvalidStateTransition" {
		t.Errorf("init/error after next: %d %v, want 403 InvalidStateTransition", code, doc)
	}
	if code, doc := post(t, srv.URL+"/2018-06-01/runtime/nonsense", `{}`, nil); code != http.StatusNotFound || doc["errorType"] != "InvalidRequest" {
		t.Errorf("unknown path: %d %v, want 404 InvalidRequest", code, doc)
	}
}

func TestErrorPostUsesBodyThenHeaderType(t *testing.T) {
	p, srv := newTestProcess(t)
	for _, c := range []struct{ body, header, wantType, wantMsg string }{
		{`{"errorMessage":"denied","errorType":"AccessDeniedException"}`, "Runtime.Unknown", "AccessDeniedException", "denied"},
		{`{"errorMessage":"no type"}`, "Runtime.HandlerError", "Runtime.HandlerError", "no type"},
		{`not json`, "", "Unhandled", "not json"},
	} {
		inv := newInvocation([]byte(`{}`), Function{Timeout: time.Second})
		p.mu.Lock()
		p.active = inv
		p.mu.Unlock()
		h := http.Header{}
		if c.header != "" {
			h.Set("Lambda-Runtime-Function-Error-Type", c.header)
		}
		if code, _ := post(t, srv.URL+"/2018-06-01/runtime/invocation/"+inv.id+"/error", c.body, h); code != http.StatusAccepted {
			t.Fatalf("POST error: %d, want 202", code)
		}
		o := <-inv.done
		if o.err.Type != c.wantType || o.err.Message != c.wantMsg || string(o.err.Body) != c.body {
			t.Errorf("body %s header %q: got %+v, want %s: %s", c.body, c.header, o.err, c.wantType, c.wantMsg)
		}
	}
}

func TestInitErrorAndExtensionRegistration(t *testing.T) {
	p, srv := newTestProcess(t)
	h := http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.ConfigError"}}
	if code, _ := post(t, srv.URL+"/2018-06-01/runtime/init/error", `{"errorMessage":"WARDEN_AUDIT_TABLE is not set"}`, h); code != http.StatusAccepted {
		t.Fatalf("init/error: %d, want 202", code)
	}
	if fe := <-p.initErr; fe.Type != "Runtime.ConfigError" || fe.Message != "WARDEN_AUDIT_TABLE is not set" {
		t.Errorf("init error %+v", fe)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/2020-01-01/extension/register", strings.NewReader(`{"events":[]}`))
	req.Header.Set("Lambda-Extension-Name", "GoLangEnableSIGTERM")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Lambda-Extension-Identifier") == "" {
		t.Errorf("extension register: %d id %q, want 200 and an identifier", resp.StatusCode, resp.Header.Get("Lambda-Extension-Identifier"))
	}
}
