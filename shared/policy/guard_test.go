package policy

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Document {
	t.Helper()
	d, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return d
}

func TestGuardAccepts(t *testing.T) {
	cases := []struct {
		kind DocumentKind
		doc  string
	}{
		{ECRRegistryPolicy, `{"Statement":[{"Sid":"Org","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:Describe*"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}`},
		{ECRRegistryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}}]}`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws-cn:iam::123456789012:role/path/ci","arn:aws:sts::123456789012:assumed-role/ci/session","AROAEXAMPLEID1234567"]},"Action":"ecr:batchgetimage"}]}`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository"}]}`},
		{PublicRepositoryPolicy, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr-public:PutImage","ecr-public:UploadLayerPart"]}]}`},
		{RoleTrustPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}]}`},
		{RoleInlinePolicy, `{"Statement":[{"Effect":"Allow","Action":["ecr:GetDownloadUrlForLayer","ecr:GetAuthorizationToken","ecr:BatchImportUpstreamImage","ecr:BatchGetImage","ecr:GetImageCopyStatus","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage"],"Resource":"*"}]}`},
	}
	for _, c := range cases {
		if err := Guard(c.kind, mustParse(t, c.doc)); err != nil {
			t.Errorf("Guard(%s, %s) = %v, want nil", c.kind, c.doc, err)
		}
	}
}

func TestGuardRefuses(t *testing.T) {
	cases := []struct {
		kind DocumentKind
		doc  string
		want string
	}{
		{ECRRegistryPolicy, `{"Statement":[{"Sid":"Pub","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*"}]}`, `Sid "Pub"`},
		{ECRRegistryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`, "without a condition confining it"},
		{ECRRegistryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}}]}`, "without a condition confining it"},
		{ECRRegistryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringLike":{"aws:PrincipalOrgID":"*"}}}]}`, "without a condition confining it"},
		{ECRRegistryPolicy, `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`, "NotPrincipal"},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"12345678901"},"Action":"ecr:BatchGetImage"}]}`, `"12345678901"`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::12345678901x:root"},"Action":"ecr:BatchGetImage"}]}`, "not 12 digits"},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws-foo:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`, "partition"},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:group/x"},"Action":"ecr:BatchGetImage"}]}`, "root, role"},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:BatchGetImages"}]}`, `"ecr:BatchGetImages"`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"s3:GetObject"}]}`, `"s3:GetObject"`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:Frob*"}]}`, `"ecr:Frob*"`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"*"}]}`, `"*"`},
		{ECRRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage"}]}`, "no Principal"},
		{PublicRepositoryPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:PutImage"}]}`, "ecr-public"},
		{RoleTrustPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr"},"Action":"sts:AssumeRole"}]}`, "amazonaws.com"},
		{RoleTrustPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecr.amazonaws.com"},"Action":"ecr:BatchGetImage"}]}`, `"ecr:BatchGetImage"`},
		{RoleInlinePolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`, "cannot name a Principal"},
		{RoleInlinePolicy, `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`, `"sts:AssumeRole"`},
	}
	for _, c := range cases {
		err := Guard(c.kind, mustParse(t, c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Guard(%s, %s) = %v, want an error containing %q", c.kind, c.doc, err, c.want)
		}
	}
	// Every problem is reported, not just the first.
	err := Guard(ECRRepositoryPolicy, mustParse(t, `{"Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":"1"},"Action":"ecr:Nope"},{"Sid":"B","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"}]}`))
	for _, want := range []string{`Sid "A"`, `"1"`, "ecr:Nope", `Sid "B"`, "everyone"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("combined error %v lacks %q", err, want)
		}
	}
}

func TestV2Required(t *testing.T) {
	v1 := mustParse(t, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":["ecr:CreateRepository","ecr:batchimportupstreamimage"],"Resource":"arn:aws:ecr:us-east-1:111111111111:repository/hub/*"},{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"ecr:ReplicateImage","Resource":"*"}]}`)
	if V2Required(v1) {
		t.Error("V1-only document reported as needing V2")
	}
	for _, a := range []string{"ecr:BatchGetImage", "ecr:*", "ecr:TagResource", "ecr:GetImageCopyStatus"} {
		d := mustParse(t, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"`+a+`","Resource":"*"}]}`)
		if !V2Required(d) {
			t.Errorf("%s not reported as needing V2", a)
		}
	}
}

func TestKnownActionLists(t *testing.T) {
	for _, a := range []string{"ecr:BatchImportUpstreamImage", "ecr:GetImageCopyStatus", "ecr:ReplicateImage", "ecr:TagResource",
		"ecr:CreateRepository", "ECR:describeimages", "ecr:Describe*", "ecr:*", "ecr:Get?uthorizationToken"} {
		if !KnownAction(a, "ecr") {
			t.Errorf("KnownAction(%q) = false", a)
		}
	}
	// IAM knows only "*" and "?": brackets and backslashes are themselves,
	// so "ecr:[B]atchGetImage" names no action (it grants nothing).
	for _, a := range []string{"ecr", "ecr:", "ecr:Nothing*", "ecr-public:BatchGetImage", "ecr:[", "*", "ecr:[B]atchGetImage", `ecr:\BatchGetImage`, "ecr:Batch[GH]et*"} {
		if KnownAction(a, "ecr") {
			t.Errorf("KnownAction(%q) = true", a)
		}
	}
}

// Finding 3: every condition that lets an anonymous or outside caller
// through a "*" principal is refused, however it names aws:PrincipalOrgID
// or aws:PrincipalOrgPaths. The old guard accepted any operator on either
// key with a non-empty value that was not "*".
func TestGuardRefusesHostileOrgConditions(t *testing.T) {
	const org = "o-a1b2c3d4e5"
	hostile := map[string]string{
		"StringNotEquals":              `{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		"StringEqualsIfExists":         `{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		"StringLikeIfExists paths":     `{"ForAnyValue:StringLikeIfExists":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}`,
		"StringLike o-*":               `{"StringLike":{"aws:PrincipalOrgID":"o-*"}}`,
		"StringLike o-a1b2?3d4e5":      `{"StringLike":{"aws:PrincipalOrgID":"o-a1b2?3d4e5"}}`,
		"Null":                         `{"Null":{"aws:PrincipalOrgID":"false"}}`,
		"Null true":                    `{"Null":{"aws:PrincipalOrgID":"true"}}`,
		"another organization":         `{"StringEquals":{"aws:PrincipalOrgID":"o-zzzzzzzzzz"}}`,
		"ours or another":              `{"StringEquals":{"aws:PrincipalOrgID":["o-a1b2c3d4e5","o-zzzzzzzzzz"]}}`,
		"another organization's paths": `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-zzzzzzzzzz/*"}}`,
		"paths wildcard org":           `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"*/r-ab12/*"}}`,
		"paths o-*":                    `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-*/*"}}`,
		"ForAllValues":                 `{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		"ForAnyValue:StringNotLike":    `{"ForAnyValue:StringNotLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/*"}}`,
		"ours plus a Not":              `{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"},"StringNotEquals":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/"}}`,
		"other key only":               `{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`,
		"PrincipalAccount only":        `{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}`,
	}
	for name, cond := range hostile {
		doc := mustParse(t, `{"Statement":[{"Sid":"Foreign","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":`+cond+`}]}`)
		err := Guard(ECRRepositoryPolicy, doc, org)
		if err == nil || !strings.Contains(err.Error(), `Sid "Foreign"`) || !strings.Contains(err.Error(), "confining it to the organization") {
			t.Errorf("%s: Guard = %v, want a refusal naming the statement", name, err)
		}
	}
	safe := []string{
		`{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		`{"StringLike":{"aws:principalorgid":"o-a1b2c3d4e5"}}`,
		`{"ForAnyValue:StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		`{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*","o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/"]}}`,
		`{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5","aws:SourceVpce":"vpce-1a2b3c4d"}}`,
	}
	for _, cond := range safe {
		doc := mustParse(t, `{"Statement":[{"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":`+cond+`}]}`)
		if err := Guard(ECRRepositoryPolicy, doc, org); err != nil {
			t.Errorf("Guard(%s) = %v, want nil", cond, err)
		}
	}
}

func TestActionsCovered(t *testing.T) {
	for pattern, want := range map[string]string{
		"ecr:*":                        "ecr:SetRepositoryPolicy ecr:DeleteRepositoryPolicy ecr:PutRegistryPolicy ecr:DeleteRegistryPolicy ecr:CreateRepositoryCreationTemplate ecr:UpdateRepositoryCreationTemplate",
		"ecr:Create*":                  "ecr:CreateRepositoryCreationTemplate",
		"ECR:setrepositorypolicy":      "ecr:SetRepositoryPolicy",
		"ecr:*Registry*":               "ecr:PutRegistryPolicy ecr:DeleteRegistryPolicy",
		"ecr:Get*":                     "",
		"ecr-public:*":                 "ecr-public:SetRepositoryPolicy ecr-public:DeleteRepositoryPolicy",
		"ecr:Set?epositoryPolicy":      "ecr:SetRepositoryPolicy",
		"ecr:SetRepositoryPolicyExtra": "",
		"ecr":                          "",
	} {
		if got := strings.Join(ActionsCovered(pattern, AccessChangingActions), " "); got != want {
			t.Errorf("ActionsCovered(%q) = %q, want %q", pattern, got, want)
		}
	}
}
