package inventory

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

const trustDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}]}`

// permDoc has characters URL encoding changes: spaces, '+', '%', '/'.
const permDoc = `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWarden PTC+x 100%","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}`

func TestRoleDecodesDocumentsAndReportsAbsence(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := iam.NewFromConfig(fresh(t, &counts))
	roles := NewRoles(c, testAccount)

	st, err := roles.Role(ctx, "ecr-warden-ptc", "ptc")
	if err != nil || st.Exists {
		t.Fatalf("absent role: %+v %v", st, err)
	}
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ecr-warden-ptc"), AssumeRolePolicyDocument: aws.String(trustDoc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ecr-warden-ptc"), PolicyName: aws.String("ptc"), PolicyDocument: aws.String(permDoc)}); err != nil {
		t.Fatal(err)
	}
	counts.Reset()
	st, err = roles.Role(ctx, "ecr-warden-ptc", "ptc", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || st.ARN != "arn:aws:iam::123456789012:role/ecr-warden-ptc" {
		t.Fatalf("role: %+v", st)
	}
	if st.TrustPolicy != trustDoc {
		t.Errorf("trust policy:\n%s\nwant\n%s", st.TrustPolicy, trustDoc)
	}
	if st.InlinePolicies["ptc"] != permDoc || len(st.InlinePolicies) != 1 {
		t.Errorf("inline policies: %q, want only ptc = %s", st.InlinePolicies, permDoc)
	}
	if counts.Total() != 3 || counts.Get("IAM", "GetRole") != 1 || counts.Get("IAM", "GetRolePolicy") != 2 {
		t.Errorf("calls:\n%s want GetRole + 2 GetRolePolicy", counts.String())
	}
}

func TestDecodePolicy(t *testing.T) {
	for in, want := range map[string]string{
		"%7B%22a%22%3A%22b%2Bc%20d%22%7D": `{"a":"b+c d"}`, // RFC 3986: + is %2B
		`{"a":"100%"}`:                    `{"a":"100%"}`,  // already plain JSON
		"%7B%22a%22%3A%22x+y%22%7D":       `{"a":"x+y"}`,   // a literal + stays a plus
	} {
		if got, err := decodePolicy(in); err != nil || got != want {
			t.Errorf("decodePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := decodePolicy("%zz"); err == nil || !strings.Contains(err.Error(), "invalid URL escape") {
		t.Errorf("bad escape: %v", err)
	}
}
