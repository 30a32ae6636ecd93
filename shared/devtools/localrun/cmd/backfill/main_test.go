package main

import (
	"strings"
	"testing"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The local backfill's last line points at the run's records, at the refused
// and failed ones first when there are any.
func TestNextStep(t *testing.T) {
	run := "backfill-01M8XP4QM4CC19BZS39YQ6P5C8"
	if got := nextStep(run, false); got != "next: make audit RUN="+run+" (every record of this run)" {
		t.Errorf("clean run: %q", got)
	}
	if got := nextStep(run, true); !strings.Contains(got, `make audit RUN=`+run+` ARGS="-decision refused,failed"`) {
		t.Errorf("run with refusals: %q", got)
	}
	if got := nextStep("", true); got != "" {
		t.Errorf("no run id: %q", got)
	}
}

// A target the organization does not hold is named, with the usual cause.
func TestMissingTargets(t *testing.T) {
	got := missingTargets([]string{"ou-ab12-11111111", "222222222222"})
	if !strings.HasPrefix(got, "not in the organization: ou-ab12-11111111, 222222222222; nothing was planned or written for them") ||
		!strings.Contains(got, "build/emulator/events/") {
		t.Errorf("missingTargets = %q", got)
	}
}
