package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// secretDescriber is the one Secrets Manager call the engine makes.
type secretDescriber interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// resolveCredentials gives every declared rule that names a secret the
// secret's full ARN. CreatePullThroughCacheRule needs the full ARN, with the
// six random characters Secrets Manager appends to the name; the declaration
// (and so desired) only knows the name, so the secret is looked up in the
// member's account and region (secretsmanager:DescribeSecret, which reads
// metadata, never the value). A rule whose secret is missing or unreadable
// is returned in refused with a message naming the secret and the account;
// the caller refuses that rule alone and converges the others.
func (e *Engine) resolveCredentials(ctx context.Context, account, region string, want []plan.Rule) ([]plan.Rule, map[string]error) {
	out := make([]plan.Rule, 0, len(want))
	refused := map[string]error{}
	byName := map[string]string{}
	for _, r := range want {
		name := secretName(r.CredentialARN)
		if name == "" {
			out = append(out, r)
			continue
		}
		full, ok := byName[name]
		if !ok {
			var err error
			full, err = e.describeSecret(ctx, e.Clients.SecretsManager(account, region), account, region, name)
			if err != nil {
				refused[r.Prefix] = err
				byName[name] = ""
				continue
			}
			byName[name] = full
		}
		if full == "" {
			refused[r.Prefix] = fmt.Errorf("pull-through-cache rule %s: secret %s could not be read in account %s, region %s (see the record of the rule that names it first)", r.Prefix, name, account, region)
			continue
		}
		r.CredentialARN = full
		out = append(out, r)
	}
	return out, refused
}

func (e *Engine) describeSecret(ctx context.Context, client secretDescriber, account, region, name string) (string, error) {
	out, err := client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", &apply.RefusedError{Err: fmt.Errorf("secret %s does not exist in account %s, region %s: ECR needs it (the full ARN) to create the pull-through-cache rule; create it there (aws secretsmanager create-secret --name %s --secret-string '{\"username\":...,\"accessToken\":...}') and the next sweep creates the rule", name, account, region, name)}
	case err != nil:
		return "", fmt.Errorf("describing secret %s in account %s, region %s: %w", name, account, region, err)
	case out.DeletedDate != nil:
		return "", &apply.RefusedError{Err: fmt.Errorf("secret %s in account %s, region %s is scheduled for deletion; restore it (aws secretsmanager restore-secret) or create a new one", name, account, region)}
	}
	return aws.ToString(out.ARN), nil
}

// secretName is the secret name in a declared (partial) secret ARN,
// arn:<partition>:secretsmanager:<region>:<account>:secret:<name>.
func secretName(arn string) string {
	_, name, ok := strings.Cut(arn, ":secret:")
	if !ok {
		return ""
	}
	return name
}
