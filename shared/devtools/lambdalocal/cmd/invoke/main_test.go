package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

const echoPkg = "../../testdata/echo"

// srv is the local AWS the tests name in AWS_ENDPOINT_URL, as a user with
// `make emulator` running would.
var srv *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &srv) }

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// responseEnv extracts the echo function's reported environment from the
// pretty-printed response.
func responseEnv(t *testing.T, stdout string) map[string]string {
	t.Helper()
	start := strings.Index(stdout, "--- response\n")
	end := strings.Index(stdout, "--- REPORT")
	if start < 0 || end < start {
		t.Fatalf("no response section in output:\n%s", stdout)
	}
	var res struct {
		Env map[string]string `json:"env"`
	}
	if err := json.Unmarshal([]byte(stdout[start+len("--- response\n"):end]), &res); err != nil {
		t.Fatalf("response is not the echo JSON: %v\n%s", err, stdout)
	}
	return res.Env
}

const envEvent = `{"echo":{"repository":"shared/base"},"log":["handling event"],
 "env":["AWS_ENDPOINT_URL","WARDEN_DECLARATION_FILE","WARDEN_AUDIT_TABLE","WARDEN_LEASE_TABLE","WARDEN_WORK_QUEUE_URL","AWS_ACCESS_KEY_ID","AWS_REGION"]}`

func TestInvokeAgainstGivenEndpoint(t *testing.T) {
	localaws.Need(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("WARDEN_WORK_QUEUE_URL", "http://127.0.0.1:9/queue/work")
	event := writeFile(t, "event.json", envEvent)
	decl, err := filepath.Abs("../../../../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "-pkg", echoPkg, "-event", event, "-declaration", decl, "-region", "eu-central-1")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	env := responseEnv(t, stdout)
	want := map[string]string{
		"AWS_ENDPOINT_URL":        srv.URL,
		"WARDEN_DECLARATION_FILE": decl,
		"WARDEN_AUDIT_TABLE":      "ecr-warden-audit",
		"WARDEN_LEASE_TABLE":      "ecr-warden-leases",
		"WARDEN_WORK_QUEUE_URL":   "http://127.0.0.1:9/queue/work",
		"AWS_REGION":              "eu-central-1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("function saw %s=%q, want %q", k, env[k], v)
		}
	}
	// The function runs as the declared hub (keys of a role assumed there),
	// not as the emulator's default account.
	if k := env["AWS_ACCESS_KEY_ID"]; k == "" || k == "testing" {
		t.Errorf("function saw AWS_ACCESS_KEY_ID=%q, want the hub role's keys", k)
	}
	// Progress on stderr, in order; the shell's WARDEN_* named.
	last := -1
	for _, line := range []string{"invoke: building", "invoke: the function runs as the declared hub 111111111111",
		"invoke: passing from your shell: WARDEN_WORK_QUEUE_URL", "invoke: starting", "invoke: invoking", "invoke: init", "invoke: result ok"} {
		i := strings.Index(stderr, line)
		if i <= last {
			t.Errorf("stderr lacks %q after the previous progress line:\n%s", line, stderr)
		}
		last = i
	}
	for _, s := range []string{"--- logs (2 lines)\necho init\nhandling event\n", "\"repository\": \"shared/base\"", "bootstrap size: "} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	if !regexp.MustCompile(`--- REPORT RequestId: [0-9a-f-]{36} Duration: [0-9.]+ ms Init Duration: [0-9.]+ ms`).MatchString(stdout) {
		t.Errorf("output lacks the REPORT line with init duration:\n%s", stdout)
	}
	hub, err := localaws.AccountConfig(context.Background(), srv.Config("eu-central-1"), "111111111111", "test")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := dynamodb.NewFromConfig(hub).ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ecr-warden-audit", "ecr-warden-leases"}; !slices.Equal(tables.TableNames, want) {
		t.Errorf("tables in the hub in the function's region = %v, want %v (created by prepareLocal)", tables.TableNames, want)
	}
	// A second run against the same endpoint finds the tables and goes on.
	if code, stdout, stderr := runCLI(t, "-pkg", echoPkg, "-event", event, "-region", "eu-central-1"); code != 0 {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestInvokeStartsAndStopsLocalAWSWithoutEndpoint(t *testing.T) {
	localaws.Need(t)
	t.Setenv("AWS_ENDPOINT_URL", "")
	event := writeFile(t, "event.json", envEvent)
	code, stdout, stderr := runCLI(t, "-pkg", echoPkg, "-event", event)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	endpoint := responseEnv(t, stdout)["AWS_ENDPOINT_URL"]
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || !strings.Contains(stderr, "started the local AWS at "+endpoint) {
		t.Fatalf("function saw AWS_ENDPOINT_URL=%q; stderr:\n%s\nwant the local AWS the command started", endpoint, stderr)
	}
	if resp, err := http.Get(endpoint + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Errorf("local AWS at %s still answers after the command ended", endpoint)
	}
}

func TestFunctionErrorExitsOne(t *testing.T) {
	localaws.Need(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	event := writeFile(t, "event.json", `{"error":"no grant matches shared/base"}`)
	code, stdout, stderr := runCLI(t, "-pkg", echoPkg, "-event", event)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "--- function error\nCustomError: no grant matches shared/base\n") {
		t.Errorf("output lacks the function error:\n%s", stdout)
	}
}

func TestRepeatPrintsSummary(t *testing.T) {
	localaws.Need(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	event := writeFile(t, "event.json", `{"echo":1}`)
	code, stdout, stderr := runCLI(t, "-pkg", echoPkg, "-event", event, "-repeat", "5")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Count(stdout, "--- REPORT") != 5 || strings.Count(stdout, "Init Duration") != 1 {
		t.Errorf("want 5 reports, one of them cold:\n%s", stdout)
	}
	if !regexp.MustCompile(`--- summary\nbootstrap [0-9.]+ MiB, init .+, first invoke .+, warm invoke p50 .+ p95 .+ max .+ \(n=5\)`).MatchString(stdout) {
		t.Errorf("output lacks the summary:\n%s", stdout)
	}
}

func TestBadInputNamesWhatAndWhere(t *testing.T) {
	localaws.Need(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	good := writeFile(t, "event.json", `{}`)
	bad := writeFile(t, "bad.json", `{"detail": }`)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no function", []string{"-event", good}, "-fn is required"},
		{"make without FN", []string{"-fn", "-event", good}, "-fn is required"},
		{"unknown function", []string{"-fn", "nosuch", "-event", good}, filepath.Join("functions", "nosuch") + "; functions: "},
		{"no event", []string{"-pkg", echoPkg}, "-event is required"},
		{"missing event", []string{"-pkg", echoPkg, "-event", "/nonexistent/ev.json"}, "/nonexistent/ev.json"},
		{"invalid event", []string{"-pkg", echoPkg, "-event", bad}, "-event " + bad + " is not valid JSON"},
		{"missing declaration", []string{"-pkg", echoPkg, "-event", good, "-declaration", "/nonexistent/decl.json"}, "-declaration: stat /nonexistent/decl.json"},
		{"not a package", []string{"-pkg", "./nosuchpkg", "-event", good}, "building ./nosuchpkg for the host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d stderr %q, want exit 2 and %q\nstdout: %s", code, stderr, c.want, stdout)
			}
		})
	}
}

// The progress line says what the answer says happened: the answer itself
// comes after the function's log lines.
func TestAnswerSummary(t *testing.T) {
	for payload, want := range map[string]string{
		`{"target":"x","rejected":"region-not-configured","detail":"d","examined":0}`: ": rejected (region-not-configured), nothing written",
		`{"target":"x","ignored":"repository gone","examined":0}`:                     ": ignored, nothing written",
		`{"error":"action: missing"}`:                                                 ": refused the input, nothing written",
		`{"target":"x","examined":9,"unchanged":8,"changed":1,"refused":0}`:           ": 1 changed, 8 unchanged",
		`{"target":"x","examined":0,"unchanged":0}`:                                   ": 0 examined",
		`{"batchItemFailures":[]}`:                                                    "",
		`"not an object"`:                                                             "",
	} {
		if got := answerSummary([]byte(payload)); got != want {
			t.Errorf("answerSummary(%s) = %q, want %q", payload, got, want)
		}
	}
}

// The diffs of an answer are printed again as text after the JSON, where
// they are escaped strings.
func TestPrintResultShowsDiffsAsText(t *testing.T) {
	var b strings.Builder
	printResult(&b, lambdalocal.Result{Payload: []byte(`{"target":"x","changes":[{"target":"x","diff":"create ecr-repository-policy x\n  + \"EcrWardenPull\"\n"}]}`)})
	if !strings.Contains(b.String(), "--- the response's diffs, as text\ncreate ecr-repository-policy x\n  + \"EcrWardenPull\"\n--- REPORT") {
		t.Errorf("printResult:\n%s", b.String())
	}
	b.Reset()
	printResult(&b, lambdalocal.Result{Payload: []byte(`{"target":"x","examined":1}`)})
	if strings.Contains(b.String(), "as text") {
		t.Errorf("an answer without diffs:\n%s", b.String())
	}
}
