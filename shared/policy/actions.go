package policy

import (
	"slices"
	"strings"
)

// ECRActions is every IAM action of Amazon ECR (service prefix "ecr"),
// taken from the ECR API operations in aws-sdk-go-v2/service/ecr v1.67.4
// plus the permission-only actions that have no API of their own
// (BatchImportUpstreamImage, GetImageCopyStatus, ReplicateImage, used by
// pull-through cache and replication). A policy naming anything else is
// refused: ECR rejects unknown actions, and a typo silently grants nothing.
var ECRActions = []string{
	"BatchCheckLayerAvailability", "BatchDeleteImage", "BatchGetImage",
	"BatchGetRepositoryScanningConfiguration", "BatchImportUpstreamImage",
	"CompleteLayerUpload", "CreatePullThroughCacheRule", "CreateRepository",
	"CreateRepositoryCreationTemplate", "DeleteLifecyclePolicy",
	"DeletePullThroughCacheRule", "DeleteRegistryPolicy", "DeleteRepository",
	"DeleteRepositoryCreationTemplate", "DeleteRepositoryPolicy",
	"DeleteSigningConfiguration", "DeregisterPullTimeUpdateExclusion",
	"DescribeImageReplicationStatus", "DescribeImageScanFindings",
	"DescribeImageSigningStatus", "DescribeImages", "DescribePullThroughCacheRules",
	"DescribeRegistry", "DescribeReplicationBackfillResults", "DescribeRepositories",
	"DescribeRepositoryCreationTemplates", "GetAccountSetting",
	"GetAuthorizationToken", "GetDownloadUrlForLayer", "GetImageCopyStatus",
	"GetLifecyclePolicy", "GetLifecyclePolicyPreview", "GetRegistryPolicy",
	"GetRegistryScanningConfiguration", "GetRepositoryPolicy",
	"GetSigningConfiguration", "InitiateLayerUpload", "ListImageReferrers",
	"ListImages", "ListPullTimeUpdateExclusions", "ListReplicationBackfills",
	"ListTagsForResource", "PutAccountSetting", "PutImage",
	"PutImageScanningConfiguration", "PutImageTagMutability", "PutLifecyclePolicy",
	"PutRegistryPolicy", "PutRegistryScanningConfiguration",
	"PutReplicationConfiguration", "PutSigningConfiguration",
	"RegisterPullTimeUpdateExclusion", "ReplicateImage", "SetRepositoryPolicy",
	"StartImageScan", "StartLifecyclePolicyPreview", "StartReplicationBackfill",
	"StopReplicationBackfill", "TagResource", "UntagResource",
	"UpdateImageStorageClass", "UpdatePullThroughCacheRule",
	"UpdateRepositoryCreationTemplate", "UploadLayerPart",
	"ValidatePullThroughCacheRule",
}

// ECRPublicActions is every IAM action of Amazon ECR Public (service prefix
// "ecr-public"), from aws-sdk-go-v2/service/ecrpublic v1.47.10.
var ECRPublicActions = []string{
	"BatchCheckLayerAvailability", "BatchDeleteImage", "CompleteLayerUpload",
	"CreateRepository", "DeleteRepository", "DeleteRepositoryPolicy",
	"DescribeImageTags", "DescribeImages", "DescribeRegistries",
	"DescribeRepositories", "GetAuthorizationToken", "GetRegistryCatalogData",
	"GetRepositoryCatalogData", "GetRepositoryPolicy", "InitiateLayerUpload",
	"ListTagsForResource", "PutImage", "PutRegistryCatalogData",
	"PutRepositoryCatalogData", "SetRepositoryPolicy", "TagResource",
	"UntagResource", "UploadLayerPart",
}

// TrustActions are the STS actions a role trust policy may allow.
var TrustActions = []string{
	"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity",
	"SetContext", "SetSourceIdentity", "TagSession",
}

// RegistryPolicyScopeSetting is the ECR account setting that says whether the
// registry policy governs every ECR action (V2) or only replication and
// pull-through-cache ones (V1, V1RegistryActions). It is the one name of it:
// the engine reads and switches it (inventory, reconcile), a change of it
// re-converges the registry policy (trigger's route), and the hub and member
// roles may change it and nothing else PutAccountSetting changes (infra).
const RegistryPolicyScopeSetting = "REGISTRY_POLICY_SCOPE"

// V1RegistryActions are the only actions a registry policy may name while
// the registry's policy scope is V1; anything else needs scope V2.
var V1RegistryActions = []string{"ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:ReplicateImage"}

// AccessChangingActions are the actions that change who may use a repository
// or registry: they rewrite or delete the policy ecr-warden keeps equal to
// the declaration, or (the repository creation templates) write the policy
// ECR gives the repositories it creates itself (pull-through cache,
// replication, create-on-push). A grantee holding one could add its own
// statement, which ecr-warden keeps byte for byte as foreign, opening the
// repository to anyone (outside the organization too) with no declaration
// saying so; so no grant of the declaration may carry them (shared/config).
// The templates' actions act on the caller's own registry only, but a grant
// to the organization or an OU (Principal "*" with a condition) reaches the
// registry's own account's principals too, with no identity policy needed. A
// principal of the registry's own account that must manage policies or
// templates gets them from its own identity policy, not from a grant.
var AccessChangingActions = []string{
	"ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy", "ecr:PutRegistryPolicy", "ecr:DeleteRegistryPolicy",
	"ecr:CreateRepositoryCreationTemplate", "ecr:UpdateRepositoryCreationTemplate",
	"ecr-public:SetRepositoryPolicy", "ecr-public:DeleteRepositoryPolicy",
}

// ExposingActions hand a registry's images to principals no policy names:
// a replication configuration copies every image it matches into any account
// (outside the organization too). A registry policy (scope V2) grants it like
// any other ECR action, so, like AccessChangingActions, no grant of the
// declaration may carry it (shared/config); the registry's own account
// configures replication through its identity policies. (The repository
// creation templates' writes, which set the policy of repositories ECR
// creates, are in AccessChangingActions.)
var ExposingActions = []string{
	"ecr:PutReplicationConfiguration",
}

// TagChangingActions change a repository's tags, and so which tag grants
// select it: refused in a grant where the declaration selects repositories by
// tag (shared/config).
var TagChangingActions = []string{"ecr:TagResource", "ecr:UntagResource", "ecr-public:TagResource", "ecr-public:UntagResource"}

// ActionsCovered lists the actions of among that pattern (an action,
// case-insensitive, "*" and "?" wildcards allowed after the service prefix)
// names, in among's order.
func ActionsCovered(pattern string, among []string) []string {
	lower := strings.ToLower(pattern)
	svc, name, ok := strings.Cut(lower, ":")
	if !ok {
		return nil
	}
	var out []string
	for _, a := range among {
		asvc, aname, _ := strings.Cut(strings.ToLower(a), ":")
		if asvc != svc {
			continue
		}
		if actionGlob(name, aname) {
			out = append(out, a)
		}
	}
	return out
}

// actionGlob reports whether an action name matches a pattern the way IAM
// matches actions: "*" any run of characters, "?" any one, everything else
// (brackets and backslashes included, which path.Match would read as a
// class or an escape) itself. Both are lower case.
func actionGlob(pattern, name string) bool { return Glob(pattern, name, true) }

// Glob reports whether name matches pattern, in which "*" matches any run of
// characters ("/" included) and, when anyOne is set, "?" any one character;
// everything else matches itself. It backtracks to the last "*" only, so it
// is linear in practice and never recurses. IAM matches actions this way
// (anyOne set); the declaration's repository patterns have "*" only
// (desired.MatchPattern).
func Glob(pattern, name string, anyOne bool) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && (pattern[p] == name[n] || anyOne && pattern[p] == '?'):
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// catalog maps a lower-cased service prefix to its lower-cased action names.
var catalog = map[string][]string{
	"ecr":        lowerAll(ECRActions),
	"ecr-public": lowerAll(ECRPublicActions),
	"sts":        lowerAll(TrustActions),
}

// exact holds every "service:action" in lower case, so the common case (no
// wildcard) is one map lookup instead of a pattern match per known action.
var exact = func() map[string]bool {
	m := map[string]bool{}
	for svc, names := range catalog {
		for _, n := range names {
			m[svc+":"+n] = true
		}
	}
	return m
}()

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

// servicesFor is which service prefixes each kind of document may use.
func servicesFor(kind DocumentKind) []string {
	switch kind {
	case ECRRepositoryPolicy, ECRRegistryPolicy, RoleInlinePolicy:
		return []string{"ecr"}
	case PublicRepositoryPolicy:
		return []string{"ecr-public"}
	case RoleTrustPolicy:
		return []string{"sts"}
	}
	return nil
}

// KnownAction reports whether action (case-insensitive, "*" and "?"
// wildcards allowed after the service prefix) names at least one known
// action of one of the given services.
func KnownAction(action string, services ...string) bool {
	lower := strings.ToLower(action)
	svc, name, ok := strings.Cut(lower, ":")
	if !ok || name == "" {
		return false
	}
	if !strings.ContainsAny(name, "*?") {
		return exact[lower] && slices.Contains(services, svc)
	}
	for _, s := range services {
		if s != svc {
			continue
		}
		for _, a := range catalog[svc] {
			if actionGlob(name, a) {
				return true
			}
		}
	}
	return false
}
