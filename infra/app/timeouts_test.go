package app

import (
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// TestTimeoutsKeepTheirStatedRelations: the timeouts this stack sets and the ages the functions
// judge by are in different packages, and their relations are what makes them right.
//   - Every function timeout is within apply.DefaultStaleAfter: a pending record older than that is
//     settled as a dead process's (by the document's next writer and by the sweep), so a function
//     still running then would have its write settled under it.
//   - The work queue's visibility timeout (six times the worker's timeout, AWS's guidance for SQS
//     event sources) exceeds reconcile.WorkFreshFor: a retried unit is then always older than
//     WorkFreshFor and reads the organization again, so it cannot restore a grant an account event
//     removed since the unit was queued.
func TestTimeoutsKeepTheirStatedRelations(t *testing.T) {
	if len(functionSpecs) != len(FunctionNames) {
		t.Fatalf("%d function specs for %d functions", len(functionSpecs), len(FunctionNames))
	}
	for _, fn := range FunctionNames {
		timeout := time.Duration(functionSpecs[fn].timeoutSeconds) * time.Second
		if timeout <= 0 || timeout > apply.DefaultStaleAfter {
			t.Errorf("%s: timeout %s, want within apply.DefaultStaleAfter (%s)", fn, timeout, apply.DefaultStaleAfter)
		}
	}
	if got := time.Duration(functionSpecs[FnWorker].timeoutSeconds) * time.Second; got != WorkerTimeoutSeconds*time.Second {
		t.Errorf("worker timeout %s, want WorkerTimeoutSeconds (%ds): the queue's visibility timeout is six times it", got, WorkerTimeoutSeconds)
	}
	if visibility := WorkVisibilitySeconds * time.Second; visibility <= reconcile.WorkFreshFor {
		t.Errorf("work queue visibility timeout %s, want more than reconcile.WorkFreshFor (%s)", visibility, reconcile.WorkFreshFor)
	}
}
