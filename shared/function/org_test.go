package function

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
)

// TestOrgReaderDenied: when STS refuses the organization reader (the
// management stack not deployed yet, or WARDEN_ORG_ROLE_ARN naming another
// install's role), the first Organizations call fails with AWS's
// AccessDenied and what to do: which stack creates the role and which
// variable names it. STS is answered here as AWS answers, since the local
// AWS lets AssumeRole into any role.
func TestOrgReaderDenied(t *testing.T) {
	const role = "arn:aws:iam::999999999999:role/ecr-warden-organization-reader"
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "AssumeRole" {
			t.Errorf("unexpected call %s %v", r.URL, r.Form)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::111111111111:assumed-role/ecr-warden-account/ecr-warden-account is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, r.Form.Get("RoleArn"))
	}))
	defer srv.Close()
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	cfg, err := orgConfig(context.Background(), base, role, "account")
	if err != nil {
		t.Fatal(err)
	}
	_, err = organizations.NewFromConfig(cfg).ListRoots(context.Background(), &organizations.ListRootsInput{})
	if err == nil {
		t.Fatal("ListRoots through a refused reader succeeded")
	}
	for _, want := range []string{"AccessDenied", "the organization reader " + role + " (WARDEN_ORG_ROLE_ARN) cannot be assumed",
		"EcrWarden-Management", "ecr-warden-organization-reader", "ORG_ROLE="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if calls == 0 {
		t.Error("STS was not asked")
	}
}
