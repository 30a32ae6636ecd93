package lambdalocal

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Runtime API header names (as aws-lambda-go's runtime_api_client.go reads
// and writes them).
const (
	headerRequestID     = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMs    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID       = "Lambda-Runtime-Trace-Id"
	headerErrorType     = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody    = "Lambda-Runtime-Function-Error-Body"
	headerExtensionID   = "Lambda-Extension-Identifier"
	headerExtensionName = "Lambda-Extension-Name"
)

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id          string
	payload     []byte
	timeout     time.Duration
	arn         string
	traceID     string
	deliveredAt time.Time    // set by Invoke once GET /next has taken it
	done        chan outcome // buffered 1: the response or error post
}

// outcome is what the runtime posted for an invocation.
type outcome struct {
	payload []byte
	err     *FunctionError
	at      time.Time
}

func newInvocation(payload []byte, f Function) *invocation {
	return &invocation{
		id:      newRequestID(),
		payload: payload,
		timeout: f.Timeout,
		arn:     f.ARN(),
		traceID: fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(24), randomHex(16)),
		done:    make(chan outcome, 1),
	}
}

// routes is the Runtime API (2018-06-01) plus the two Extensions API calls
// aws-lambda-go makes when a function enables SIGTERM handling.
func (p *process) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", p.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", p.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", p.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", p.initError)
	mux.HandleFunc("POST /2020-01-01/extension/register", p.registerExtension)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", p.extensionNext)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "InvalidRequest", fmt.Sprintf("%s %s is not part of the Runtime API", r.Method, r.URL.Path))
	})
	return mux
}

// next long-polls until an event is handed over. The first call of a
// process ends its init phase.
func (p *process) next(w http.ResponseWriter, r *http.Request) {
	p.markReady()
	select {
	case inv := <-p.pending:
		deadline := time.Now().Add(inv.timeout)
		p.mu.Lock()
		p.active = inv
		p.mu.Unlock()
		h := w.Header()
		h.Set(headerRequestID, inv.id)
		h.Set(headerDeadlineMs, strconv.FormatInt(deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, inv.arn)
		h.Set(headerTraceID, inv.traceID)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// claim returns the active invocation if id names it, once.
func (p *process) claim(w http.ResponseWriter, id string) *invocation {
	p.mu.Lock()
	defer p.mu.Unlock()
	inv := p.active
	if inv == nil || inv.id != id {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", fmt.Sprintf("no open invocation with request id %q", id))
		return nil
	}
	p.active = nil
	return inv
}

// response takes the function's result. aws-lambda-go streams it and
// reports a failure while streaming in the Lambda-Runtime-Function-Error-*
// trailers, so those are honoured too.
func (p *process) response(w http.ResponseWriter, r *http.Request) {
	inv := p.claim(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxResponseSize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fe := &FunctionError{Type: ErrorTypeTooLarge, Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseSize)}
		inv.done <- outcome{err: fe, at: time.Now()}
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fe.Message)
		return
	case err != nil:
		inv.done <- outcome{err: &FunctionError{Type: "Runtime.ResponseError", Message: "reading the response body: " + err.Error()}, at: time.Now()}
		apiError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	if typ := r.Trailer.Get(headerErrorType); typ != "" {
		fe := &FunctionError{Type: typ}
		if b, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody)); err == nil && len(b) > 0 {
			fe = decodeError(b, typ)
		}
		inv.done <- outcome{err: fe, at: time.Now()}
	} else {
		inv.done <- outcome{payload: body, at: time.Now()}
	}
	accepted(w)
}

// invocationError takes a handled or unhandled function error.
func (p *process) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := p.claim(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize))
	inv.done <- outcome{err: decodeError(body, r.Header.Get(headerErrorType)), at: time.Now()}
	accepted(w)
}

// initError records a failed init; the invoke waiting for the init phase
// reports it and the process is replaced.
func (p *process) initError(w http.ResponseWriter, r *http.Request) {
	select {
	case <-p.ready:
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init/error after the runtime asked for an event")
		return
	default:
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxResponseSize))
	select {
	case p.initErr <- decodeError(body, r.Header.Get(headerErrorType)):
	default: // only the first report counts
	}
	accepted(w)
}

// registerExtension lets aws-lambda-go's WithEnableSIGTERM register its
// internal extension; no lifecycle events are ever sent to it.
func (p *process) registerExtension(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(headerExtensionID, newRequestID())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"functionName": r.Header.Get(headerExtensionName), "functionVersion": "$LATEST", "handler": "bootstrap"})
}

// extensionNext blocks until the process goes away, as for an extension
// registered for no events.
func (p *process) extensionNext(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

// decodeError reads the {"errorMessage","errorType"} document a runtime
// posts. The body's errorType wins over the header; a body that is not such
// a document becomes the message.
func decodeError(body []byte, headerType string) *FunctionError {
	var doc struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	fe := &FunctionError{Body: body}
	if err := json.Unmarshal(body, &doc); err == nil {
		fe.Type, fe.Message = doc.Type, doc.Message
	} else {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}
