package main

import (
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

var scannerARN = policy.PublicRepositoryARN(hubAccount, "tools/scanner")

// An ECR Public repository created by event gets the declared push grant;
// the same event again writes nothing.
func TestPublicRepositoryGetsPushGrant(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createPublic("tools/scanner")
	inst := w.start(nil)
	event := w.event("ecr-public-create-repository.json")

	r := w.mustInvoke(inst, event)
	if r.Changed != 1 || r.Target != scannerARN {
		t.Fatalf("response %+v, want one change to %s", r, scannerARN)
	}
	goldenFile(t, "public-repository-policy.tools-scanner.json", w.publicPolicy("tools/scanner"))
	if n := proxy.Count("ecr-public", "SetRepositoryPolicy"); n != 1 {
		t.Errorf("ecr-public SetRepositoryPolicy calls = %d, want 1", n)
	}

	proxy.Reset()
	r = w.mustInvoke(inst, event)
	if r.Unchanged != 1 {
		t.Errorf("re-run: %+v, want unchanged", r)
	}
	if n := awsWrites(); n != 0 {
		t.Errorf("re-run made %d AWS writes, want 0: %v", n, proxy.Counts())
	}
	if got := decisions(w.history(scannerARN)); got != "applied,noop" {
		t.Errorf("audit decisions = %s, want applied,noop", got)
	}
}

// A foreign statement in a public repository policy is kept byte for byte.
func TestPublicForeignStatementKept(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createPublic("tools/scanner")
	const foreign = `{"Sid":"PartnerPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:role/partner-release"},"Action":["ecr-public:PutImage","ecr-public:InitiateLayerUpload","ecr-public:UploadLayerPart","ecr-public:CompleteLayerUpload","ecr-public:BatchCheckLayerAvailability"]}`
	w.setPublicPolicy("tools/scanner", `{"Version":"2008-10-17","Statement":[`+foreign+`]}`)
	inst := w.start(nil)

	w.mustInvoke(inst, w.event("ecr-public-create-repository.json"))
	got := w.publicPolicy("tools/scanner")
	if s := statementJSON(t, got, "PartnerPush"); s != foreign {
		t.Errorf("foreign statement changed:\ngot  %s\nwant %s", s, foreign)
	}
	doc, err := policy.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	owned, foreignSt := policy.Split(doc, sidPrefix)
	want, err := policy.Parse(readGolden(t, "public-repository-policy.tools-scanner.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != len(want.Statements) || len(foreignSt) != 1 {
		t.Errorf("owned/foreign statements = %d/%d, want %d/1:\n%s", len(owned), len(foreignSt), len(want.Statements), got)
	}
	for i := range owned {
		if !policy.StatementsEquivalent(owned[i], want.Statements[i]) {
			t.Errorf("owned statement %s differs from the golden", owned[i].Sid)
		}
	}
}

// A hand edit that drops ecr-warden's statement is reverted when its
// SetRepositoryPolicy event reaches drift (where trigger.Routes sends it; the
// repository function rejects it), and the hand-added statement stays.
func TestPublicHandEditReverted(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createPublic("tools/scanner")
	inst := w.start(nil)
	w.mustInvoke(inst, w.event("ecr-public-create-repository.json"))

	const hand = `{"Sid":"HandAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr-public:DescribeImages"}`
	w.setPublicPolicy("tools/scanner", `{"Version":"2008-10-17","Statement":[`+hand+`]}`)
	if r := w.mustInvoke(inst, w.event("ecr-public-set-repository-policy.json")); r.Rejected != string(trigger.ReasonUnknownEvent) {
		t.Errorf("repository function: %+v, want the drift event rejected as another function's", r)
	}
	r := w.mustInvoke(w.startDrift(), w.event("ecr-public-set-repository-policy.json"))
	if r.Changed != 1 {
		t.Fatalf("drift event: %+v, want one change", r)
	}
	got := w.publicPolicy("tools/scanner")
	if s := statementJSON(t, got, "HandAdded"); s != hand {
		t.Errorf("hand-added statement changed: %s", s)
	}
	doc, err := policy.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	owned, _ := policy.Split(doc, sidPrefix)
	want, err := policy.Parse(readGolden(t, "public-repository-policy.tools-scanner.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != len(want.Statements) {
		t.Errorf("owned statements after the revert = %d, want %d:\n%s", len(owned), len(want.Statements), got)
	}
	// The revert's writer finds AWS not holding what the first write
	// recorded, and says so (diverged, with both documents) before writing.
	if got := decisions(w.history(scannerARN)); got != "applied,diverged,applied" {
		t.Errorf("audit decisions = %s, want applied,diverged,applied", got)
	}
}

// ECR Public's API lives in us-east-1 only: an event from another region is
// rejected with a reason saying so, and nothing is written.
func TestPublicEventOutsideUSEast1Rejected(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createPublic("tools/scanner")
	inst := w.start(nil)
	event := strings.ReplaceAll(string(w.event("ecr-public-create-repository.json")), "us-east-1", "eu-west-1")

	r := w.mustInvoke(inst, []byte(event))
	if trigger.Reason(r.Rejected) != trigger.ReasonPublicRegion || !strings.Contains(r.Detail, "us-east-1 only") {
		t.Errorf("response %+v, want rejected %s naming us-east-1", r, trigger.ReasonPublicRegion)
	}
	if n := awsWrites(); n != 0 {
		t.Errorf("%d AWS writes, want 0", n)
	}
	if p := w.publicPolicy("tools/scanner"); p != "" {
		t.Errorf("policy written for a rejected event: %s", p)
	}
	recs := w.history(scannerARN)
	if got := decisions(recs); got != "rejected" || !strings.Contains(recs[0].Error, "us-east-1") {
		t.Errorf("audit = %s %v, want one rejected record naming us-east-1", got, recs)
	}
}
