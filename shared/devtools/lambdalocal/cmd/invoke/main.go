// Command invoke is `make invoke FN=<function> EVENT=<file> [CONFIG=<declaration>]`:
// it builds one of the project's Lambda functions for this host, runs the
// real `bootstrap` under the local Lambda runtime (shared/devtools/lambdalocal)
// against AWS_ENDPOINT_URL if set, or else against a local AWS it starts
// and stops itself, and prints the log lines, the response or function
// error, and the init and invoke times.
//
//	go run ./shared/devtools/lambdalocal/cmd/invoke -fn repository -event events/create-repository.json -declaration infra/declaration.json
//	go run ./shared/devtools/lambdalocal/cmd/invoke -pkg ./shared/devtools/lambdalocal/testdata/echo -event ev.json -repeat 20
//
// Exit status: 0 the invoke succeeded, 1 the function failed, 2 bad input
// or the harness could not run it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/cli"
	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// Names of the tables the functions write to when run locally; the lead's
// local set-up (prepareLocal) creates them under these names.
const (
	localAuditTable = audit.DefaultTable
	localLeaseTable = "ecr-warden-leases"
	localAccessKey  = "testing"
	localSecretKey  = "testing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is bad input from the user: exit status 2 and the message.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is main without the process around it, so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("fn", "", "function under functions/ (e.g. repository), or a package path")
	pkg := fs.String("pkg", "", "package path of any Lambda main package (instead of -fn)")
	eventFile := fs.String("event", "", "JSON event file to deliver (e.g. events/<name>.json)")
	declaration := fs.String("declaration", "", "declaration JSON given to the function as WARDEN_DECLARATION_FILE")
	region := fs.String("region", lambdalocal.DefaultRegion, "AWS_REGION of the function")
	timeout := fs.Duration("timeout", lambdalocal.DefaultTimeout, "function timeout per invoke")
	repeat := fs.Int("repeat", 1, "deliver the event this many times to the same warm process and print timing percentiles")
	err := cli.Parse(fs, args, stderr, `make invoke FN=<function> EVENT=<file> DECLARATION=<file> ARGS="..."`)
	if fs.NArg() > 0 && strings.HasPrefix(*fn, "-") {
		err = nil // "-fn -event x": an empty FN= shifted the flags; resolvePackage says -fn is required
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	if err := invoke(ctx, config{fn: *fn, pkg: *pkg, event: *eventFile, declaration: *declaration,
		region: *region, timeout: *timeout, repeat: *repeat}, stdout, stderr); err != nil {
		var fe *lambdalocal.FunctionError
		if errors.As(err, &fe) {
			return 1
		}
		fmt.Fprintln(stderr, "invoke:", err)
		if hint := awsapi.EndpointDown(err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
		return 2
	}
	return 0
}

type config struct {
	fn, pkg, event, declaration, region string
	timeout                             time.Duration
	repeat                              int
}

// invoke does the work; a *lambdalocal.FunctionError return means the
// function failed (already printed).
func invoke(ctx context.Context, c config, stdout, stderr io.Writer) error {
	pkg, name, err := resolvePackage(c.fn, c.pkg)
	if err != nil {
		return err
	}
	if c.repeat < 1 {
		return usageError{fmt.Sprintf("-repeat %d: want at least 1", c.repeat)}
	}
	event, err := readEvent(c.event)
	if err != nil {
		return err
	}
	env := map[string]string{}
	var decl *wconfig.Declaration
	if c.declaration != "" {
		abs, err := filepath.Abs(c.declaration)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return usageError{fmt.Sprintf("-declaration: %v", err)}
		}
		if decl, err = wconfig.Load(abs); err != nil {
			return usageError{err.Error()}
		}
		// Absolute: the function runs in its own directory, as in Lambda.
		env["WARDEN_DECLARATION_FILE"] = abs
	}

	buildDir, err := os.MkdirTemp("", "ecr-warden-invoke-*")
	if err != nil {
		return fmt.Errorf("creating a build directory: %w", err)
	}
	defer os.RemoveAll(buildDir)
	fmt.Fprintf(stderr, "invoke: building %s for this host\n", pkg)
	binary, err := lambdalocal.BuildHost(ctx, pkg, buildDir)
	if err != nil {
		return err
	}

	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		srv, err := localaws.Start(ctx, localaws.Options{})
		if err != nil {
			return fmt.Errorf("AWS_ENDPOINT_URL is not set, and starting the local AWS failed: %w", err)
		}
		defer srv.Stop()
		endpoint = srv.URL
		fmt.Fprintf(stderr, "invoke: AWS_ENDPOINT_URL not set: started the local AWS at %s (stopped on exit)\n", endpoint)
	}
	hub := ""
	var regions []string
	if decl != nil {
		hub, regions = decl.Hub.AccountID, decl.Hub.Regions
	}
	local, err := prepareLocal(ctx, endpoint, c.region, hub, name, regions)
	if err != nil {
		return fmt.Errorf("preparing the local AWS at %s: %w", endpoint, err)
	}
	for k, v := range local {
		env[k] = v
	}
	if hub != "" {
		fmt.Fprintf(stderr, "invoke: the function runs as the declared hub %s (role ecr-warden-%s), as deployed\n", hub, name)
	}
	if err := seedEvent(ctx, endpoint, c.region, event, decl, stderr); err != nil {
		return fmt.Errorf("preparing the local AWS at %s for the event: %w", endpoint, err)
	}
	env["AWS_ENDPOINT_URL"] = endpoint
	// WARDEN_* from the caller's shell win, e.g. WARDEN_WORK_QUEUE_URL or the
	// seeded emulator's WARDEN_ORG_ROLE_ARN; the README lists them.
	var passed []string
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WARDEN_") {
			env[k] = v
			passed = append(passed, k)
		}
	}
	if len(passed) > 0 {
		sort.Strings(passed)
		fmt.Fprintf(stderr, "invoke: passing from your shell: %s\n", strings.Join(passed, ", "))
	}

	fmt.Fprintf(stderr, "invoke: starting %s under the local Lambda runtime\n", name)
	inst, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: name, Binary: binary, Env: env, Timeout: c.timeout, Region: c.region, AccountID: hub})
	if err != nil {
		return err
	}
	defer inst.Close()
	fmt.Fprintf(stderr, "invoke: invoking %s with %s against %s\n", name, c.event, endpoint)

	var results []lambdalocal.Result
	for k := range c.repeat {
		res, err := inst.Invoke(ctx, event)
		if err != nil {
			return fmt.Errorf("invoking %s (%d of %d): %w", name, k+1, c.repeat, err)
		}
		results = append(results, res)
		outcome := "ok"
		if res.Err != nil {
			outcome = "function error " + res.Err.Type
		}
		if res.Cold {
			fmt.Fprintf(stderr, "invoke: init %.0f ms\n", ms(res.InitDuration))
		}
		fmt.Fprintf(stderr, "invoke: result %s in %.0f ms%s\n", outcome, ms(res.Duration), answerSummary(res.Payload))
		if c.repeat > 1 {
			fmt.Fprintf(stdout, "=== invoke %d of %d\n", k+1, c.repeat)
		}
		printResult(stdout, res)
	}
	last := results[len(results)-1]
	if st, err := lambdalocal.Summarize(binary, results); err == nil {
		if c.repeat > 1 {
			fmt.Fprintf(stdout, "--- summary\n%s\n", st)
		} else {
			fmt.Fprintf(stdout, "bootstrap size: %.1f MiB (%d bytes)\n", float64(st.BinarySize)/(1<<20), st.BinarySize)
		}
	}
	if last.Err != nil {
		return last.Err
	}
	return nil
}

// prepareLocal is the hook that gives the local AWS what the functions
// expect to exist, and returns the environment that points a function at
// it: credentials of the declared hub account (a role ecr-warden-<fn>
// assumed there, so the function runs where it is deployed and its audit
// records name that role as the writer), the audit and lease tables in the
// hub (created if missing, so it is safe against a long-running `make
// emulator` too) and their names. The base credentials are the caller's
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN (the seeded
// emulator's exports), else the dummy ones the local AWS accepts.
func prepareLocal(ctx context.Context, endpoint, region, hub, fn string, regions []string) (map[string]string, error) {
	key, secret, token := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	if key == "" || secret == "" {
		key, secret, token = localAccessKey, localSecretKey, ""
	}
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		BaseEndpoint: aws.String(endpoint),
	}
	if hub != "" {
		var err error
		if cfg, err = localaws.AccountConfig(ctx, cfg, hub, "ecr-warden-"+fn); err != nil {
			return nil, fmt.Errorf("acting as the hub %s: %w", hub, err)
		}
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := audit.CreateTable(ctx, db, localAuditTable); err != nil {
		return nil, err
	}
	if err := lease.CreateTables(ctx, cfg, localLeaseTable, regions); err != nil { // each hub region's, as the functions take a document's lease there
		return nil, err
	}
	env := map[string]string{
		"WARDEN_AUDIT_TABLE":    localAuditTable,
		"WARDEN_LEASE_TABLE":    localLeaseTable,
		"AWS_ACCESS_KEY_ID":     creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
	}
	if creds.SessionToken != "" {
		env["AWS_SESSION_TOKEN"] = creds.SessionToken
	}
	return env, nil
}

// resolvePackage turns -fn/-pkg into a package to build and a function
// name. A bare -fn names a directory under functions/ at the module root.
func resolvePackage(fn, pkg string) (pkgPath, name string, err error) {
	switch {
	case fn != "" && pkg != "":
		return "", "", usageError{"give -fn or -pkg, not both"}
	case pkg == "" && (strings.Contains(fn, "/") || strings.HasPrefix(fn, ".")):
		pkg = fn
	case pkg == "" && (fn == "" || strings.HasPrefix(fn, "-")): // `make invoke` without FN passes "-fn -event"
		return "", "", usageError{"-fn is required (make invoke FN=<function> EVENT=<file>); functions: " + strings.Join(knownFunctions(), ", ")}
	}
	if pkg != "" {
		base := filepath.Base(strings.TrimRight(pkg, "/"))
		if base == "." || base == ".." {
			abs, err := filepath.Abs(pkg)
			if err != nil {
				return "", "", usageError{fmt.Sprintf("-pkg %s: %v", pkg, err)}
			}
			base = filepath.Base(abs)
		}
		return pkg, base, nil
	}
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(root, "functions", fn)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", "", usageError{fmt.Sprintf("-fn %s: no function directory %s; functions: %s", fn, dir, strings.Join(knownFunctions(), ", "))}
	}
	return dir, fn, nil
}

// knownFunctions lists functions/<name> directories with Go files.
func knownFunctions() []string {
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		return []string{"(not inside the module)"}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "functions"))
	var out []string
	for _, e := range entries {
		if m, _ := filepath.Glob(filepath.Join(root, "functions", e.Name(), "*.go")); e.IsDir() && len(m) > 0 {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"(none yet)"}
	}
	return out
}

// readEvent loads the event file and checks it is JSON, so a typo fails here
// with the file's name rather than inside the function.
func readEvent(path string) ([]byte, error) {
	if path == "" {
		return nil, usageError{"-event is required (a JSON event file, e.g. from events/)"}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Sprintf("-event: %v", err)}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, usageError{fmt.Sprintf("-event %s is not valid JSON: %v", path, err)}
	}
	return b, nil
}

// printResult prints one invoke: log lines, then the response (indented
// JSON when it is JSON) or the function error, then the REPORT-style line.
func printResult(w io.Writer, res lambdalocal.Result) {
	fmt.Fprintf(w, "--- logs (%d lines)\n", len(res.Logs))
	for _, l := range res.Logs {
		fmt.Fprintln(w, l)
	}
	if res.Err != nil {
		fmt.Fprintf(w, "--- function error\n%s: %s\n", res.Err.Type, res.Err.Message)
		if len(res.Err.Body) > 0 {
			fmt.Fprintln(w, pretty(res.Err.Body))
		}
	} else {
		fmt.Fprintf(w, "--- response\n%s\n", pretty(res.Payload))
		if d := diffs(res.Payload); d != "" {
			fmt.Fprintf(w, "--- the response's diffs, as text\n%s", d)
		}
	}
	report := fmt.Sprintf("--- REPORT RequestId: %s Duration: %.2f ms", res.RequestID, ms(res.Duration))
	if res.Cold {
		report += fmt.Sprintf(" Init Duration: %.2f ms", ms(res.InitDuration))
	}
	fmt.Fprintln(w, report)
}

// diffs is the text of every diff in a function's answer (its "changes" or a
// dry run's "plan"), which reads far better than the JSON string above it;
// "" when it has none.
func diffs(payload []byte) string {
	var a struct {
		Changes, Plan []struct{ Diff string }
	}
	if json.Unmarshal(payload, &a) != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range append(a.Changes, a.Plan...) {
		if c.Diff != "" {
			b.WriteString(strings.TrimRight(c.Diff, "\n") + "\n")
		}
	}
	return b.String()
}

func pretty(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// answerSummary reads what a function's answer says happened, for the
// progress line (the answer itself comes after the log lines): a rejected or
// ignored event, or the counts that are not zero. "" when the answer is not
// one of the functions' reports.
func answerSummary(payload []byte) string {
	var a struct {
		Rejected, Ignored, Error                               string
		Examined, Unchanged, Changed, Planned, Refused, Failed *int
	}
	if json.Unmarshal(payload, &a) != nil {
		return ""
	}
	switch {
	case a.Rejected != "":
		return ": rejected (" + a.Rejected + "), nothing written"
	case a.Ignored != "":
		return ": ignored, nothing written"
	case a.Error != "":
		return ": refused the input, nothing written"
	case a.Examined == nil:
		return ""
	}
	var parts []string
	for _, c := range []struct {
		n    *int
		name string
	}{{a.Changed, "changed"}, {a.Unchanged, "unchanged"}, {a.Planned, "planned"}, {a.Refused, "refused"}, {a.Failed, "failed"}} {
		if c.n != nil && *c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", *c.n, c.name))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf(": %d examined", *a.Examined)
	}
	return ": " + strings.Join(parts, ", ")
}
