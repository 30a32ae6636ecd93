package localaws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// TestAssumeRoleNeedsTheRole: sts:AssumeRole into a role that does not exist
// is refused as AWS refuses it (HTTP 403, AccessDenied, "User: <caller> is
// not authorized to perform: sts:AssumeRole on resource: <role arn>"), in
// the default account and in another one, by the full ARN (a role under a
// path only with its path); once the role exists the same call succeeds and
// acts in the role's account. The harness's own session name, "localaws",
// is exempt: it stands for the test's administrator access to any account.
func TestAssumeRoleNeedsTheRole(t *testing.T) {
	ctx := context.Background()
	hub := fresh(t, "us-east-1")
	const other = "210987654321"
	mgmt := member(t, hub, other) // the harness's session: no role needed
	c := sts.NewFromConfig(hub)
	assume := func(arn, session string) (*sts.AssumeRoleOutput, error) {
		return c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String(session)})
	}
	refused := func(arn string) {
		t.Helper()
		_, err := assume(arn, "ecr-warden-worker")
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
			t.Fatalf("assuming %s: %v, want AccessDenied", arn, err)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
			t.Errorf("assuming %s: %v, want HTTP 403", arn, err)
		}
		want := "User: arn:aws:sts::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: " + arn
		if api.ErrorMessage() != want {
			t.Errorf("assuming %s: message %q, want %q", arn, api.ErrorMessage(), want)
		}
	}
	execution := "arn:aws:iam::" + other + ":role/ecr-warden-execution"
	pathed := "arn:aws:iam::" + other + ":role/platform/reader"
	refused(execution)
	refused("arn:aws:iam::123456789012:role/ecr-warden-execution")

	if err := CreateRole(ctx, mgmt, "ecr-warden-execution"); err != nil {
		t.Fatal(err)
	}
	if err := CreateRole(ctx, mgmt, "platform/reader"); err != nil {
		t.Fatal(err)
	}
	refused("arn:aws:iam::" + other + ":role/reader")              // without its path
	refused("arn:aws:iam::123456789012:role/ecr-warden-execution") // same name, another account
	for _, arn := range []string{execution, pathed} {
		out, err := assume(arn, "ecr-warden-worker")
		if err != nil {
			t.Fatalf("assuming %s once it exists: %v", arn, err)
		}
		if got := aws.ToString(out.AssumedRoleUser.Arn); !strings.HasPrefix(got, "arn:aws:sts::"+other+":assumed-role/") {
			t.Errorf("assumed %s as %s, want a session in %s", arn, got, other)
		}
	}
	// A session in the member names itself as the caller when it is refused.
	out, _ := assume(execution, "ecr-warden-worker")
	cfg := hub.Copy()
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		k := out.Credentials
		return aws.Credentials{AccessKeyID: aws.ToString(k.AccessKeyId), SecretAccessKey: aws.ToString(k.SecretAccessKey), SessionToken: aws.ToString(k.SessionToken)}, nil
	})
	gone := "arn:aws:iam::" + other + ":role/gone"
	// A session name of at least 2 characters: STS refuses a shorter one
	// (ValidationError) before it looks at the role.
	_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(gone), RoleSessionName: aws.String("s2")})
	if err == nil || !strings.Contains(err.Error(), "User: arn:aws:sts::"+other+":assumed-role/ecr-warden-execution/ecr-warden-worker is not authorized to perform: sts:AssumeRole on resource: "+gone) {
		t.Errorf("a member session assuming %s: %v, want AccessDenied naming the session", gone, err)
	}
	// The harness's session is exempt anywhere.
	if _, err := AccountConfig(ctx, hub, "345678901234", "OrganizationAccountAccessRole"); err != nil {
		t.Errorf("the harness's session into an absent role: %v, want it exempt", err)
	}
}
