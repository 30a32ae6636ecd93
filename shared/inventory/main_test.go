package inventory

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// server is the package's one moto process; each test resets it.
var server *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &server) }

// fresh resets moto and returns a config for the default (management)
// account whose calls are counted in counts.
func fresh(t testing.TB, counts *Counts) aws.Config {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config("us-east-1")
	cfg.APIOptions = append(cfg.APIOptions, CountCalls(counts))
	return cfg
}
