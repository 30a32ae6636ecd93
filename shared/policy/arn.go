package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Partitions ecr-warden supports. ECR Public exists only in PartitionAWS.
const (
	PartitionAWS      = "aws"
	PartitionChina    = "aws-cn"
	PartitionGovCloud = "aws-us-gov"
)

// ECRPublicRegion is the one region of the ECR Public API: its repositories,
// their policies and its CreateRepository events live there only, whatever
// a public repository's ARN says (it has no region). The one name of it:
// the parser, the leases, the engine, the declaration's checks and the CDK
// app read it from here.
const ECRPublicRegion = "us-east-1"

// RegionPartition is the partition, of those ecr-warden supports, that a
// region belongs to (cn-* China, us-gov-* GovCloud, any other aws).
func RegionPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return PartitionChina
	case strings.HasPrefix(region, "us-gov-"):
		return PartitionGovCloud
	}
	return PartitionAWS
}

// ValidPartition reports whether p is one of the supported partitions.
func ValidPartition(p string) bool {
	return p == PartitionAWS || p == PartitionChina || p == PartitionGovCloud
}

var (
	// Private repository names: lowercase components separated by "/", as
	// ECR's API model gives RepositoryName. Within a component, "." or "_"
	// or "__" or a run of "-" separates letters and digits (the OCI
	// distribution grammar): "base__debug" and "my--app" are names ECR
	// creates, and an event or a cursor naming one must be read, not refused.
	repositoryNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	// A pull-through-cache rule's ecrRepositoryPrefix, as ECR's API model
	// gives PullThroughCacheRuleRepositoryPrefix: the private repository
	// grammar, a trailing "/" allowed; ROOT is checked apart. An event for a
	// rule made by hand with any prefix ECR takes must be read.
	ptcPrefixPattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?$`)
	// ECR Public's API model keeps the older grammar: one ".", "_" or "-"
	// between letters and digits.
	publicRepositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	regionPattern               = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]+$`)
	// IAM unique ids (AROA... for roles, AIDA... for users). AWS rewrites a
	// principal ARN into this form when the principal is deleted.
	uniqueIDPattern = regexp.MustCompile(`^A[A-Z]{3}[A-Z0-9]{16,}$`)
)

// ValidAccountID reports whether id is a 12-digit AWS account id.
func ValidAccountID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// Lengths of repository names, from the ECR and ECR Public API models.
const (
	MinRepositoryName       = 2
	MaxRepositoryName       = 256
	MaxPublicRepositoryName = 205
)

// ValidRepositoryName reports whether name is a valid private ECR repository name.
func ValidRepositoryName(name string) bool {
	return len(name) >= MinRepositoryName && len(name) <= MaxRepositoryName && repositoryNamePattern.MatchString(name)
}

// ValidPublicRepositoryName reports whether name is a valid ECR Public
// repository name.
func ValidPublicRepositoryName(name string) bool {
	return len(name) >= MinRepositoryName && len(name) <= MaxPublicRepositoryName && publicRepositoryNamePattern.MatchString(name)
}

// PTCRootPrefix is the ecrRepositoryPrefix of a pull-through-cache rule
// that applies to every repository of the registry.
const PTCRootPrefix = "ROOT"

// PTCRulesMax is how many pull-through-cache rules ECR keeps in one registry
// (account and region); CreatePullThroughCacheRule past it answers
// LimitExceededException.
const PTCRulesMax = 50

// ValidPTCPrefix reports whether p is a pull-through-cache rule prefix ECR
// accepts: ROOT, or 2-30 characters of the private repository grammar with
// an optional trailing "/". A declaration names a narrower set (one
// component, single separators: shared/config), since its prefixes become
// Sids and resource ARNs.
func ValidPTCPrefix(p string) bool {
	return p == PTCRootPrefix || (len(p) >= 2 && len(p) <= 30 && ptcPrefixPattern.MatchString(p))
}

// ValidRegion reports whether r looks like an AWS region name (us-east-1,
// cn-north-1, us-gov-west-1). What AWS sends (an event's region) is read
// with it; what a user declares is checked against Regions.
func ValidRegion(r string) bool { return regionPattern.MatchString(r) }

// Regions are the regions of each supported partition, as the AWS SDK for
// Go's partition data lists them (aws-sdk-go-v2 v1.47.7,
// internal/endpoints/awsrulesfn/partitions.json). A declared region must be
// one of them: a name that only looks like a region (us-east-9) or one of a
// partition ecr-warden does not support (us-iso-east-1, which RegionPartition
// would call aws) deploys the first hub region and fails in the next. A
// region AWS launches later is added here.
var Regions = map[string][]string{
	PartitionAWS: {
		"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1",
		"eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
		"il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2",
		"us-west-1", "us-west-2",
	},
	PartitionChina:    {"cn-north-1", "cn-northwest-1"},
	PartitionGovCloud: {"us-gov-east-1", "us-gov-west-1"},
}

// KnownRegion reports the partition of a region listed in Regions, and
// whether it is listed.
func KnownRegion(r string) (partition string, ok bool) {
	for p, regions := range Regions {
		if slices.Contains(regions, r) {
			return p, true
		}
	}
	return "", false
}

// RepositoryARN is the ARN of a private ECR repository.
func RepositoryARN(partition, region, account, name string) string {
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, region, account, name)
}

// RegistryARN identifies a registry (one per account and region) in plans
// and audit records. ECR has no registry ARN of its own; this is the
// "repository/*" resource, which is what a registry policy governs.
func RegistryARN(partition, region, account string) string {
	return RegistryResourceARN(partition, region, account, "")
}

// RegistryResourceARN is the resource for a registry-policy statement:
// every repository ("repository/*") when prefix is empty, else the
// repositories under prefix ("repository/<prefix>/*"), which is how
// pull-through-cache statements are scoped.
func RegistryResourceARN(partition, region, account, prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/*", partition, region, account)
	}
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s/*", partition, region, account, prefix)
}

// AccountRootARN is the principal ARN meaning "the account" (any principal
// the account's own IAM policies allow).
func AccountRootARN(partition, account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:root", partition, account)
}

// RoleARN is an IAM role ARN. name may carry a path ("team/ci").
func RoleARN(partition, account, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, strings.TrimPrefix(name, "/"))
}

// PublicRepositoryARN is an ECR Public repository ARN. ECR Public exists
// only in the aws partition and has no region in its ARNs.
func PublicRepositoryARN(account, name string) string {
	return fmt.Sprintf("arn:aws:ecr-public::%s:repository/%s", account, name)
}

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition string
	Service   string
	Region    string
	AccountID string
	Resource  string
}

// String formats the ARN back to text.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.AccountID + ":" + a.Resource
}

// ParseARN splits an ARN and checks the parts ecr-warden relies on: a known
// partition, a non-empty service and resource, and a 12-digit account id
// when one is present (S3 and a few others have none).
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("%q is not an ARN (want arn:<partition>:<service>:<region>:<account>:<resource>)", s)
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], AccountID: parts[4], Resource: parts[5]}
	if !ValidPartition(a.Partition) {
		return ARN{}, fmt.Errorf("ARN %q: partition %q is not one of aws, aws-cn, aws-us-gov", s, a.Partition)
	}
	if a.Service == "" {
		return ARN{}, fmt.Errorf("ARN %q: empty service", s)
	}
	if a.AccountID != "" && !ValidAccountID(a.AccountID) {
		return ARN{}, fmt.Errorf("ARN %q: account id %q is not 12 digits", s, a.AccountID)
	}
	if a.Resource == "" {
		return ARN{}, fmt.Errorf("ARN %q: empty resource", s)
	}
	return a, nil
}

// ValidAWSPrincipal checks one value of a Principal's "AWS" list: "*", an
// account id, an IAM ARN (root, role, user, or an STS assumed-role session)
// or an IAM unique id (what AWS shows for a deleted role or user). It returns
// nil when valid and a message saying what is wrong otherwise.
func ValidAWSPrincipal(v string) error {
	switch {
	case v == "*":
		return nil
	case ValidAccountID(v):
		return nil
	case uniqueIDPattern.MatchString(v):
		return nil
	case strings.HasPrefix(v, "arn:"):
		a, err := ParseARN(v)
		if err != nil {
			return err
		}
		if a.AccountID == "" {
			return fmt.Errorf("principal %q has no account id", v)
		}
		if a.Region != "" {
			return fmt.Errorf("principal %q: IAM ARNs have no region", v)
		}
		switch a.Service {
		case "iam":
			if a.Resource == "root" || strings.HasPrefix(a.Resource, "role/") || strings.HasPrefix(a.Resource, "user/") {
				if strings.Contains(a.Resource, "*") {
					return fmt.Errorf("principal %q: wildcards are not allowed in principal ARNs", v)
				}
				return nil
			}
			return fmt.Errorf("principal %q: IAM resource must be root, role/<name> or user/<name>", v)
		case "sts":
			if strings.HasPrefix(a.Resource, "assumed-role/") {
				return nil
			}
			return fmt.Errorf("principal %q: STS principal must be assumed-role/<role>/<session>", v)
		default:
			return fmt.Errorf("principal %q: service %q is not iam or sts", v, a.Service)
		}
	default:
		return fmt.Errorf("principal %q is neither \"*\", a 12-digit account id nor an IAM ARN", v)
	}
}

// accountOfRoot returns the account id when v is an account id or an
// account-root ARN in any partition, so both spellings compare equal.
func accountOfRoot(v string) (string, bool) {
	if ValidAccountID(v) {
		return v, true
	}
	if !strings.HasPrefix(v, "arn:") || !strings.HasSuffix(v, ":root") {
		return "", false
	}
	parts := strings.Split(v, ":")
	if len(parts) == 6 && parts[2] == "iam" && parts[3] == "" && ValidAccountID(parts[4]) && parts[5] == "root" {
		return parts[4], true
	}
	return "", false
}

// GlobalRegions are the regions of one partition where the global services
// deliver their events: IAM's CloudTrail events (and so their EventBridge
// events) are delivered in IAM's region only, Organizations' in the region
// of its endpoint only. The CDK app puts the management stack in
// Organizations' region and forwards IAM's events from IAM's region.
type GlobalRegions struct {
	IAM           string
	Organizations string
}

// partitionGlobalRegions is the one table of them, per supported partition.
// Organizations' endpoints are documented per partition (us-east-1,
// us-gov-west-1, cn-northwest-1); IAM's event regions for aws-us-gov and
// aws-cn follow IAM's control plane there (README: Unverified).
var partitionGlobalRegions = map[string]GlobalRegions{
	PartitionAWS:      {IAM: "us-east-1", Organizations: "us-east-1"},
	PartitionGovCloud: {IAM: "us-gov-west-1", Organizations: "us-gov-west-1"},
	PartitionChina:    {IAM: "cn-north-1", Organizations: "cn-northwest-1"},
}

// PartitionGlobalRegions is partitionGlobalRegions' row for partition; ""
// is the default partition, aws. An unsupported partition has no row (the
// declaration's validation refuses it before anything asks).
func PartitionGlobalRegions(partition string) (GlobalRegions, bool) {
	if partition == "" {
		partition = PartitionAWS
	}
	g, ok := partitionGlobalRegions[partition]
	return g, ok
}

// IAMEventsRegion is the region where IAM's events are delivered in
// partition (aws's when the partition is not supported).
func IAMEventsRegion(partition string) string {
	g, ok := PartitionGlobalRegions(partition)
	if !ok {
		g = partitionGlobalRegions[PartitionAWS]
	}
	return g.IAM
}

// MaxOUDepth is the deepest OU nesting Organizations allows below the root
// (five levels of OUs): a declared OU path naming more OUs names none that can
// exist (shared/config), and path lookups stop after it (shared/inventory).
const MaxOUDepth = 5

// OrganizationsEventsRegion is the region where Organizations' events are
// delivered in partition (aws's when the partition is not supported).
func OrganizationsEventsRegion(partition string) string {
	g, ok := PartitionGlobalRegions(partition)
	if !ok {
		g = partitionGlobalRegions[PartitionAWS]
	}
	return g.Organizations
}
