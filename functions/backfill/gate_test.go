package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestRequireCleanPlanRefusesAHalfApplicableDeclaration: with the hub registry on policy scope V1
// and allowSwitchToV2 false, the hub's registry grant is refused. A real run with requireCleanPlan
// (what the deploy-time backfill sends) fails the invocation naming the refusal and writes and
// queues nothing; the same run without it applies everything else.
func TestRequireCleanPlanRefusesAHalfApplicableDeclaration(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	if _, err := w.ecr(hub, region).PutAccountSetting(w.ctx, &ecr.PutAccountSettingInput{
		Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}); err != nil {
		t.Fatal(err)
	}
	bf := w.start("backfill", nil)
	proxy.Reset()
	res, err := bf.Invoke(w.ctx, []byte(`{"action":"backfill","targets":{"all":true},"requireCleanPlan":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Fatalf("a plan with a refusal was applied: %s", res.Payload)
	}
	msg := res.Err.Error()
	for _, want := range []string{"the plan refuses 1 document(s), so nothing was applied", "allowRefusals=true", "allowSwitchToV2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not say %q: %s", want, msg)
		}
	}
	if n := policyWrites(); len(n) != 0 {
		t.Errorf("refused run wrote to AWS: %v", n)
	}
	q := sqs.NewFromConfig(srv.Config(region))
	attrs, err := q.GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.env.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("refused run queued %s units", n)
	}

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if run.Error != "" || run.Queued != 10 {
		t.Fatalf("without requireCleanPlan the run should queue every unit: %+v", run)
	}
}
