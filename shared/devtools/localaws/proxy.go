package localaws

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"
)

// Proxy sits between the SDK and the local AWS. It counts every call by
// operation and account, and answers chosen calls with faults AWS really
// produces (throttling, 5xx, a named API error, a dropped connection), so
// tests can prove the product fails cleanly and converges on retry without
// any test-only code path in the product.
type Proxy struct {
	// URL is the endpoint to give the SDK instead of the server's.
	URL string

	srv    *httptest.Server
	target *url.URL
	// dynamodb, when set, receives the DynamoDB calls instead of target
	// (a server with DynamoDB apart, without its router's extra hop).
	dynamodb *url.URL
	client   *http.Client

	mu     sync.Mutex
	faults map[string][]*Fault
	calls  []Call
	keys   map[string]string // access key id -> account id, learnt from AssumeRole answers
}

// Fault is what the proxy does instead of (or after) forwarding one call.
// Build it with Throttling, ServerError, APIError, LostAnswer or CrashAfter.
type Fault struct {
	// Status, Code and Message make the AWS error answer; unused when Drop.
	Status  int
	Code    string
	Message string
	// Forward sends the call to the local AWS first, so the write happens
	// although the client sees the fault.
	Forward bool
	// Drop closes the connection without any answer.
	Drop bool
	// Times is how many matching calls get this fault (at least 1).
	Times int
	// Body, when set, limits the fault to calls whose request body holds
	// it (e.g. one role's ARN, URL-encoded, in STS's AssumeRole form):
	// other calls of the operation pass through untouched.
	Body string
}

// For limits the fault to calls whose request body contains body.
func (f Fault) For(body string) Fault {
	f.Body = body
	return f
}

// Throttling answers HTTP 400 with the service's throttling code
// (ThrottlingException for JSON services, Throttling for IAM/STS), which the
// SDK's retryer treats as a throttle.
func Throttling(times int) Fault {
	return Fault{Status: http.StatusBadRequest, Message: "Rate exceeded", Times: times}
}

// ServerError answers a 5xx; 503 carries ServiceUnavailableException and
// anything else InternalFailure (ServerException on ECR would also do).
func ServerError(status, times int) Fault {
	code := "InternalFailure"
	if status == http.StatusServiceUnavailable {
		code = "ServiceUnavailableException"
	}
	return Fault{Status: status, Code: code, Message: "Service unavailable, try again later", Times: times}
}

// APIError answers an arbitrary AWS error, for example
// APIError(400, "InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'", 1).
func APIError(status int, code, message string, times int) Fault {
	return Fault{Status: status, Code: code, Message: message, Times: times}
}

// CrashAfter forwards the call (the write happens) and then drops the
// connection, as when a Lambda dies or the network fails after AWS acted.
func CrashAfter(times int) Fault {
	return Fault{Forward: true, Drop: true, Times: times}
}

// LostAnswer forwards the call (the write happens) and then answers a 5xx,
// as when AWS acted but its answer was lost: the SDK retries the call, and
// a create's retry finds what the first attempt made.
func LostAnswer(status, times int) Fault {
	f := ServerError(status, times)
	f.Forward = true
	return f
}

// Call is one request seen by the proxy.
type Call struct {
	Op      string // X-Amz-Target suffix or query Action, e.g. "SetRepositoryPolicy"
	Service string // signing name from the credential scope, e.g. "ecr"
	Region  string
	Account string // account of the caller's keys; the access key id if unknown
	Status  int    // HTTP status the client got; 0 when the connection was dropped
	Faulted bool   // the answer came from an injected fault
	// Took is how long the local AWS took to answer (the proxy's round
	// trip), so a benchmark can see which calls cost the emulator most.
	Took time.Duration
	// At is when the proxy received the call, for timelines.
	At time.Time
}

// NewProxy starts a proxy on a loopback port in front of target (a server URL).
func NewProxy(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("localaws.NewProxy: bad target URL %q", target))
	}
	p := &Proxy{
		target: u,
		client: &http.Client{Transport: &http.Transport{}},
		faults: map[string][]*Fault{},
		keys:   map[string]string{"testing": defaultAccountID},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// NewServerProxy starts a proxy in front of s; when s serves DynamoDB apart,
// the proxy sends each call straight to the process serving it.
func NewServerProxy(s *Server) *Proxy {
	if s.router == nil {
		return NewProxy(s.URL)
	}
	p := NewProxy(s.router.main.String())
	p.dynamodb = s.router.dynamodb
	return p
}

// defaultAccountID is moto's account for keys it did not issue.
const defaultAccountID = "123456789012"

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Config is like Server.Config but pointed at the proxy.
func (p *Proxy) Config(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(p.URL),
		Retryer:      testRetryer,
		HTTPClient:   testHTTPClient,
		APIOptions:   []func(*middleware.Stack) error{withCallID},
	}
}

// Inject makes the next f.Times calls of op get fault f. op is an operation
// name ("SetRepositoryPolicy", any service) or "<signing name>:<op>"
// ("ecr-public:SetRepositoryPolicy") when two services share the name; the
// service-qualified faults are used first. Faults for the same key queue up
// in order.
func (p *Proxy) Inject(op string, f Fault) {
	if f.Times < 1 {
		f.Times = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[op] = append(p.faults[op], &f)
}

// Counts returns calls by operation since the last Reset.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, c := range p.calls {
		out[c.Op]++
	}
	return out
}

// CountsByAccount returns calls by account, then operation. Accounts are
// known for the default keys and for keys the proxy saw AssumeRole return.
func (p *Proxy) CountsByAccount() map[string]map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]map[string]int{}
	for _, c := range p.calls {
		if out[c.Account] == nil {
			out[c.Account] = map[string]int{}
		}
		out[c.Account][c.Op]++
	}
	return out
}

// Count returns how many calls of op the service (signing name, e.g. "ecr",
// "ecr-public", "iam") received since the last Reset.
func (p *Proxy) Count(service, op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c.Service == service && c.Op == op {
			n++
		}
	}
	return n
}

// Calls returns every call since the last Reset, in arrival order.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Reset forgets counted calls and pending faults.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	p.faults = map[string][]*Fault{}
}

var scopeRE = regexp.MustCompile(`Credential=([^/,\s]+)/[0-9]+/([^/]+)/([^/]+)/aws4_request`)

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusBadGateway)
		return
	}
	start := time.Now()
	call := Call{Op: operation(r, body), At: start}
	key := ""
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		key, call.Region, call.Service = m[1], m[2], m[3]
	}

	p.mu.Lock()
	call.Account = p.keys[key]
	if call.Account == "" {
		call.Account = key
	}
	var fault *Fault
	for _, k := range []string{call.Service + ":" + call.Op, call.Op} {
		q := p.faults[k]
		i := slices.IndexFunc(q, func(f *Fault) bool { return f.Body == "" || bytes.Contains(body, []byte(f.Body)) })
		if i < 0 {
			continue
		}
		fault = q[i]
		if fault.Times--; fault.Times == 0 {
			p.faults[k] = slices.Delete(slices.Clone(q), i, i+1)
		}
		break
	}
	p.mu.Unlock()

	defer func() {
		call.Took = time.Since(start)
		p.mu.Lock()
		p.calls = append(p.calls, call)
		p.mu.Unlock()
	}()

	if fault != nil && !fault.Forward {
		call.Faulted = true
		call.Status = p.writeFault(w, r, *fault)
		return
	}
	resp, respBody, err := p.forward(r, body)
	if err != nil {
		call.Status = http.StatusBadGateway
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if call.Op == "AssumeRole" && resp.StatusCode == http.StatusOK {
		p.learnKey(respBody)
	}
	if fault != nil {
		call.Faulted = true
		call.Status = p.writeFault(w, r, *fault)
		return
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
	call.Status = resp.StatusCode
}

func (p *Proxy) forward(r *http.Request, body []byte) (*http.Response, []byte, error) {
	u := *p.target
	if p.dynamodb != nil && isDynamoDB(r) {
		u = *p.dynamodb
	}
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("building upstream request: %w", err)
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("forwarding %s to %s: %w", r.Method, p.target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading upstream answer: %w", err)
	}
	return resp, b, nil
}

// writeFault answers the fault in the protocol of the request and returns
// the HTTP status sent (0 when the connection was dropped).
func (p *Proxy) writeFault(w http.ResponseWriter, r *http.Request, f Fault) int {
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return 0
			}
		}
		panic(http.ErrAbortHandler) // the server aborts the response without an answer
	}
	jsonProtocol := r.Header.Get("X-Amz-Target") != ""
	code := f.Code
	if code == "" { // Throttling: each protocol family has its own code
		code = "Throttling"
		if jsonProtocol {
			code = "ThrottlingException"
		}
	}
	w.Header().Set("X-Amzn-RequestId", "localaws-fault")
	if jsonProtocol {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/x-amz-json-1.1"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(f.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": f.Message})
		return f.Status
	}
	kind := "Sender"
	if f.Status >= 500 {
		kind = "Receiver"
	}
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(f.Message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, "<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>localaws-fault</RequestId></ErrorResponse>", kind, code, msg.String())
	return f.Status
}

// operation names the call: the X-Amz-Target suffix (JSON protocols), the
// Action form field (query protocol: IAM, STS), else "METHOD path".
func operation(r *http.Request, body []byte) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:]
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action")
		}
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return r.Method + " " + r.URL.Path
}

// learnKey records which account an AssumeRole answer's keys act in, from
// <AccessKeyId> and the assumed-role ARN arn:aws:sts::<account>:assumed-role/...
func (p *Proxy) learnKey(body []byte) {
	var out struct {
		Result struct {
			Credentials struct {
				AccessKeyID string `xml:"AccessKeyId"`
			}
			AssumedRoleUser struct {
				Arn string
			}
		} `xml:"AssumeRoleResult"`
	}
	if xml.Unmarshal(body, &out) != nil {
		return
	}
	parts := strings.Split(out.Result.AssumedRoleUser.Arn, ":")
	if len(parts) < 5 || out.Result.Credentials.AccessKeyID == "" {
		return
	}
	p.mu.Lock()
	p.keys[out.Result.Credentials.AccessKeyID] = parts[4]
	p.mu.Unlock()
}
