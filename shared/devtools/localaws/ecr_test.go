package localaws

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

const hub = "123456789012" // moto's account for the static "testing" keys

func TestPullThroughCacheRulesLifecycle(t *testing.T) {
	Need(t)
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	c := ecr.NewFromConfig(cfg)
	roleARN := "arn:aws:iam::" + hub + ":role/ecr-warden-ptc"
	secretARN := createSecret(t, cfg, "ecr-pullthroughcache/docker-hub")

	pub := must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
	}))
	if pub.UpstreamRegistry != types.UpstreamRegistryEcrPublic || aws.ToString(pub.RegistryId) != hub || pub.CreatedAt == nil {
		t.Errorf("created rule = %+v, want upstream ecr-public in %s with createdAt", pub, hub)
	}
	must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"),
		UpstreamRegistry: types.UpstreamRegistryDockerHub, CredentialArn: aws.String(secretARN),
	}))
	hubRule := must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String("111111111111.dkr.ecr.us-east-1.amazonaws.com"),
		CustomRoleArn: aws.String(roleARN), UpstreamRepositoryPrefix: aws.String("shared"),
	}))
	if hubRule.UpstreamRegistry != types.UpstreamRegistryEcr || aws.ToString(hubRule.UpstreamRepositoryPrefix) != "shared" || aws.ToString(hubRule.CustomRoleArn) != roleARN {
		t.Errorf("ECR-to-ECR rule = %+v", hubRule)
	}

	// Describe: all (sorted by prefix), a filter, and pages of two.
	all := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{}))
	if got := prefixes(all.PullThroughCacheRules); got != "docker-hub,ecr-public,hub" {
		t.Errorf("describe all = %s", got)
	}
	one := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{EcrRepositoryPrefixes: []string{"hub"}}))
	if got := prefixes(one.PullThroughCacheRules); got != "hub" || aws.ToString(one.PullThroughCacheRules[0].CustomRoleArn) != roleARN {
		t.Errorf("describe hub = %s %+v", got, one.PullThroughCacheRules)
	}
	var paged []string
	pager := ecr.NewDescribePullThroughCacheRulesPaginator(c, &ecr.DescribePullThroughCacheRulesInput{MaxResults: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		out := must[*ecr.DescribePullThroughCacheRulesOutput](t)(pager.NextPage(ctx))
		pages++
		paged = append(paged, prefixes(out.PullThroughCacheRules))
	}
	if pages != 2 || strings.Join(paged, "|") != "docker-hub,ecr-public|hub" {
		t.Errorf("pages = %d %v, want 2 pages docker-hub,ecr-public|hub", pages, paged)
	}

	// Update, validate, delete.
	newRole := "arn:aws:iam::" + hub + ":role/other-ptc"
	up := must[*ecr.UpdatePullThroughCacheRuleOutput](t)(c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("hub"), CustomRoleArn: aws.String(newRole),
	}))
	if aws.ToString(up.CustomRoleArn) != newRole || up.UpdatedAt == nil {
		t.Errorf("update = %+v", up)
	}
	val := must[*ecr.ValidatePullThroughCacheRuleOutput](t)(c.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub")}))
	// other-ptc was never created: the service could not assume it.
	if val.IsValid || aws.ToString(val.CustomRoleArn) != newRole || !strings.Contains(aws.ToString(val.Failure), "does not exist") {
		t.Errorf("validate = %+v, want invalid: the role does not exist", val)
	}
	del := must[*ecr.DeletePullThroughCacheRuleOutput](t)(c.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public")}))
	if aws.ToString(del.UpstreamRegistryUrl) != "public.ecr.aws" {
		t.Errorf("delete = %+v", del)
	}

	_, err := c.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ecr-public")})
	wantErr[*types.PullThroughCacheRuleNotFoundException](t, err, "ecr-public")
	_, err = c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{EcrRepositoryPrefixes: []string{"ecr-public"}})
	wantErr[*types.PullThroughCacheRuleNotFoundException](t, err)
	_, err = c.UpdatePullThroughCacheRule(ctx, &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("nope"), CustomRoleArn: aws.String(roleARN)})
	wantErr[*types.PullThroughCacheRuleNotFoundException](t, err)
	_, err = c.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("nope")})
	wantErr[*types.PullThroughCacheRuleNotFoundException](t, err)
	_, err = c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("docker-hub/"), UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(secretARN),
	})
	wantErr[*types.PullThroughCacheRuleAlreadyExistsException](t, err, "docker-hub")
}

func prefixes(rules []types.PullThroughCacheRule) string {
	var out []string
	for _, r := range rules {
		out = append(out, aws.ToString(r.EcrRepositoryPrefix))
	}
	return strings.Join(out, ",")
}

func TestPullThroughCacheRuleValidation(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(fresh(t, "us-east-1"))
	role := aws.String("arn:aws:iam::" + hub + ":role/ptc")
	ecrURL := aws.String("111111111111.dkr.ecr.us-east-1.amazonaws.com")
	create := func(in ecr.CreatePullThroughCacheRuleInput) error {
		_, err := c.CreatePullThroughCacheRule(ctx, &in)
		return err
	}
	for _, tc := range []struct {
		name  string
		in    ecr.CreatePullThroughCacheRuleInput
		check func(t *testing.T, err error)
	}{
		{"prefix too short", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("a"), UpstreamRegistryUrl: aws.String("public.ecr.aws")},
			func(t *testing.T, err error) {
				wantErr[*types.ValidationException](t, err, "ecrRepositoryPrefix", "length greater than or equal to 2")
			}},
		{"prefix too long", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(strings.Repeat("a", 31)), UpstreamRegistryUrl: aws.String("public.ecr.aws")},
			func(t *testing.T, err error) {
				wantErr[*types.ValidationException](t, err, "length less than or equal to 30")
			}},
		{"prefix pattern", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("Upper_Case"), UpstreamRegistryUrl: aws.String("public.ecr.aws")},
			func(t *testing.T, err error) {
				wantErr[*types.ValidationException](t, err, "regular expression pattern")
			}},
		{"unknown upstream", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mine"), UpstreamRegistryUrl: aws.String("registry.example.com")},
			func(t *testing.T, err error) {
				wantErr[*types.UnsupportedUpstreamRegistryException](t, err, "registry.example.com")
			}},
		{"upstream name mismatch", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("quay"), UpstreamRegistryUrl: aws.String("quay.io"), UpstreamRegistry: types.UpstreamRegistryK8s},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "upstreamRegistry") }},
		{"upstream prefix with ROOT", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("ROOT"), UpstreamRegistryUrl: ecrURL, CustomRoleArn: role, UpstreamRepositoryPrefix: aws.String("shared")},
			func(t *testing.T, err error) {
				wantErr[*types.InvalidParameterException](t, err, "upstreamRepositoryPrefix", "non-ROOT")
			}},
		{"upstream prefix on a public upstream", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("pub"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), UpstreamRepositoryPrefix: aws.String("library")},
			func(t *testing.T, err error) {
				wantErr[*types.InvalidParameterException](t, err, "upstreamRepositoryPrefix", "Amazon ECR upstreams")
			}},
		{"docker hub without credentials", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"), UpstreamRegistryUrl: aws.String("registry-1.docker.io")},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "credentialArn") }},
		{"ECR upstream in another account without role", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: ecrURL},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "customRoleArn") }},
		{"role in another account", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: ecrURL, CustomRoleArn: aws.String("arn:aws:iam::999999999999:role/ptc")},
			func(t *testing.T, err error) {
				wantErr[*types.InvalidParameterException](t, err, "customRoleArn", "same account")
			}},
		{"role on a public upstream", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("pub"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), CustomRoleArn: role},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "customRoleArn") }},
		{"secret in another region", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("gh"), UpstreamRegistryUrl: aws.String("ghcr.io"), CredentialArn: aws.String("arn:aws:secretsmanager:eu-west-1:" + hub + ":secret:ecr-pullthroughcache/gh-123456")},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "credentialArn") }},
		{"secret name outside ecr-pullthroughcache/", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("gh"), UpstreamRegistryUrl: aws.String("ghcr.io"), CredentialArn: aws.String("arn:aws:secretsmanager:us-east-1:" + hub + ":secret:other/gh-123456789012345")},
			func(t *testing.T, err error) {
				wantErr[*types.ValidationException](t, err, "credentialArn", "regular expression")
			}},
		{"foreign registry id", ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("pub"), UpstreamRegistryUrl: aws.String("public.ecr.aws"), RegistryId: aws.String("222222222222")},
			func(t *testing.T, err error) { wantErr[*types.InvalidParameterException](t, err, "registryId") }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, create(tc.in)) })
	}
	// Nothing above was stored.
	out := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{}))
	if len(out.PullThroughCacheRules) != 0 {
		t.Errorf("rejected creates left %d rules", len(out.PullThroughCacheRules))
	}
	// An ECR upstream in the registry's own account needs no role (AWS: a
	// role is needed when the two registries are in different accounts).
	own := aws.String(hub + ".dkr.ecr.eu-west-1.amazonaws.com")
	if err := create(ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mirror"), UpstreamRegistryUrl: own}); err != nil {
		t.Errorf("ECR upstream in the same account without a role: %v, want accepted", err)
	}
}

func TestPullThroughCacheRuleLimit(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(fresh(t, "us-east-1"))
	for i := range 50 {
		must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
			EcrRepositoryPrefix: aws.String(fmt.Sprintf("cache-%02d", i)), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
		}))
	}
	_, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("cache-50"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
	})
	wantErr[*types.LimitExceededException](t, err, "50")

	// The limit is per registry: another region of the same account has room.
	west := ecr.NewFromConfig(srv.Config("us-west-2"))
	must[*ecr.CreatePullThroughCacheRuleOutput](t)(west.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("cache-50"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
	}))
}

func TestRegistryPolicyScope(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(fresh(t, "us-east-1"))
	scope := func() string {
		out := must[*ecr.GetAccountSettingOutput](t)(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE")}))
		return aws.ToString(out.Value)
	}
	if got := scope(); got != "V2" {
		t.Fatalf("new registry scope = %s, want V2 (AWS's default for new registries)", got)
	}
	pull := policy(`"ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"`)
	ptc := policy(`"ecr:CreateRepository","ecr:BatchImportUpstreamImage"`)

	out := must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(pull)}))
	if aws.ToString(out.PolicyText) != pull || aws.ToString(out.RegistryId) != hub {
		t.Errorf("V2 put = %+v", out)
	}
	_, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"s3:GetObject"`))})
	wantErr[*types.InvalidParameterException](t, err, "Invalid registry policy provided")

	set := must[*ecr.PutAccountSettingOutput](t)(c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}))
	if aws.ToString(set.Value) != "V1" || scope() != "V1" {
		t.Fatalf("scope after setting V1 = %s", scope())
	}
	_, err = c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(pull)})
	wantErr[*types.InvalidParameterException](t, err, "Invalid registry policy provided")
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(ptc)}))
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:ReplicateImage"`))}))
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:*"`))}))

	must[*ecr.PutAccountSettingOutput](t)(c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V2")}))
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(pull)}))
	got := must[*ecr.GetRegistryPolicyOutput](t)(c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{}))
	if aws.ToString(got.PolicyText) != pull {
		t.Errorf("get = %s, want %s", aws.ToString(got.PolicyText), pull)
	}

	// 10,240 characters is the limit; one more is refused.
	atLimit := padTo(pull, 10240)
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(atLimit)}))
	_, err = c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(padTo(pull, 10241))})
	wantErr[*types.ValidationException](t, err, "policyText", "10240")

	_, err = c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V3")})
	wantErr[*types.InvalidParameterException](t, err, "V3")
	_, err = c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("NOT_A_SETTING")})
	wantErr[*types.InvalidParameterException](t, err, "NOT_A_SETTING")

	must[*ecr.DeleteRegistryPolicyOutput](t)(c.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{}))
	_, err = c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantErr[*types.RegistryPolicyNotFoundException](t, err)
	_, err = c.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{})
	wantErr[*types.RegistryPolicyNotFoundException](t, err)
}

// policy is a one-statement registry policy granting actions to account 222222222222.
func policy(actions string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWardenTest","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":[` + actions + `],` +
		`"Resource":"arn:aws:ecr:us-east-1:` + hub + `:repository/*"}]}`
}

// padTo indents a policy with spaces to exactly n characters (still valid JSON).
func padTo(doc string, n int) string {
	return doc[:1] + strings.Repeat(" ", n-len(doc)) + doc[1:]
}

func TestRepositoryCreationTemplates(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(fresh(t, "us-east-1"))
	repoPolicy := `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"]}]}`
	created := must[*ecr.CreateRepositoryCreationTemplateOutput](t)(c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("ecr-public"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForPullThroughCache},
		RepositoryPolicy: aws.String(repoPolicy), ResourceTags: []types.Tag{{Key: aws.String("managed-by"), Value: aws.String("ecr-warden")}},
		CustomRoleArn: aws.String("arn:aws:iam::" + hub + ":role/rct"), Description: aws.String("PTC repositories"),
	}))
	tmpl := created.RepositoryCreationTemplate
	if aws.ToString(created.RegistryId) != hub || aws.ToString(tmpl.RepositoryPolicy) != repoPolicy || len(tmpl.ResourceTags) != 1 || tmpl.CreatedAt == nil {
		t.Errorf("created = %+v", tmpl)
	}
	_, err := c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("ecr-public"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForReplication},
	})
	wantErr[*types.TemplateAlreadyExistsException](t, err, "ecr-public")
	must[*ecr.CreateRepositoryCreationTemplateOutput](t)(c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("ROOT"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush},
	}))

	list := must[*ecr.DescribeRepositoryCreationTemplatesOutput](t)(c.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{}))
	if len(list.RepositoryCreationTemplates) != 2 {
		t.Errorf("describe all = %d templates, want 2", len(list.RepositoryCreationTemplates))
	}
	one := must[*ecr.DescribeRepositoryCreationTemplatesOutput](t)(c.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{Prefixes: []string{"ecr-public", "missing"}}))
	if len(one.RepositoryCreationTemplates) != 1 || aws.ToString(one.RepositoryCreationTemplates[0].Prefix) != "ecr-public" {
		t.Errorf("describe ecr-public = %+v", one.RepositoryCreationTemplates)
	}

	newPolicy := strings.Replace(repoPolicy, "222222222222", "333333333333", 1)
	up := must[*ecr.UpdateRepositoryCreationTemplateOutput](t)(c.UpdateRepositoryCreationTemplate(ctx, &ecr.UpdateRepositoryCreationTemplateInput{
		Prefix: aws.String("ecr-public"), RepositoryPolicy: aws.String(newPolicy),
	}))
	if aws.ToString(up.RepositoryCreationTemplate.RepositoryPolicy) != newPolicy || aws.ToString(up.RepositoryCreationTemplate.Description) != "PTC repositories" {
		t.Errorf("update replaced more than the policy: %+v", up.RepositoryCreationTemplate)
	}
	_, err = c.UpdateRepositoryCreationTemplate(ctx, &ecr.UpdateRepositoryCreationTemplateInput{Prefix: aws.String("missing")})
	wantErr[*types.TemplateNotFoundException](t, err, "missing")
	_, err = c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("bad"), AppliedFor: []types.RCTAppliedFor{"SOMETIMES"},
	})
	wantErr[*types.ValidationException](t, err, "appliedFor")
	_, err = c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("bad"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForReplication}, RepositoryPolicy: aws.String("{not json"),
	})
	wantErr[*types.InvalidParameterException](t, err, "Invalid repository policy provided")

	del := must[*ecr.DeleteRepositoryCreationTemplateOutput](t)(c.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("ecr-public")}))
	if aws.ToString(del.RepositoryCreationTemplate.Prefix) != "ecr-public" {
		t.Errorf("delete = %+v", del.RepositoryCreationTemplate)
	}
	_, err = c.DeleteRepositoryCreationTemplate(ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("ecr-public")})
	wantErr[*types.TemplateNotFoundException](t, err)
}

// Each account and region is its own registry: rules, scope and registry
// policy set in one are invisible in the others.
func TestRegistriesArePerAccountAndRegion(t *testing.T) {
	Need(t)
	ctx := context.Background()
	hubCfg := fresh(t, "us-east-1")
	hubECR := ecr.NewFromConfig(hubCfg)
	memberECR := ecr.NewFromConfig(member(t, hubCfg, "222222222222"))
	westECR := ecr.NewFromConfig(srv.Config("eu-west-1"))

	must[*ecr.PutAccountSettingOutput](t)(memberECR.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}))
	rule := must[*ecr.CreatePullThroughCacheRuleOutput](t)(memberECR.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
	}))
	if aws.ToString(rule.RegistryId) != "222222222222" {
		t.Errorf("member rule registry = %s", aws.ToString(rule.RegistryId))
	}
	// The member is V1 now; the hub and the hub's other region stay V2.
	_, err := memberECR.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:BatchGetImage"`))})
	wantErr[*types.InvalidParameterException](t, err, "Invalid registry policy provided")
	must[*ecr.PutRegistryPolicyOutput](t)(hubECR.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:BatchGetImage"`))}))
	for name, c := range map[string]*ecr.Client{"hub us-east-1": hubECR, "hub eu-west-1": westECR} {
		s := must[*ecr.GetAccountSettingOutput](t)(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE")}))
		if aws.ToString(s.Value) != "V2" {
			t.Errorf("%s scope = %s, want V2", name, aws.ToString(s.Value))
		}
		out := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{}))
		if len(out.PullThroughCacheRules) != 0 {
			t.Errorf("%s sees the member's rules: %s", name, prefixes(out.PullThroughCacheRules))
		}
	}
	_, err = westECR.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantErr[*types.RegistryPolicyNotFoundException](t, err)
	_, err = memberECR.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantErr[*types.RegistryPolicyNotFoundException](t, err)
}

// Reset wipes what the extension added, in every account.
func TestResetWipesExtensionState(t *testing.T) {
	Need(t)
	ctx := context.Background()
	hubCfg := fresh(t, "us-east-1")
	memberCfg := member(t, hubCfg, "222222222222")
	for _, cfg := range []aws.Config{hubCfg, memberCfg} {
		c := ecr.NewFromConfig(cfg)
		must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
			EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("public.ecr.aws"),
		}))
		must[*ecr.PutAccountSettingOutput](t)(c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}))
		must[*ecr.CreateRepositoryCreationTemplateOutput](t)(c.CreateRepositoryCreationTemplate(ctx, &ecr.CreateRepositoryCreationTemplateInput{
			Prefix: aws.String("ecr-public"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForPullThroughCache},
		}))
	}
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	// Keys from before the reset are gone with moto's STS state; assume again.
	for name, cfg := range map[string]aws.Config{"hub": hubCfg, "member": member(t, hubCfg, "222222222222")} {
		c := ecr.NewFromConfig(cfg)
		rules := must[*ecr.DescribePullThroughCacheRulesOutput](t)(c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{}))
		tmpls := must[*ecr.DescribeRepositoryCreationTemplatesOutput](t)(c.DescribeRepositoryCreationTemplates(ctx, &ecr.DescribeRepositoryCreationTemplatesInput{}))
		scope := must[*ecr.GetAccountSettingOutput](t)(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE")}))
		if len(rules.PullThroughCacheRules)+len(tmpls.RepositoryCreationTemplates) != 0 || aws.ToString(scope.Value) != "V2" {
			t.Errorf("%s after reset: %d rules, %d templates, scope %s", name, len(rules.PullThroughCacheRules), len(tmpls.RepositoryCreationTemplates), aws.ToString(scope.Value))
		}
	}
}

// moto alone stores repository policies of any length; the extension caps
// them at 10,240 characters like AWS.
func TestRepositoryPolicyLimit(t *testing.T) {
	Need(t)
	ctx := context.Background()
	c := ecr.NewFromConfig(fresh(t, "us-east-1"))
	name := aws.String("shared/app")
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: name}))
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"]}]}`
	must[*ecr.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(padTo(doc, 10240))}))
	_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(padTo(doc, 10241))})
	wantErr[*types.InvalidParameterException](t, err, "10240")
	got := must[*ecr.GetRepositoryPolicyOutput](t)(c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: name}))
	if len(aws.ToString(got.PolicyText)) != 10240 {
		t.Errorf("stored policy is %d characters, want the 10240 one kept", len(aws.ToString(got.PolicyText)))
	}
}

// TestValidateEvaluatesTheRoleTrust: ValidatePullThroughCacheRule answers, for a rule with a
// customRoleArn, whether pullthroughcache.ecr.amazonaws.com may assume that role with the condition
// keys the emulated service sends (aws:SourceAccount and aws:SourceArn unless a test says
// otherwise), with AWS's response shape (isValid, failure).
func TestValidateEvaluatesTheRoleTrust(t *testing.T) {
	Need(t)
	ctx := context.Background()
	cfg := fresh(t, "us-east-1")
	c, iamc := ecr.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	trust := func(cond string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},` +
			`"Action":"sts:AssumeRole"` + cond + `}]}`
	}
	roles := map[string]string{
		"with-source-account": trust(`,"Condition":{"StringEquals":{"aws:SourceAccount":"` + hub + `"}}`),
		"other-account":       trust(`,"Condition":{"StringEquals":{"aws:SourceAccount":"999999999999"}}`),
		"if-exists":           trust(`,"Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"` + hub + `"}}`),
		"plain":               trust(""),
		"other-service":       strings.Replace(trust(""), "pullthroughcache.ecr", "lambda", 1),
	}
	for name, doc := range roles {
		must[*iam.CreateRoleOutput](t)(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(doc)}))
		must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
			EcrRepositoryPrefix: aws.String(name), UpstreamRegistryUrl: aws.String("111111111111.dkr.ecr.us-east-1.amazonaws.com"),
			CustomRoleArn: aws.String("arn:aws:iam::" + hub + ":role/" + name)}))
	}
	check := func(sends string, want map[string]bool) {
		t.Helper()
		for name, valid := range want {
			out := must[*ecr.ValidatePullThroughCacheRuleOutput](t)(c.ValidatePullThroughCacheRule(ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(name)}))
			if out.IsValid != valid || (valid != (out.Failure == nil)) {
				t.Errorf("service sends %s, role %s: isValid %v failure %q, want valid %v", sends, name, out.IsValid, aws.ToString(out.Failure), valid)
			}
			if !valid && !strings.Contains(aws.ToString(out.Failure), "pullthroughcache.ecr.amazonaws.com") {
				t.Errorf("role %s: failure %q does not name the service", name, aws.ToString(out.Failure))
			}
		}
	}
	check("the default keys", map[string]bool{"with-source-account": true, "other-account": false, "if-exists": true, "plain": true, "other-service": false})
	if err := srv.SetPTCServiceContext("aws:SourceArn"); err != nil {
		t.Fatal(err)
	}
	check("no aws:SourceAccount", map[string]bool{"with-source-account": false, "other-account": false, "if-exists": true, "plain": true, "other-service": false})
	// Reset restores the default context (and wipes the rules).
	fresh(t, "us-east-1")
	must[*iam.CreateRoleOutput](t)(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("with-source-account"), AssumeRolePolicyDocument: aws.String(roles["with-source-account"])}))
	must[*ecr.CreatePullThroughCacheRuleOutput](t)(c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("with-source-account"), UpstreamRegistryUrl: aws.String("111111111111.dkr.ecr.us-east-1.amazonaws.com"),
		CustomRoleArn: aws.String("arn:aws:iam::" + hub + ":role/with-source-account")}))
	check("the default keys after Reset", map[string]bool{"with-source-account": true})
}
