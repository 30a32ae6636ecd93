package trigger

import (
	"strings"
	"testing"
)

// TestRepositoryARNInTheEventAgrees: a repository-creation event names its
// repository a second time in an ARN (responseElements.repository.
// repositoryArn of the API call, serviceEventDetails.repositoryArn of ECR's
// own creation). Before, the ARN was never read, so an event whose ARN named
// another region, partition, account or repository than its other fields was
// accepted on those fields. Now each disagreement is named with its path,
// and an event whose ARN agrees is read as before.
func TestRepositoryARNInTheEventAgrees(t *testing.T) {
	api, svc, pub := "ecr-create-repository-api.json", "ecr-create-repository-service.json", "ecr-public-create-repository.json"
	apiARN := func(v any) []byte {
		return mutate(t, api, func(ev map[string]any) { sub(sub(detail(ev), "responseElements"), "repository")["repositoryArn"] = v })
	}
	svcARN := func(v any) []byte {
		return mutate(t, svc, func(ev map[string]any) { sub(detail(ev), "serviceEventDetails")["repositoryArn"] = v })
	}
	pubARN := func(v any) []byte {
		return mutate(t, pub, func(ev map[string]any) { sub(sub(detail(ev), "responseElements"), "repository")["repositoryArn"] = v })
	}
	const at = "detail.responseElements.repository.repositoryArn"
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"another region", apiARN("arn:aws:ecr:eu-west-1:111111111111:repository/shared/base"), at + `: region "eu-west-1", want "us-east-1"`},
		{"another partition", apiARN("arn:aws-cn:ecr:us-east-1:111111111111:repository/shared/base"), at + `: partition "aws-cn" is not the partition of region "us-east-1" ("aws")`},
		{"another account", apiARN("arn:aws:ecr:us-east-1:999999999999:repository/shared/base"), at + `(account): "999999999999" disagrees with detail.responseElements.repository.registryId "111111111111"`},
		{"another repository", apiARN("arn:aws:ecr:us-east-1:111111111111:repository/shared/other"), at + `(name): "shared/other" disagrees with detail.requestParameters.repositoryName "shared/base"`},
		{"a lookalike name", apiARN("arn:aws:ecr:us-east-1:111111111111:repository/sh\u0430red/base"), at + "(name): \"sh\u0430red/base\" is not a valid repository name"},
		{"an account that lost its leading zero", apiARN("arn:aws:ecr:us-east-1:11111111111:repository/shared/base"), at + `(account): "11111111111" is not a 12-digit account id`},
		{"not an ARN", apiARN("shared/base"), at + `: "shared/base" is not an ecr repository ARN`},
		{"a number", apiARN(5), at + ": is a number, want a string"},
		{"service event of another account", svcARN("arn:aws:ecr:us-east-1:333333333333:repository/ecr-public/library/nginx"),
			`detail.serviceEventDetails.repositoryArn(account): "333333333333" disagrees with detail.serviceEventDetails.registryId "222222222222"`},
		{"service event of another region", svcARN("arn:aws:ecr:ap-south-1:222222222222:repository/ecr-public/library/nginx"),
			`detail.serviceEventDetails.repositoryArn: region "ap-south-1", want "us-east-1"`},
		{"ECR Public ARN with a region", pubARN("arn:aws:ecr-public:us-east-1:111111111111:repository/tools/scanner"), at + `: region "us-east-1", want ""`},
		{"ECR Public naming a private repository", pubARN("arn:aws:ecr:us-east-1:111111111111:repository/tools/scanner"), at + `: "arn:aws:ecr:us-east-1:111111111111:repository/tools/scanner" is not an ecr-public repository ARN`},
		{"ECR Public of another repository", pubARN("arn:aws:ecr-public::111111111111:repository/tools/other"), at + `(name): "tools/other" disagrees with detail.requestParameters.repositoryName "tools/scanner"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw)
			if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, c.want) {
				t.Fatalf("Parse = %v; want invalid-field naming %q", err, c.want)
			}
		})
	}
	// Agreeing ARNs, or none, are read as before.
	for _, raw := range [][]byte{readEvent(t, api), apiARN(nil), readEvent(t, svc), svcARN(nil), readEvent(t, pub), pubARN(nil)} {
		if got, err := Parse(raw); err != nil || got.Repository == "" {
			t.Errorf("Parse = %+v, %v; want the repository read", got, err)
		}
	}
}

// TestCreatedRoleInTheEventAgrees: CreateRole's event names the role three
// times (requestParameters.roleName, responseElements.role.roleName and
// .arn) and its account twice (the ARN, recipientAccountId). Before, only
// the request's name was read, so a response naming another role, account
// or partition was accepted. Each disagreement is now named; a role under a
// path, or a response without the role, is read as before.
func TestCreatedRoleInTheEventAgrees(t *testing.T) {
	f := "iam-create-role.json"
	role := func(k string, v any) []byte {
		return mutate(t, f, func(ev map[string]any) { sub(sub(detail(ev), "responseElements"), "role")[k] = v })
	}
	const at = "detail.responseElements.role"
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"another role's name", role("roleName", "admin"), at + `.roleName: "admin" disagrees with detail.requestParameters.roleName "security-scanner"`},
		{"another role's ARN", role("arn", "arn:aws:iam::333333333333:role/admin"), at + `.arn(name): "admin" disagrees with detail.requestParameters.roleName "security-scanner"`},
		{"another account's ARN", role("arn", "arn:aws:iam::222222222222:role/security-scanner"), `detail.recipientAccountId: "333333333333" disagrees with ` + at + `.arn(account) "222222222222"`},
		{"another partition's ARN", role("arn", "arn:aws-us-gov:iam::333333333333:role/security-scanner"), at + `.arn: partition "aws-us-gov" is not the partition of region "us-east-1" ("aws")`},
		{"not a role ARN", role("arn", "arn:aws:iam::333333333333:user/security-scanner"), at + `.arn: "arn:aws:iam::333333333333:user/security-scanner" is not an IAM role ARN`},
		{"a role ARN ending in a slash", role("arn", "arn:aws:iam::333333333333:role/security-scanner/"), "is not an IAM role ARN"},
		{"a lookalike name", role("roleName", "security-sc\u0430nner"), at + ".roleName: \"security-sc\u0430nner\" is not a valid IAM role name"},
		{"the request without a name", mutate(t, f, func(ev map[string]any) {
			delete(sub(detail(ev), "requestParameters"), "roleName")
			sub(detail(ev), "responseElements")["role"] = nil
		}), "detail.requestParameters.roleName: missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw)
			if r, ok := AsRejection(err); !ok || !strings.Contains(r.Detail, c.want) {
				t.Fatalf("Parse = %v; want %q named", err, c.want)
			}
		})
	}
	for _, raw := range [][]byte{readEvent(t, f), role("arn", "arn:aws:iam::333333333333:role/team/security-scanner"),
		mutate(t, f, func(ev map[string]any) { detail(ev)["responseElements"] = nil })} {
		if got, err := Parse(raw); err != nil || got.RoleName != "security-scanner" || got.AccountID != "333333333333" {
			t.Errorf("Parse = %+v, %v; want role security-scanner of 333333333333", got, err)
		}
	}
}

// TestResponseNamesWhatTheRequestDoes: the policy and rule edits answer with
// the resource they changed (responseElements.repositoryName and registryId
// of SetRepositoryPolicy and DeleteRepositoryPolicy, private and ECR
// Public; ecrRepositoryPrefix and registryId of the pull-through-cache rule
// calls; name of PutAccountSetting). Before, only the request was read, so a
// response naming another repository, rule, registry or setting was
// accepted on the request's. Each disagreement is now named.
func TestResponseNamesWhatTheRequestDoes(t *testing.T) {
	resp := func(f, k string, v any) []byte {
		return mutate(t, f, func(ev map[string]any) { sub(detail(ev), "responseElements")[k] = v })
	}
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"policy of another repository", resp("ecr-set-repository-policy.json", "repositoryName", "shared/other"),
			`detail.responseElements.repositoryName: "shared/other" disagrees with detail.requestParameters.repositoryName "shared/base"`},
		{"policy of another registry", resp("ecr-delete-repository-policy.json", "registryId", "222222222222"),
			`detail.responseElements.registryId: "222222222222" disagrees with detail.requestParameters.registryId "111111111111"`},
		{"policy of a registry that lost a leading zero", resp("ecr-set-repository-policy.json", "registryId", "11111111111"),
			`detail.responseElements.registryId: "11111111111" is not a 12-digit account id`},
		{"public policy of another repository", resp("ecr-public-set-repository-policy.json", "repositoryName", "tools/other"),
			`detail.responseElements.repositoryName: "tools/other" disagrees with detail.requestParameters.repositoryName "tools/scanner"`},
		{"public policy of another registry", resp("ecr-public-delete-repository-policy.json", "registryId", "222222222222"),
			`detail.recipientAccountId: "111111111111" disagrees with detail.responseElements.registryId "222222222222"`},
		{"another rule", resp("ecr-delete-ptc-rule.json", "ecrRepositoryPrefix", "quay"),
			`detail.responseElements.ecrRepositoryPrefix: "quay" disagrees with detail.requestParameters.ecrRepositoryPrefix "docker-hub"`},
		{"a rule of another registry", resp("ecr-update-ptc-rule.json", "registryId", "333333333333"),
			`detail.recipientAccountId: "222222222222" disagrees with detail.responseElements.registryId "333333333333"`},
		{"another setting", resp("ecr-put-account-setting.json", "name", "BASIC_SCAN_TYPE_VERSION"),
			`detail.responseElements.name: "BASIC_SCAN_TYPE_VERSION" disagrees with detail.requestParameters.name "REGISTRY_POLICY_SCOPE"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw)
			if r, ok := AsRejection(err); !ok || r.Reason != ReasonInvalidField || !strings.Contains(r.Detail, c.want) {
				t.Fatalf("Parse = %v; want invalid-field naming %q", err, c.want)
			}
		})
	}
	// A response without them, or none at all, is read from the request.
	for _, f := range []string{"ecr-set-repository-policy.json", "ecr-delete-ptc-rule.json", "ecr-public-set-repository-policy.json", "ecr-put-account-setting.json"} {
		want, err := Parse(readEvent(t, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(mutate(t, f, func(ev map[string]any) { detail(ev)["responseElements"] = nil }))
		if err != nil || got.Kind != want.Kind || got.Repository != want.Repository || got.Prefix != want.Prefix || got.AccountID != want.AccountID {
			t.Errorf("%s without a response: %+v, %v; want %+v", f, got, err, want)
		}
	}
}
