package reconcile

import (
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The one place where a document's ARN and audit target are computed, so
// the engine's records, drift's "ignored" records and a rejected event's
// record of the same resource always share its history in the audit table.

// Audit target kinds: the kind of document a record is about.
const (
	KindRepositoryPolicy       = "ECRRepositoryPolicy"
	KindRegistryPolicy         = "ECRRegistryPolicy"
	KindPTCRule                = "PullThroughCacheRule"
	KindRoleTrustPolicy        = "IAMRoleTrustPolicy"
	KindRoleInlinePolicy       = "IAMRoleInlinePolicy"
	KindRole                   = "IAMRole"
	KindPublicRepositoryPolicy = "ECRPublicRepositoryPolicy"
	KindAccount                = "Account"
	KindHubGrant               = "HubGrant"
)

func repositoryResource(partition, account, region, name string) audit.Target {
	return audit.Target{ARN: policy.RepositoryARN(partition, region, account, name), AccountID: account, Region: region, Kind: KindRepositoryPolicy, Name: name}
}

func publicResource(account, region, name string) audit.Target {
	return audit.Target{ARN: policy.PublicRepositoryARN(account, name), AccountID: account, Region: region, Kind: KindPublicRepositoryPolicy, Name: name}
}

func registryResource(partition, account, region string) audit.Target {
	return audit.Target{ARN: policy.RegistryARN(partition, region, account), AccountID: account, Region: region, Kind: KindRegistryPolicy}
}

func ptcRuleResource(partition, account, region, prefix string) audit.Target {
	return audit.Target{ARN: policy.RegistryARN(partition, region, account) + "/pull-through-cache-rule/" + prefix, AccountID: account, Region: region, Kind: KindPTCRule, Name: prefix}
}

func roleResource(partition, account, name string) audit.Target {
	return audit.Target{ARN: policy.RoleARN(partition, account, name), AccountID: account, Kind: KindRole, Name: name}
}

func accountResource(partition, account string) audit.Target {
	return audit.Target{ARN: policy.AccountRootARN(partition, account), AccountID: account, Kind: KindAccount, Name: account}
}

// Resource is the audit target of what t names: the document an event is
// about, or the account of an organization event. ok is false when t does
// not name one completely (a backfill, or a rejected event whose fields were
// read only in part); every field Parse sets has been validated, so a
// complete target is a well-formed ARN.
func Resource(partition string, t trigger.Target) (target audit.Target, ok bool) {
	if !policy.ValidAccountID(t.AccountID) {
		return audit.Target{}, false
	}
	regional := policy.ValidRegion(t.Region)
	switch t.Kind {
	case trigger.KindRepository:
		if regional && t.Repository != "" {
			return repositoryResource(partition, t.AccountID, t.Region, t.Repository), true
		}
	case trigger.KindPublicRepository:
		if t.Repository != "" {
			return publicResource(t.AccountID, t.Region, t.Repository), true
		}
	case trigger.KindRegistryPolicy:
		if regional {
			return registryResource(partition, t.AccountID, t.Region), true
		}
	case trigger.KindPTCRule:
		if regional && t.Prefix != "" {
			return ptcRuleResource(partition, t.AccountID, t.Region, t.Prefix), true
		}
	case trigger.KindRole:
		if t.RoleName != "" {
			return roleResource(partition, t.AccountID, t.RoleName), true
		}
	case trigger.KindAccount, trigger.KindAccountMoved, trigger.KindAccountDeparted:
		return accountResource(partition, t.AccountID), true
	}
	return audit.Target{}, false
}

// hubGrantResource is the hub's grant to one account (condition mode
// records here why nothing in the hub names it).
func hubGrantResource(partition, account string) audit.Target {
	return audit.Target{ARN: policy.AccountRootARN(partition, account), AccountID: account, Kind: KindHubGrant, Name: account}
}
