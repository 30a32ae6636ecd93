package localaws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// srv is one local AWS for the whole test binary; each test resets it.
var srv *Server

func TestMain(m *testing.M) { Main(m, &srv) }

// fresh wipes the local AWS and returns the default account's config.
func fresh(t *testing.T, region string) aws.Config {
	t.Helper()
	Need(t)
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	return srv.Config(region)
}

// member returns a config acting in accountID through sts:AssumeRole.
func member(t *testing.T, base aws.Config, accountID string) aws.Config {
	t.Helper()
	cfg, err := AccountConfig(context.Background(), base, accountID, "ecr-warden-execution")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wantErr asserts err is the SDK's typed exception T and that its message
// contains each of the given fragments.
func wantErr[T error](t *testing.T, err error, fragments ...string) T {
	t.Helper()
	var typed T
	if !errors.As(err, &typed) {
		t.Fatalf("got error %v (%T), want %T", err, err, typed)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
	return typed
}

// wantCode asserts err is an AWS API error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != code {
		t.Fatalf("got error %v, want API error code %s", err, code)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
