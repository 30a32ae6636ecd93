package plan

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// The printed plan names each document once (its diff's first line), and its
// last line says what the exit status means for a deploy: clean, or what to
// do about the refusals.
func TestPrintSaysWhatTheExitStatusMeans(t *testing.T) {
	r := &Result{Request: "all (dry run)", Accounts: 1, Units: 1,
		Summary: &reconcile.Report{Examined: 2, Planned: 1, Refused: 1, Errors: []string{"arn:x: secret s does not exist"}},
		Plan: []Change{{Target: "arn:aws:ecr:us-east-1:111111111111:repository/*", Kind: "ECRRegistryPolicy", Op: "create",
			Diff: "create ecr-registry-policy arn:aws:ecr:us-east-1:111111111111:repository/*\n  reason: no document exists\n"}}}
	var out bytes.Buffer
	Print(&out, r)
	got := out.String()
	t.Logf("\n%s", got)
	if strings.Count(got, "arn:aws:ecr:us-east-1:111111111111:repository/*") != 1 {
		t.Errorf("the document is named more than once:\n%s", got)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "not clean (exit 1)") || !strings.Contains(last, "ALLOW_REFUSALS=true") {
		t.Errorf("last line %q does not say what the refusal means for a deploy", last)
	}
	r.Summary.Refused, r.Summary.Errors = 0, nil
	out.Reset()
	Print(&out, r)
	if !strings.HasSuffix(out.String(), "clean: a deploy of this declaration applies exactly this plan.\n") {
		t.Errorf("clean plan:\n%s", out.String())
	}
	r.Summary.Planned, r.Plan = 0, nil
	out.Reset()
	Print(&out, r)
	if !strings.HasSuffix(out.String(), "clean: nothing to change, AWS already matches the declaration.\n") {
		t.Errorf("empty plan:\n%s", out.String())
	}
}

// A dry run that cannot read the organization says so with the credentials
// that can, without the function's Go error type or the runtime's echo of
// the message.
func TestRunFailedNamesTheNextStep(t *testing.T) {
	msg := "backfill backfill-01M8: walking the organization: listing OUs under r-dep2: ParentNotFoundException: You specified parent that doesn't exist."
	fe := &lambdalocal.FunctionError{Type: "wrapError", Message: msg}
	logs := []string{`{"level":"INFO","message":"{\"errorMessage\":\"` + msg + `\",\"errorType\":\"wrapError\"}"}`}
	got := runFailed(fe, logs, "").Error()
	t.Log(got)
	if strings.Contains(got, "wrapError") || strings.Count(got, "ParentNotFoundException") != 1 || !strings.Contains(got, "ORG_ROLE=<reader role ARN>") {
		t.Errorf("runFailed:\n%s", got)
	}
	if got := runFailed(fe, nil, "arn:aws:iam::1:role/r").Error(); !strings.Contains(got, "read through arn:aws:iam::1:role/r") {
		t.Errorf("with a reader role:\n%s", got)
	}
}

// An ORG_ROLE that is no role ARN is named, with what to pass instead, before anything is built;
// before, the dry run failed at the backfill's init with a log line naming WARDEN_ORG_ROLE_ARN.
func TestCheckOrgRoleNamesABadARN(t *testing.T) {
	for _, good := range []string{"arn:aws:iam::123456789012:role/ecr-warden-organization-reader",
		"arn:aws-us-gov:iam::123456789012:role/path/reader"} {
		if err := CheckOrgRole(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"arn:aws:iam::123:role/x", "ecr-warden-organization-reader", "arn:aws:iam::123456789012:user/x",
		"arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/"} {
		err := CheckOrgRole(bad)
		if !errors.As(err, new(MismatchError)) || !strings.Contains(err.Error(), `ORG_ROLE (-org-role; default WARDEN_ORG_ROLE_ARN) "`+bad+`" is not a role ARN`) ||
			!strings.Contains(err.Error(), ":role/ecr-warden-organization-reader") {
			t.Errorf("%s: %v, want it named with the reader's ARN shape", bad, err)
		}
	}
}
