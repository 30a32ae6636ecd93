package policy

import (
	"net/url"
	"strings"
	"testing"
)

// The example policies of the AWS documentation pages in ../../shared/seeds
// (placeholders replaced by real-looking values) must parse, pass Guard for
// their kind and survive a round trip, since ecr-warden will meet documents
// written from them in real accounts.
func TestSeedExamples(t *testing.T) {
	cases := []struct {
		name string
		kind DocumentKind
		text string
	}{
		{"000 PTC registry statement", ECRRegistryPolicy, `{"Version":"2012-10-17","Statement":[{ "Sid": "PullThroughCacheFromReadOnlyRole", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:user/ecr-pull-through-cache-user" }, "Action": [ "ecr:CreateRepository", "ecr:BatchImportUpstreamImage" ], "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/ecr-public/*" }]}`},
		{"002 registry cross-account push/pull", ECRRegistryPolicy, `{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::222233334444:root" }, "Action": [ "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability", "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload" ], "Resource": "*" } ] }`},
		{"002 repository push/pull", ECRRepositoryPolicy, `{ "Version": "2012-10-17", "Statement": [ { "Sid": "AllowPushPull", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::222233334444:root" }, "Action": [ "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability", "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload" ] } ] }`},
		{"003 PTC role permissions", RoleInlinePolicy, `{ "Version":"2012-10-17", "Statement": [ { "Sid": "VisualEditor0", "Effect": "Allow", "Action": [ "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken", "ecr:BatchImportUpstreamImage", "ecr:BatchGetImage", "ecr:GetImageCopyStatus", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage" ], "Resource": "*" } ] }`},
		{"003 PTC role trust", RoleTrustPolicy, `{ "Version":"2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Service": "pullthroughcache.ecr.amazonaws.com" }, "Action": "sts:AssumeRole" } ] }`},
		{"004 public repository policy", PublicRepositoryPolicy, `{ "Version": "2008-10-17", "Statement": [{ "Sid": "ECR Public Repository Policy", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:user/username" }, "Action": [ "ecr-public:DescribeImages", "ecr-public:DescribeRepositories" ] }] }`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustParse(t, c.text)
			if err := Guard(c.kind, d); err != nil {
				t.Fatalf("Guard: %v", err)
			}
			out, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckSize(c.kind, c.name, out); err != nil {
				t.Fatal(err)
			}
			if eq, err := Equivalent(c.text, out); err != nil || !eq {
				t.Fatalf("round trip not equivalent: %v %v", eq, err)
			}
			// IAM hands trust and inline policies back URL-encoded.
			enc := strings.ReplaceAll(url.QueryEscape(c.text), "+", "%20")
			if eq, err := Equivalent(enc, c.text); err != nil || !eq {
				t.Fatalf("URL-encoded form not equivalent: %v %v", eq, err)
			}
		})
	}
	// IAM would refuse the seed's spaced Sid in a role policy.
	err := Guard(RoleInlinePolicy, mustParse(t, `{"Statement":[{"Sid":"Has Space","Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*"}]}`))
	if err == nil || !strings.Contains(err.Error(), "letters and digits") {
		t.Fatalf("spaced Sid in an IAM policy: %v", err)
	}
}
