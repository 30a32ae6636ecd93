package awsapi

import (
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestDriftRecognisesTheMemberSessionsFunctionsOpen: a write a function makes in a member through
// the execution role, in a session named SessionName, is one drift handling takes for
// ecr-warden's own (trigger.SelfWriters), so it never re-converges it; a session of the same role
// under another name (an administrator's) is not. Were the session name and the prefix drift
// looks for to differ, every member write would wake drift again.
func TestDriftRecognisesTheMemberSessionsFunctionsOpen(t *testing.T) {
	const member, role = "222222222222", "ecr-warden-execution"
	self := trigger.SelfWriters{Partition: "aws", HubAccount: "111111111111", MemberRole: role}
	session := func(name string) trigger.Actor {
		return trigger.Actor{Type: "AssumedRole", AccountID: member,
			ARN:              "arn:aws:sts::" + member + ":assumed-role/" + role + "/" + name,
			SessionIssuerARN: RoleARN("aws", member, role)}
	}
	for _, fn := range trigger.Functions {
		if !self.Recognises(session(SessionName(fn)), member) {
			t.Errorf("drift does not recognise the %s function's member session %q as ecr-warden's", fn, SessionName(fn))
		}
	}
	if self.Recognises(session("alice"), member) {
		t.Error("drift takes an administrator's session of the execution role for ecr-warden's")
	}
}
