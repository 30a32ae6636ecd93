package localrun

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
)

// TestBatchFailuresAsLambdaReadsThem: the messages a delivery makes visible
// again are those Lambda's event source mapping with ReportBatchItemFailures
// retries. Named ids fail alone; no response, null or an empty list is a
// complete success; a failed invocation, invalid JSON, an empty, null or
// misnamed itemIdentifier, or an id not in the batch fails the whole batch
// (Lambda developer guide, partial batch responses), which the local run
// used to read as a partial answer (an unknown id failed nothing) or as a
// harness error (invalid JSON).
func TestBatchFailuresAsLambdaReadsThem(t *testing.T) {
	msgs := []sqstypes.Message{{MessageId: aws.String("m1")}, {MessageId: aws.String("m2")}, {MessageId: aws.String("m3")}}
	for _, tc := range []struct {
		name    string
		payload string
		err     error
		failed  []string
		whole   bool
	}{
		{name: "one failure", payload: `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, failed: []string{"m2"}},
		{name: "empty list", payload: `{"batchItemFailures":[]}`},
		{name: "null list", payload: `{"batchItemFailures":null}`},
		{name: "null response", payload: `null`},
		{name: "no response", payload: ``},
		{name: "failed invocation", err: errors.New("boom"), failed: []string{"m1", "m2", "m3"}},
		{name: "invalid JSON", payload: `{"batchItemFailures":`, failed: []string{"m1", "m2", "m3"}, whole: true},
		{name: "empty identifier", payload: `{"batchItemFailures":[{"itemIdentifier":""}]}`, failed: []string{"m1", "m2", "m3"}, whole: true},
		{name: "null identifier", payload: `{"batchItemFailures":[{"itemIdentifier":null}]}`, failed: []string{"m1", "m2", "m3"}, whole: true},
		{name: "bad key name", payload: `{"batchItemFailures":[{"itemIdentfier":"m2"}]}`, failed: []string{"m1", "m2", "m3"}, whole: true},
		{name: "id not in the batch", payload: `{"batchItemFailures":[{"itemIdentifier":"m9"}]}`, failed: []string{"m1", "m2", "m3"}, whole: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := lambdalocal.Result{Payload: []byte(tc.payload)}
			if tc.err != nil {
				r.Err = &lambdalocal.FunctionError{Type: "Runtime.Error", Message: tc.err.Error()}
			}
			failed, why := batchFailures(msgs, r)
			var got []string
			for id, ok := range failed {
				if ok {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.failed) {
				t.Errorf("failed %v, want %v", got, tc.failed)
			}
			if (why != "") != tc.whole || (tc.whole && !strings.Contains(why, "worker's")) {
				t.Errorf("whole-batch reason %q, want one: %v", why, tc.whole)
			}
		})
	}
}
