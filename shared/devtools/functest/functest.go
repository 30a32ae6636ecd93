// Package functest is the integration-test harness the function packages
// share: host builds of the real bootstrap binaries (built once per test
// binary), one local AWS with a counting, fault-injecting proxy in front of
// it, the audit and lease tables, and the environment the CDK stack gives
// every function, pointed at the proxy. Each functions/<fn> TestMain is one
// call to Main; each test starts from Reset. Only _test.go files import it.
package functest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// Names of the local tables the functions are pointed at (the same names
// shared/devtools/localrun uses, so its Prepare finds them in place).
const (
	AuditTable = audit.DefaultTable
	LeaseTable = "ecr-warden-leases"
)

// Harness is what one test binary shares across its tests.
type Harness struct {
	// Server is the local AWS; tests read and seed it directly, so their
	// own calls are not counted.
	Server *localaws.Server
	// Proxy is what the functions call: it counts calls and injects faults.
	Proxy *localaws.Proxy
	bins  map[string]string
}

// Main is a function package's TestMain: it builds the named functions
// (functions/<name>) for this host, starts the local AWS and the proxy,
// hands them to ready (where the package keeps the names its tests use),
// runs the tests, stops everything and exits with the tests' code. Under
// -short (the fast lane) it builds and starts nothing and never calls ready:
// the tests that run a binary or use the local AWS call localaws.Need first.
func Main(m *testing.M, functions []string, ready func(*Harness)) {
	os.Exit(run(m, functions, ready))
}

func run(m *testing.M, functions []string, ready func(*Harness)) int {
	if localaws.Short() {
		return m.Run()
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ecr-warden-functest-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	h := &Harness{bins: map[string]string{}}
	for _, fn := range functions {
		bin, err := lambdalocal.BuildHost(ctx, "github.com/ecr-warden/ecr-warden/functions/"+fn, dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "building the %s function: %v\n", fn, err)
			return 2
		}
		h.bins[fn] = bin
	}
	h.Server, err = localaws.Start(ctx, localaws.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local AWS:", err)
		return 2
	}
	defer h.Server.Stop()
	h.Proxy = localaws.NewProxy(h.Server.URL)
	defer h.Proxy.Close()
	ready(h)
	return m.Run()
}

// Binary is the host build of functions/<name>; Main must have built it.
func (h *Harness) Binary(name string) string {
	bin, ok := h.bins[name]
	if !ok {
		panic(fmt.Sprintf("functest: the %s function was not built (name it in functest.Main)", name))
	}
	return bin
}

// Reset gives a test a fresh local AWS: the server's state and the proxy's
// counts and faults cleared, and the audit table created in region (the
// hub's), the lease table in every region a test declares.
func (h *Harness) Reset(ctx context.Context, region string) error {
	if err := h.Server.Reset(); err != nil {
		return fmt.Errorf("resetting the local AWS: %w", err)
	}
	h.Proxy.Reset()
	db := dynamodb.NewFromConfig(h.Server.Config(region))
	if err := audit.CreateTable(ctx, db, AuditTable); err != nil {
		return err
	}
	// The lease table in every hub region the tests' declarations name: the
	// functions take a document's lease in its region's table.
	return lease.CreateTables(ctx, h.Server.Config(region), LeaseTable, testHubRegions)
}

// testHubRegions are the hub regions the integration tests' declarations
// name.
var testHubRegions = []string{"us-east-1", "eu-west-1"}

// Env is the environment the CDK stack gives every function, pointed at the
// proxy with test credentials: the declaration file and the two tables.
// Callers add what their function also reads (WARDEN_ORG_ROLE_ARN, ...).
func (h *Harness) Env(declaration string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":        h.Proxy.URL,
		"AWS_ACCESS_KEY_ID":       "testing",
		"AWS_SECRET_ACCESS_KEY":   "testing",
		"WARDEN_DECLARATION_FILE": declaration,
		"WARDEN_AUDIT_TABLE":      AuditTable,
		"WARDEN_LEASE_TABLE":      LeaseTable,
	}
}
