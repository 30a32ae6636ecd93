package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

var moto *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &moto) }

var all = Spec{Name: "test", Env: []string{DeclarationFile, AuditTable, LeaseTable, OrgRoleARN}}

// environment points the default config chain at the local AWS, with fresh
// tables and the example declaration, as the stack sets a function up.
func environment(t *testing.T) {
	t.Helper()
	localaws.Need(t)
	if err := moto.Reset(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": moto.URL, "AWS_MAX_ATTEMPTS": "",
		DeclarationFile: "../../infra/declaration.json", AuditTable: "audit", LeaseTable: "leases", OrgRoleARN: "",
	} {
		t.Setenv(k, v)
	}
	db := dynamodb.NewFromConfig(moto.Config("us-east-1"))
	if err := audit.CreateTable(t.Context(), db, "audit"); err != nil {
		t.Fatal(err)
	}
	if err := lease.CreateTable(t.Context(), db, "leases"); err != nil {
		t.Fatal(err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLoadBuildsTheEngine: with the stack's variables set, everything a
// handler needs is there, and the Organizations reader exists exactly when
// the spec declares WARDEN_ORG_ROLE_ARN.
func TestLoadBuildsTheEngine(t *testing.T) {
	localaws.Need(t)
	environment(t)
	env, err := Load(t.Context(), all, discard())
	if err != nil {
		t.Fatal(err)
	}
	if env.Decl == nil || env.Trail == nil || env.Leases == nil || env.Org == nil || env.Engine == nil {
		t.Fatalf("incomplete Env: %+v", env)
	}
	if env.Engine.Org != env.Org || env.Engine.Decl != env.Decl || env.Engine.Exec.Trail != env.Trail || env.Engine.Exec.Leases != env.Leases {
		t.Errorf("the engine is not built from the Env's parts")
	}
	// infra/declaration.json's hub regions are us-east-1 and eu-west-1: each
	// region's documents are leased in that region's table.
	if us, eu := env.Leases.For(lease.RegistryKey("222222222222", "us-east-1")), env.Leases.For(lease.RegistryKey("222222222222", "eu-west-1")); us == nil || eu == nil || us == eu {
		t.Errorf("the leases of us-east-1's and eu-west-1's registries are not taken in their own regions' tables")
	}
	if env.Self.AccountID != "123456789012" || env.DeclarationPath != "../../infra/declaration.json" {
		t.Errorf("self %+v, declaration %s", env.Self, env.DeclarationPath)
	}
	worker := Spec{Name: "worker", Env: []string{DeclarationFile, AuditTable, LeaseTable}}
	env, err = Load(t.Context(), worker, discard())
	if err != nil {
		t.Fatal(err)
	}
	if env.Org != nil || env.Engine.Org != nil {
		t.Errorf("a spec without %s got an Organizations reader", OrgRoleARN)
	}
}

// TestLoadNamesWhatIsWrong: each bad setting stops init with a message
// naming the variable or file.
func TestLoadNamesWhatIsWrong(t *testing.T) {
	localaws.Need(t)
	for _, c := range []struct{ key, value, want string }{
		{DeclarationFile, "/nonexistent/declaration.json", "loading the declaration (/nonexistent/declaration.json)"},
		{AuditTable, "", "set WARDEN_AUDIT_TABLE"},
		{LeaseTable, "", "set WARDEN_LEASE_TABLE"},
		{OrgRoleARN, "arn:aws:iam::999999999999:user/reader", `WARDEN_ORG_ROLE_ARN="arn:aws:iam::999999999999:user/reader"`},
		{"AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS"},
	} {
		environment(t)
		t.Setenv(c.key, c.value)
		if _, err := Load(t.Context(), all, discard()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: error %v, want one containing %q", c.key, c.value, err, c.want)
		}
	}
	// A spec that forgets a variable every function reads is refused before
	// anything is called.
	_, err := Load(t.Context(), Spec{Name: "partial", Env: []string{DeclarationFile, AuditTable}}, discard())
	if err == nil || !strings.Contains(err.Error(), "function partial: Spec.Env must declare WARDEN_LEASE_TABLE") {
		t.Errorf("partial spec: error %v", err)
	}
}

func TestVarRefusesUndeclared(t *testing.T) {
	t.Setenv("WARDEN_WORK_QUEUE_URL", "https://queue")
	s := Spec{Name: "backfill", Env: []string{"WARDEN_WORK_QUEUE_URL"}}
	if got := s.Var("WARDEN_WORK_QUEUE_URL"); got != "https://queue" {
		t.Errorf("Var = %q", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "backfill reads WARDEN_SELF_ROLE_NAMES") {
			t.Errorf("undeclared read: recovered %v, want a panic naming the function and variable", r)
		}
	}()
	s.Var("WARDEN_SELF_ROLE_NAMES")
}

func TestDeclarationPath(t *testing.T) {
	t.Setenv("LAMBDA_TASK_ROOT", "/var/task")
	if got := declarationPath("/etc/decl.json"); got != "/etc/decl.json" {
		t.Errorf("set: %s", got)
	}
	if got := declarationPath(""); got != "/var/task/declaration.json" {
		t.Errorf("in Lambda: %s", got)
	}
	t.Setenv("LAMBDA_TASK_ROOT", "")
	exe, _ := os.Executable()
	if got := declarationPath(""); got != filepath.Join(filepath.Dir(exe), "declaration.json") {
		t.Errorf("next to the binary: %s", got)
	}
}

func TestParseRoleARN(t *testing.T) {
	for _, c := range []struct{ arn, partition, account, name string }{
		{"arn:aws:iam::999999999999:role/ecr-warden-org-read", "aws", "999999999999", "ecr-warden-org-read"},
		{"arn:aws-cn:iam::999999999999:role/ops/ecr-warden-org-read", "aws-cn", "999999999999", "ops/ecr-warden-org-read"},
	} {
		p, a, n, err := ParseRoleARN(c.arn)
		if err != nil || p != c.partition || a != c.account || n != c.name {
			t.Errorf("ParseRoleARN(%s) = %s %s %s %v", c.arn, p, a, n, err)
		}
	}
	for _, bad := range []string{"", "ecr-warden-org-read", "arn:aws:iam::99999999999:role/x", "arn:aws:iam::999999999999:user/x",
		"arn:aws:sts::999999999999:assumed-role/x/y", "arn:aws:iam::999999999999:role/"} {
		if _, _, _, err := ParseRoleARN(bad); err == nil {
			t.Errorf("ParseRoleARN(%q) accepted a non-role ARN", bad)
		}
	}
}

type recorder struct {
	recs []audit.Record
	err  error
}

func (r *recorder) Record(_ context.Context, rec audit.Record) error {
	r.recs = append(r.recs, rec)
	return r.err
}

// TestReject: the record says why and what; an unreadable shape's raw input
// goes to the log; a record that cannot be stored fails the call.
func TestReject(t *testing.T) {
	rej := &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Detail: "not ours", Raw: `{"odd":1}`,
		Trigger: trigger.Trigger{EventID: "ev-1", EventAccount: "111111111111", EventRegion: "us-east-1"}}
	target := EventTarget([]byte(`{}`), rej)
	if target.ARN != "event/ev-1" || target.AccountID != "111111111111" || target.Region != "us-east-1" || target.Kind != "Event" {
		t.Errorf("event target %+v", target)
	}
	var logs bytes.Buffer
	rec := &recorder{}
	if err := Reject(t.Context(), rec, slog.New(slog.NewJSONHandler(&logs, nil)), target, rej); err != nil {
		t.Fatal(err)
	}
	if len(rec.recs) != 1 {
		t.Fatalf("%d records", len(rec.recs))
	}
	r := rec.recs[0]
	if r.Decision != audit.DecisionRejected || r.Target != target || r.Error != "unknown-event: not ours" || r.Trigger.EventType != "unreadable" {
		t.Errorf("record %+v", r)
	}
	if !strings.Contains(logs.String(), `"msg":"rejected input"`) || !strings.Contains(logs.String(), `{\"odd\":1}`) {
		t.Errorf("raw input not logged: %s", logs.String())
	}

	rec.err = errors.New("table gone")
	err := Reject(t.Context(), rec, discard(), target, rej)
	if err == nil || !strings.Contains(err.Error(), `recording the rejection of event "ev-1" (unknown-event): table gone`) {
		t.Errorf("error %v", err)
	}

	// Without an event id the bytes name the event.
	anon := EventTarget([]byte("not json"), &trigger.Rejection{})
	if !strings.HasPrefix(anon.ARN, "event/sha256-") || len(anon.ARN) != len("event/sha256-")+16 {
		t.Errorf("anonymous target %s", anon.ARN)
	}
}

// Raw hands the handler the payload's bytes as they came, even when they are
// not JSON, and encodes its answer; a handler error fails the invocation.
func TestRawPassesBytesThrough(t *testing.T) {
	var got []string
	h := Raw(func(_ context.Context, raw json.RawMessage) (map[string]string, error) {
		got = append(got, string(raw))
		if string(raw) == "fail" {
			return nil, errors.New("table unavailable")
		}
		return map[string]string{"saw": string(raw)}, nil
	})
	for _, p := range []string{"", " ", "{", "abc", "null"} {
		out, err := h.Invoke(context.Background(), []byte(p))
		want, _ := json.Marshal(map[string]string{"saw": p})
		if err != nil || string(out) != string(want) {
			t.Errorf("Invoke(%q) = %s, %v; want %s", p, out, err, want)
		}
	}
	if _, err := h.Invoke(context.Background(), []byte("fail")); err == nil || err.Error() != "table unavailable" {
		t.Errorf("handler error = %v, want it returned", err)
	}
	if len(got) != 6 || got[0] != "" || got[3] != "abc" {
		t.Errorf("handler saw %q", got)
	}
}
