package localaws

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// startApart starts two moto processes (everything, and DynamoDB) and one
// loopback endpoint in front of them that sends each call to the process
// serving its service. The DynamoDB process is the same launcher, so
// DynamoDB behaves exactly as in one process (conditional writes atomic);
// it only answers on its own core.
func startApart(ctx context.Context, opt Options) (*Server, error) {
	main, err := Start(ctx, Options{Stdout: opt.Stdout})
	if err != nil {
		return nil, err
	}
	ddb, err := Start(ctx, Options{Stdout: opt.Stdout})
	if err != nil {
		main.Stop()
		return nil, err
	}
	main.apart = ddb
	r, err := newRouter(opt.Port, main.URL, ddb.URL)
	if err != nil {
		main.Stop()
		return nil, err
	}
	main.router = r
	main.URL = r.endpoint
	return main, nil
}

// motoURL is the address of this server's own moto process (URL is the
// router's when DynamoDB is apart).
func (s *Server) motoURL() string {
	if s.router != nil {
		return s.router.main.String()
	}
	return s.URL
}

// router is the one endpoint of a server whose DynamoDB is apart.
type router struct {
	main, dynamodb *url.URL
	srv            *http.Server
	endpoint       string
}

func newRouter(port int, mainURL, dynamodbURL string) (*router, error) {
	r := &router{}
	var err error
	if r.main, err = url.Parse(mainURL); err != nil {
		return nil, err
	}
	if r.dynamodb, err = url.Parse(dynamodbURL); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listening for the local AWS endpoint: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := r.main
			if isDynamoDB(pr.In) {
				target = r.dynamodb
			}
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		// moto closes kept-alive connections at will (see testHTTPClient).
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	r.srv = &http.Server{Handler: rp}
	r.endpoint = "http://" + l.Addr().String()
	go r.srv.Serve(l)
	return r, nil
}

func (r *router) close() { _ = r.srv.Close() }

// isDynamoDB tells a DynamoDB (or DynamoDB Streams) call by its JSON target
// header, which every DynamoDB operation carries.
func isDynamoDB(req *http.Request) bool {
	t := req.Header.Get("X-Amz-Target")
	return strings.HasPrefix(t, "DynamoDB_") || strings.HasPrefix(t, "DynamoDBStreams_")
}

// Processes names the server's moto processes by pid (what each serves),
// for a benchmark that reports where its CPU went.
func (s *Server) Processes() map[int]string {
	m := map[int]string{}
	name := "every service"
	if s.apart != nil {
		name = "every service but DynamoDB"
		maps.Copy(m, s.apart.processes("DynamoDB"))
	}
	maps.Copy(m, s.processes(name))
	return m
}

// processes is this server's own moto process named name (none when it is
// not running).
func (s *Server) processes(name string) map[int]string {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	return map[int]string{s.cmd.Process.Pid: name}
}
