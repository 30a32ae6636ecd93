package config_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestReservedConcurrencyNamesEveryFunction: functions.reservedConcurrency knows the hub functions by
// the names trigger.Functions gives them (the CDK app sets each function's reserved concurrency from
// Of(fn), and config cannot import trigger). A function config knew by another name would be
// deployed with a reserved concurrency of 0, which means it never runs, and neither its default nor
// its validation would notice; infra's test compares with DefaultReservedConcurrency[fn], 0 as well.
func TestReservedConcurrencyNamesEveryFunction(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(config.DefaultReservedConcurrency)), slices.Sorted(slices.Values(trigger.Functions)); !slices.Equal(got, want) {
		t.Errorf("DefaultReservedConcurrency names %v, want trigger.Functions %v", got, want)
	}
	var d config.Declaration
	d.ApplyDefaults()
	for _, fn := range trigger.Functions {
		if got, want := d.Functions.ReservedConcurrency.Of(fn), config.DefaultReservedConcurrency[fn]; got == 0 || got != want {
			t.Errorf("after ApplyDefaults, Of(%q) = %d, want its default %d (not 0)", fn, got, want)
		}
	}
	// Validation checks each function's value under its name.
	raw := `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},
	  "functions":{"reservedConcurrency":{"repository":901,"account":901,"backfill":901,"worker":901,"drift":901}}}`
	_, err := config.Parse([]byte(raw))
	for _, fn := range trigger.Functions {
		path := "functions.reservedConcurrency." + fn
		if err == nil || !containsPath(err, path) {
			t.Errorf("a reserved concurrency of 901 for %s is not reported at %s: %v", fn, path, err)
		}
	}
}

func containsPath(err error, path string) bool {
	var errs *config.ValidationError
	if !errors.As(err, &errs) {
		return false
	}
	for _, p := range errs.Problems {
		if p.Path == path {
			return true
		}
	}
	return false
}
