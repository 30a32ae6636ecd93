package localaws

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	pubtypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// createSecret stores a Secrets Manager secret and returns its full ARN
// (with the random 6-character suffix Secrets Manager appends).
func createSecret(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	out := must[*secretsmanager.CreateSecretOutput](t)(secretsmanager.NewFromConfig(cfg).CreateSecret(context.Background(),
		&secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"username":"u","accessToken":"t"}`)}))
	return aws.ToString(out.ARN)
}

func createRole(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	out := must[*iam.CreateRoleOutput](t)(iam.NewFromConfig(cfg).CreateRole(context.Background(),
		&iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustPolicy)}))
	return aws.ToString(out.Role.Arn)
}

func grantTo(version string, principals ...string) string {
	quoted := make([]string, len(principals))
	for i, p := range principals {
		quoted[i] = `"` + p + `"`
	}
	return `{"Version":"` + version + `","Statement":[{"Sid":"EcrWardenPull","Effect":"Allow","Principal":{"AWS":[` +
		strings.Join(quoted, ",") + `]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
}

// TestPoliciesRefuseMissingPrincipals: in an account the local AWS knows (an
// organization's account, or one with IAM state), a registry or repository
// policy naming a role or user that does not exist is refused with AWS's
// code and text; accounts it knows nothing about stay unchecked.
func TestPoliciesRefuseMissingPrincipals(t *testing.T) {
	Need(t)
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	org := organizations.NewFromConfig(cfg)
	must[*organizations.CreateOrganizationOutput](t)(org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{}))
	created := must[*organizations.CreateAccountOutput](t)(org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("team-a"), Email: aws.String("a@example.com")}))
	teamA := aws.ToString(created.CreateAccountStatus.AccountId)
	teamACfg := member(t, cfg, teamA)

	present := createRole(t, cfg, "present")
	must[*iam.CreateUserOutput](t)(iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))
	absentRole := "arn:aws:iam::" + hub + ":role/absent"
	absentUser := "arn:aws:iam::" + hub + ":user/bob"
	memberRole := "arn:aws:iam::" + teamA + ":role/ecr-pull-through-cache-user"
	unknownAccountRole := "arn:aws:iam::210987654321:role/anything"

	c := ecr.NewFromConfig(cfg)
	put := func(doc string) error {
		_, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(doc)})
		return err
	}
	for _, ok := range []string{
		grantTo("2012-10-17", present, "arn:aws:iam::"+hub+":user/alice", "arn:aws:iam::"+teamA+":root", hub),
		grantTo("2012-10-17", unknownAccountRole),
		grantTo("2012-10-17", "arn:aws:iam::"+teamA+":role/OrganizationAccountAccessRole"),
	} {
		if err := put(ok); err != nil {
			t.Errorf("PutRegistryPolicy(%s) = %v, want accepted", ok, err)
		}
	}
	for _, bad := range []string{absentRole, absentUser, memberRole, "arn:aws:iam::" + hub + ":role/path/present"} {
		err := put(grantTo("2012-10-17", present, bad))
		wantErr[*types.InvalidParameterException](t, err, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")
	}

	// Repository policies: the same check, AWS's repository wording.
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("apps/api")}))
	_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("apps/api"), PolicyText: aws.String(grantTo("2012-10-17", present, memberRole))})
	wantErr[*types.InvalidParameterException](t, err, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'")
	got := must[*ecr.GetRepositoryPolicyOutput](t)
	_, err = c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("apps/api")})
	wantErr[*types.RepositoryPolicyNotFoundException](t, err) // the refused policy was not stored

	// Once the member's role exists, the same documents are accepted.
	createRole(t, teamACfg, "ecr-pull-through-cache-user")
	if err := put(grantTo("2012-10-17", present, memberRole)); err != nil {
		t.Errorf("registry policy after the role was created: %v", err)
	}
	must[*ecr.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("apps/api"), PolicyText: aws.String(grantTo("2012-10-17", memberRole))}))
	if out := got(c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("apps/api")})); !strings.Contains(aws.ToString(out.PolicyText), memberRole) {
		t.Errorf("stored policy = %s", aws.ToString(out.PolicyText))
	}

	// The same in a member's own registry, through its assumed role.
	mc := ecr.NewFromConfig(teamACfg)
	_, err = mc.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(grantTo("2012-10-17", "arn:aws:iam::"+teamA+":role/security-scanner"))})
	wantErr[*types.InvalidParameterException](t, err, "Invalid registry policy provided")

	// ECR Public repository policies.
	pc := ecrpublic.NewFromConfig(cfg)
	must[*ecrpublic.CreateRepositoryOutput](t)(pc.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/cli")}))
	pub := strings.ReplaceAll(grantTo("2008-10-17", absentRole), "ecr:", "ecr-public:")
	_, err = pc.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String("tools/cli"), PolicyText: aws.String(pub)})
	wantErr[*pubtypes.InvalidParameterException](t, err, "Principal not found")
	must[*ecrpublic.SetRepositoryPolicyOutput](t)(pc.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String("tools/cli"),
		PolicyText: aws.String(strings.ReplaceAll(grantTo("2008-10-17", present), "ecr:", "ecr-public:"))}))
}

// TestPullThroughCacheCredentialsAndRegions: credentialArn must be the full
// ARN of an existing ecr-pullthroughcache/ secret in the registry's account
// and region; an update needs a credential or a role; China and GovCloud
// regions have no pull-through cache.
func TestPullThroughCacheCredentialsAndRegions(t *testing.T) {
	Need(t)
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	c := ecr.NewFromConfig(cfg)
	full := createSecret(t, cfg, "ecr-pullthroughcache/docker-hub")
	partial := "arn:aws:secretsmanager:us-east-1:" + hub + ":secret:ecr-pullthroughcache/docker-hub"
	if !strings.HasPrefix(full, partial+"-") || len(full) != len(partial)+7 {
		t.Fatalf("secret ARN %s is not the partial ARN plus a 6-character suffix", full)
	}
	create := func(arn string) error {
		_, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"),
			UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(arn)})
		return err
	}
	wantErr[*types.SecretNotFoundException](t, create(partial), partial)
	wantErr[*types.SecretNotFoundException](t, create(partial+"-zzzzzz"), "was not found")
	missing := "arn:aws:secretsmanager:us-east-1:" + hub + ":secret:ecr-pullthroughcache/ghcr-AbCdEf"
	wantErr[*types.SecretNotFoundException](t, create(missing), missing)
	other := createSecret(t, srv.Config("eu-west-1"), "ecr-pullthroughcache/docker-hub")
	wantErr[*types.InvalidParameterException](t, create(other), "credentialArn", "account and region")
	if err := create(full); err != nil {
		t.Fatalf("create with the full secret ARN: %v", err)
	}
	rules := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{}))
	if len(rules.PullThroughCacheRules) != 1 || aws.ToString(rules.PullThroughCacheRules[0].CredentialArn) != full {
		t.Errorf("stored rules = %+v", rules.PullThroughCacheRules)
	}

	// Update: neither credential nor role is refused; a missing secret too.
	_, err := c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub")})
	wantErr[*types.InvalidParameterException](t, err, "Please set either credential arn or role arn")
	_, err = c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"), CredentialArn: aws.String(partial)})
	wantErr[*types.SecretNotFoundException](t, err)
	newer := createSecret(t, cfg, "ecr-pullthroughcache/docker-hub-2")
	up := must[*ecr.UpdatePullThroughCacheRuleOutput](t)(c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"), CredentialArn: aws.String(newer)}))
	if aws.ToString(up.CredentialArn) != newer {
		t.Errorf("update = %+v", up)
	}

	// No pull-through cache in China or GovCloud.
	for _, region := range []string{"cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1"} {
		rc := ecr.NewFromConfig(srv.Config(region))
		_, err := rc.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws")})
		wantErr[*types.InvalidParameterException](t, err, "not supported in the "+region+" Region")
		_, err = rc.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
		wantErr[*types.InvalidParameterException](t, err, region)
	}
}

// solidPolicy is an IAM policy of exactly n characters, none of them
// whitespace (IAM counts no whitespace against its quotas).
func solidPolicy(n int) string {
	head, tail := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/`, `"}]}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// moto alone stores inline role policies of any size; the extension refuses
// one that would take the role's inline policies together past IAM's
// 10,240 characters (whitespace not counted) with LimitExceeded, and keeps
// what the role held.
func TestRoleInlinePoliciesShareIAMsQuota(t *testing.T) {
	Need(t)
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	c := iam.NewFromConfig(cfg)
	createRole(t, cfg, "crowded")
	put := func(name, doc string) error {
		_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("crowded"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		return err
	}
	if err := put("legacy", solidPolicy(9000)); err != nil {
		t.Fatal(err)
	}
	// Whitespace does not count: 9,000 and 1,000 characters fit.
	if err := put("spaced", strings.Replace(solidPolicy(1000), `"Effect"`, strings.Repeat(" ", 3000)+`"Effect"`, 1)); err != nil {
		t.Fatalf("a policy within the quota but for its whitespace: %v", err)
	}
	wantErr[*iamtypes.LimitExceededException](t, put("more", solidPolicy(300)), "Maximum policy size of 10240 bytes exceeded for role crowded")
	// Replacing a policy counts its new text, not the old one beside it.
	if err := put("legacy", solidPolicy(9200)); err != nil {
		t.Fatalf("replacing a policy within the quota: %v", err)
	}
	names := must[*iam.ListRolePoliciesOutput](t)(c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("crowded")}))
	if strings.Join(names.PolicyNames, ",") != "legacy,spaced" {
		t.Errorf("role holds %v, want legacy and spaced only", names.PolicyNames)
	}
}
