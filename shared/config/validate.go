package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

var (
	orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// An OU path as aws:PrincipalOrgPaths spells it: org/root/ou.../ with a trailing slash.
	ouPathPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}/r-[0-9a-z]{4,32}/(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*$`)
	// IAM role names (without path), 1-64 characters.
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// A role ARN: arn:<partition>:iam::<account>:role<path><name>, where the path is IAM's
	// (CreateRole's Path: "/" alone, or "/" + 1 or more of \x21-\x7E, "/" among them, + "/"),
	// so what follows role/ is the path's inner part and its closing "/", if any, then the name.
	// Group 3 is that inner part with its "/"; the path's length is checked apart (maxRolePath).
	roleARNPattern = regexp.MustCompile(`^arn:([a-z-]+):iam::([0-9]{12}):role/((?:[\x21-\x7E]+/)?)([\w+=,.@-]{1,64})$`)
	// Sid prefixes end up in IAM-compatible Sids, which allow only letters and digits.
	sidPrefixPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,31}$`)
	// Names become part of Sids (PascalCased), so only separators that PascalCase removes.
	namePattern      = regexp.MustCompile(`^[a-z0-9]+(?:[-_.][a-z0-9]+)*$`)
	actionSetPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	ptcPrefixPattern = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	tagPattern       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	secretPattern    = regexp.MustCompile(`^ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+$`)
	ratePattern      = regexp.MustCompile(`^rate\((?:1 (?:minute|hour|day)|(?:[2-9]|[1-9][0-9]+) (?:minutes|hours|days))\)$`)
	cronPattern      = regexp.MustCompile(`^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$`)
	hubURLPattern    = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)
	azureURLPattern  = regexp.MustCompile(`^[a-z0-9]{5,50}\.azurecr\.io$`)
)

// Upstream registry kinds as CreatePullThroughCacheRule names them, and their fixed URLs.
var upstreamURLs = map[string]string{
	"ecr-public":                "public.ecr.aws",
	"quay":                      "quay.io",
	"k8s":                       "registry.k8s.io",
	"docker-hub":                "registry-1.docker.io",
	"github-container-registry": "ghcr.io",
	"gitlab-container-registry": "registry.gitlab.com",
}

// Upstreams that refuse anonymous pulls through the cache and so need a Secrets Manager credential.
var needsCredential = map[string]bool{
	"docker-hub": true, "github-container-registry": true,
	"gitlab-container-registry": true, "azure-container-registry": true,
}

// identityOnly are actions a resource policy cannot grant (they act on no
// repository or registry resource): each maps to where it belongs instead.
var identityOnly = map[string]string{
	"ecr:getauthorizationtoken":        "an identity policy of the pulling/pushing principal (it is not tied to a registry)",
	"ecr:createpullthroughcacherule":   "an identity policy of whoever creates the rule (ecr-warden's member role already has it)",
	"ecr-public:getauthorizationtoken": "the pusher's identity policy, together with sts:GetServiceBearerToken",
	"sts:getservicebearertoken":        "the pusher's identity policy, together with ecr-public:GetAuthorizationToken",
}

// Upstreams that take no credential at all.
var noCredential = map[string]bool{"ecr-public": true, "k8s": true, "ecr": true}

// UpstreamKindForURL infers the upstreamRegistry kind from an upstream URL ("" if unknown).
func UpstreamKindForURL(url string) string {
	for kind, u := range upstreamURLs {
		if u == url {
			return kind
		}
	}
	switch {
	case azureURLPattern.MatchString(url):
		return "azure-container-registry"
	case hubURLPattern.MatchString(url):
		return "ecr"
	}
	return ""
}

// HubRegistryURL is the registry host of the hub in region, the upstream URL of fromHub rules.
func (d *Declaration) HubRegistryURL(region string) string {
	suffix := ""
	if d.Hub.Partition == policy.PartitionChina {
		suffix = ".cn"
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com%s", d.Hub.AccountID, region, suffix)
}

// SidName turns a grant or rule name into the PascalCase, alphanumeric part of a Sid:
// "org-pull_shared.v2" becomes "OrgPullSharedV2".
func SidName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	upper := true
	for _, r := range name {
		switch {
		case r == '-' || r == '_' || r == '.' || r == '/':
			upper = true
		case r >= 'a' && r <= 'z':
			if upper {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			upper = false
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
			upper = false
		}
	}
	return b.String()
}

// ValidRepositoryPattern reports whether p is an ECR repository name in which "*" stands for any
// text: replacing every "*" by a letter must give a valid name.
func ValidRepositoryPattern(p string) bool {
	if p == "*" {
		return true
	}
	if len(p) == 0 || len(p) > 256 {
		return false
	}
	return policy.ValidRepositoryName(strings.ReplaceAll(p, "*", "a")) || policy.ValidRepositoryName(strings.ReplaceAll(p, "*", "ab"))
}

// validPublicRepositoryPattern is ValidRepositoryPattern for ECR Public, whose names keep the
// older grammar (one . _ or - between letters and digits) and at most 205 characters: a private
// name such as "a__b" names no public repository.
func validPublicRepositoryPattern(p string) bool {
	if p == "*" {
		return true
	}
	if len(p) == 0 || len(p) > policy.MaxPublicRepositoryName {
		return false
	}
	return policy.ValidPublicRepositoryName(strings.ReplaceAll(p, "*", "a")) || policy.ValidPublicRepositoryName(strings.ReplaceAll(p, "*", "ab"))
}

// Validate checks the whole declaration (after ApplyDefaults) and returns a *ValidationError
// listing every problem, or nil.
func (d *Declaration) Validate() error {
	v := validator{d: d}
	v.hub()
	v.names()
	v.actionSets()
	for i := range d.Grants {
		v.grant(idx("grants", i), &d.Grants[i])
	}
	v.pullThroughCache()
	for i := range d.PublicRepositories {
		v.publicGrant(idx("publicRepositories", i), &d.PublicRepositories[i])
	}
	if len(d.PublicRepositories) > 0 && d.Hub.Partition == policy.PartitionAWS && len(d.Hub.Regions) > 0 && !slices.Contains(d.Hub.Regions, policy.ECRPublicRegion) { // no regions at all is reported as such
		v.add("publicRepositories", "ECR Public's API and its CreateRepository events exist only in %[1]s, which hub.regions does not list; add %[1]s to hub.regions or remove publicRepositories (else no public repository policy is ever written)", policy.ECRPublicRegion)
	}
	v.sweep()
	v.policySizes()
	return v.err()
}

type validator struct {
	problems
	d *Declaration
	// root is the organization root the first OU path names, at rootPath (ouRoot).
	root, rootPath string
}

func (v *validator) accountID(path, id string) bool {
	if !policy.ValidAccountID(id) {
		switch id {
		case "*":
			v.add(path, "\"*\" would make the grant public; name accounts, or use organization/ous")
		case "":
			v.add(path, "required: an account id of 12 digits")
		default:
			v.add(path, "account id %q must be 12 digits", id)
		}
		return false
	}
	return true
}

func (v *validator) hub() {
	h := v.d.Hub
	v.accountID("hub.accountId", h.AccountID)
	partitionOK := policy.ValidPartition(h.Partition)
	if !partitionOK {
		hint := ""
		if policy.ValidPartition(strings.ToLower(h.Partition)) {
			hint = fmt.Sprintf(" (lowercase: %s)", strings.ToLower(h.Partition))
		}
		v.add("hub.partition", "partition %q must be aws, aws-cn or aws-us-gov%s", h.Partition, hint)
	}
	if len(h.Regions) == 0 {
		v.add("hub.regions", "at least one region is required")
	}
	if len(h.Regions) > MaxHubRegions {
		v.add("hub.regions", "%d regions, but the management account's rule forwards Organizations events to at most %d hub buses (an EventBridge rule has at most 5 targets)", len(h.Regions), MaxHubRegions)
	}
	seen := map[string]bool{}
	for i, r := range h.Regions {
		p := idx("hub.regions", i)
		switch {
		case seen[r]:
			v.add(p, "region %q is listed twice", r)
		default:
			v.region(p, r, partitionOK)
		}
		seen[r] = true
	}
	if h.OrganizationID == "" {
		v.add("hub.organizationId", "required: the organization's id, like o-a1b2c3d4e5 (aws organizations describe-organization)")
	} else if !orgIDPattern.MatchString(h.OrganizationID) {
		v.add("hub.organizationId", "organization id %q must look like o-a1b2c3d4e5 (o- and 10-32 lowercase letters or digits)", h.OrganizationID)
	}
	v.accountID("hub.managementAccountId", h.ManagementAccountID)
	if r := h.ControlTowerHomeRegion; r != "" {
		v.region("hub.controlTowerHomeRegion", r, partitionOK)
	}
	rc := v.d.Functions.ReservedConcurrency
	inRange := true
	for _, f := range rc.fields() {
		fn := f.fn
		n, low := rc.Of(fn), 1
		if fn == "worker" {
			low = 2
		}
		if n < low || n > MaxReservedConcurrency {
			inRange = false
			v.add("functions.reservedConcurrency."+fn, "reserved concurrency %d must be between %d and %d (AWS keeps 100 of an account's default 1,000 concurrent executions unreserved)%s",
				n, low, MaxReservedConcurrency, map[bool]string{true: "; the worker's is also its SQS event source's maximum concurrency, at least 2", false: ""}[fn == "worker"])
		}
	}
	sum, each := 0, []string{}
	for _, f := range rc.fields() {
		sum += rc.Of(f.fn)
		each = append(each, fmt.Sprintf("%s %d", f.fn, rc.Of(f.fn)))
	}
	if inRange && sum > MaxReservedConcurrency { // one out of range is reported itself
		v.add("functions.reservedConcurrency", "the functions reserve %d concurrent executions together (%s), but an account keeps 100 of its default 1,000 unreserved, so Lambda refuses the reservation past %d and the deploy fails", sum, strings.Join(each, ", "), MaxReservedConcurrency)
	}
	if !roleNamePattern.MatchString(v.d.MemberRoleName) {
		v.add("memberRoleName", "role name %q must be 1-64 letters, digits or +=,.@_-", v.d.MemberRoleName)
	}
	switch p := v.d.SidPrefix; {
	case !sidPrefixPattern.MatchString(p):
		v.add("sidPrefix", "Sid prefix %q must be a letter followed by letters or digits, at most 32 characters (IAM Sids are alphanumeric)", p)
	case len(p) < minSidPrefix:
		v.add("sidPrefix", "Sid prefix %q is shorter than %d characters: ecr-warden owns (rewrites or deletes) every statement whose Sid starts with it, and so short a prefix starts Sids other people write", p, minSidPrefix)
	default:
		for _, sid := range commonSids {
			if strings.HasPrefix(sid, p) {
				v.add("sidPrefix", "Sid prefix %q starts the Sid %q that AWS consoles, services or documentation examples write; ecr-warden would own (rewrite or delete) such statements: pick a prefix nobody else uses, like %s", p, sid, DefaultSidPrefix)
				break
			}
		}
	}
}

// othersRoles are the member roles that AWS services and the usual account tooling create and
// rely on, by name or name prefix (IAM role names ignore case): Organizations' access role, the
// StackSets and Control Tower execution roles, Identity Center's permission-set roles, service-
// linked roles and the CDK bootstrap roles. Naming one as the PTC role would let ecr-warden rewrite
// it. (memberRoleName is not checked against them: the member StackSet creates that role, so a
// taken name fails the deploy loudly, and tests run the engine through OrganizationAccountAccessRole.)
var othersRoles = []struct{ name, owner string }{
	{"OrganizationAccountAccessRole", "the role Organizations creates for the management account's access"},
	{"AWSControlTowerExecution", "Control Tower's execution role"},
	{"aws-controltower-*", "a Control Tower role"},
	{"AWSCloudFormationStackSetExecutionRole", "the self-managed StackSets execution role"},
	{"AWSCloudFormationStackSetAdministrationRole", "the self-managed StackSets administration role"},
	{"stacksets-exec-*", "a service-managed StackSets execution role"},
	{"AWSServiceRoleFor*", "a service-linked role"},
	{"AWSReservedSSO_*", "an IAM Identity Center permission-set role"},
	{"cdk-*", "a CDK bootstrap role"},
}

// othersRole says whose role name is, or "".
func othersRole(name string) string {
	lower := strings.ToLower(name)
	for _, r := range othersRoles {
		n := strings.ToLower(r.name)
		if prefix, wild := strings.CutSuffix(n, "*"); (wild && strings.HasPrefix(lower, prefix)) || lower == n {
			return r.owner + " (" + r.name + ")"
		}
	}
	return ""
}

// MaxHubRegions is how many regions a hub may have: the management account's rule forwards
// Organizations events to every hub region's bus, and an EventBridge rule has at most 5 targets.
const MaxHubRegions = 5

// region checks a declared region: a region of the declared partition that AWS has
// (policy.Regions), so a deploy cannot create the first hub region's stack and fail in the next.
func (v *validator) region(path, r string, partitionOK bool) {
	partition, known := policy.KnownRegion(r)
	switch {
	case !policy.ValidRegion(r):
		hint := ""
		if c := Closest(r, allRegions()); strings.EqualFold(c, r) {
			hint = fmt.Sprintf(" (did you mean %q?)", c)
		}
		v.add(path, "region %q is not a region name like us-east-1%s", r, hint)
	case !known:
		hint := ""
		if c := Closest(r, allRegions()); c != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", c)
		}
		v.add(path, "region %q is not a region of the aws, aws-cn or aws-us-gov partitions%s; a region AWS launched after this release must be added to policy.Regions first", r, hint)
	case partitionOK && partition != v.d.Hub.Partition:
		v.add(path, "region %q is in partition %s, not the declared partition %s", r, partition, v.d.Hub.Partition)
	}
}

// allRegions are the regions of every supported partition (policy.Regions), for did-you-means.
func allRegions() []string {
	return slices.Concat(policy.Regions[policy.PartitionAWS], policy.Regions[policy.PartitionChina], policy.Regions[policy.PartitionGovCloud])
}

// minSidPrefix is the shortest Sid prefix accepted.
const minSidPrefix = 4

// IsSidPrefix reports whether p has the shape validation accepts of a
// sidPrefix (a letter, then letters or digits, 4 to 32 characters): what
// another installation's prefix can be (make doctor's sid-prefix check).
func IsSidPrefix(p string) bool {
	return sidPrefixPattern.MatchString(p) && len(p) >= minSidPrefix
}

// commonSids are Sids that others put into ECR, ECR Public and IAM policies:
// the IAM console's generators, the ECR and ECR Public documentation examples
// people paste, and the statements Lambda adds to a repository policy for
// container-image functions. A sidPrefix that starts one of them would make
// ecr-warden own, and so remove, statements it did not write.
var commonSids = []string{
	"Stmt1", "VisualEditor0", "new statement",
	"AllowPull", "AllowPush", "AllowPushPull", "AllowCrossAccountPull", "AllowCrossAccountPush",
	"ECR Public Repository Policy", "PullThroughCacheFromReadOnlyRole", "ReplicationAccessCrossAccount",
	"LambdaECRImageRetrievalPolicy", "LambdaECRImageCrossAccountRetrievalPolicy", "CodeBuildAccess",
}

// names checks that grant and public-grant names are unique, also after PascalCasing (they share
// the Sid namespace), so two grants can never write each other's statements.
func (v *validator) names() {
	bySid := map[string]string{}
	check := func(path, name string) {
		if name == "" {
			v.add(path, "required: 1-64 lowercase letters or digits separated by single - _ or . (it becomes part of a Sid)")
			return
		}
		if !namePattern.MatchString(name) || len(name) > 64 {
			v.add(path, "name %q must be 1-64 lowercase letters or digits separated by single - _ or . (it becomes part of a Sid)", name)
			return
		}
		if strings.HasPrefix(SidName(name), "Ptc") {
			v.add(path, "name %q: names starting with ptc are reserved for ecr-warden's pull-through-cache statements", name)
			return
		}
		sid := strings.ToLower(SidName(name))
		if other, ok := bySid[sid]; ok {
			v.add(path, "name %q collides with %s: both become Sid part %q", name, other, SidName(name))
			return
		}
		bySid[sid] = path
	}
	for i, g := range v.d.Grants {
		check(idx("grants", i)+".name", g.Name)
	}
	for i, g := range v.d.PublicRepositories {
		check(idx("publicRepositories", i)+".name", g.Name)
	}
}

func (v *validator) actionSets() {
	names := make([]string, 0, len(v.d.ActionSets))
	for n := range v.d.ActionSets {
		names = append(names, n)
	}
	sort.Strings(names)
	tagGrants := ""
	for i, g := range v.d.Grants {
		if len(g.RepositoryTags) > 0 {
			tagGrants = idx("grants", i)
			break
		}
	}
	for _, n := range names {
		p := key("actionSets", n)
		switch {
		case n == AccessPull || n == AccessPush || n == AccessManage:
			v.add(p, "%q is a built-in access level; name the set differently", n)
		case !actionSetPattern.MatchString(n):
			v.add(p, "action set name %q must be a lowercase letter followed by lowercase letters, digits or -, at most 64", n)
		}
		acts := v.d.ActionSets[n]
		if len(acts) == 0 {
			v.add(p, "an action set needs at least one action")
		}
		service := actionSetService(acts)
		seen := map[string]bool{}
		for i, a := range acts {
			ap := idx(p, i)
			svc, _, _ := strings.Cut(a, ":")
			where, identity := identityOnly[strings.ToLower(a)]
			switch {
			case seen[a]:
				v.add(ap, "action %q is listed twice", a)
			case identity:
				v.add(ap, "action %q grants nothing in a registry or repository policy (AWS evaluates it only in identity policies); remove it from the set and grant it in %s", a, where)
			case svc != "ecr" && svc != "ecr-public":
				v.add(ap, "action %q is neither an ecr: nor an ecr-public: action", a)
			case svc != service:
				v.add(ap, "action %q mixes services: a set holds only ecr: actions (private grants) or only ecr-public: actions (public grants)", a)
			case !policy.KnownAction(a, svc):
				v.add(ap, "action %q is not a known %s action", a, svc)
			case svc == "ecr":
				v.accessChanging(ap, a, tagGrants)
			}
			seen[a] = true
		}
	}
}

// accessChanging refuses an action of a private action set that would let
// the grantee change who may use the repositories: a policy write (see
// policy.AccessChangingActions, creation templates among them) or a
// replication configuration write (policy.ExposingActions) always, a tag change where a grant selects
// repositories by tag (tagGrants names the first). A wildcard is named with
// what it covers. ECR Public's built-in manage level keeps them on purpose:
// a public repository's policy says only who pushes and manages.
func (v *validator) accessChanging(path, action, tagGrants string) {
	covered := policy.ActionsCovered(action, policy.AccessChangingActions)
	why := "a grantee could rewrite the policy ecr-warden keeps equal to the declaration and let anyone in (its own statements are kept as foreign ones)"
	if len(covered) == 0 {
		covered = policy.ActionsCovered(action, policy.ExposingActions)
		why = "a grantee could replicate the registry's images into any account, outside the declaration and the organization"
	}
	if len(covered) == 0 && tagGrants != "" {
		covered = policy.ActionsCovered(action, policy.TagChangingActions)
		why = "a grantee could tag repositories into a grant that selects by tag (" + tagGrants + ")"
	}
	if len(covered) == 0 {
		return
	}
	what := fmt.Sprintf("action %q", action)
	if len(covered) > 1 || !strings.EqualFold(covered[0], action) {
		what = fmt.Sprintf("action %q covers %s", action, strings.Join(covered, ", "))
	}
	v.add(path, "%s: %s. List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy", what, why)
}

// actionSetService is the service of an action set: that of its first action.
func actionSetService(acts []string) string {
	if len(acts) == 0 {
		return ""
	}
	svc, _, _ := strings.Cut(acts[0], ":")
	return svc
}

func (v *validator) grant(path string, g *Grant) {
	if len(g.Repositories) == 0 && len(g.RepositoryTags) == 0 {
		v.add(path, "select repositories by name pattern (repositories) and/or tags (repositoryTags); use [\"*\"] for all")
	}
	v.repositoryPatterns(path+".repositories", g.Repositories, false)
	v.tags(path+".repositoryTags", g.RepositoryTags)
	switch {
	case g.Access == AccessPull || g.Access == AccessPush:
	case v.d.IsActionSet(g.Access):
		if svc := actionSetService(v.d.ActionSets[g.Access]); svc != "ecr" {
			v.add(path+".access", "action set %q holds %s: actions; private grants need a set of ecr: actions", g.Access, svc)
		}
	case g.Access == "":
		v.add(path+".access", "access is required: pull, push or an actionSets name")
	case strings.ToLower(g.Access) == AccessPull || strings.ToLower(g.Access) == AccessPush:
		v.add(path+".access", "access %q must be lowercase (%s)", g.Access, strings.ToLower(g.Access))
	default:
		v.add(path+".access", "access %q must be pull, push or one of the declared actionSets (%s)", g.Access, strings.Join(v.actionSetNames(), ", "))
	}
	switch g.Placement {
	case PlacementRegistry, PlacementRepository:
	default:
		v.add(path+".placement", "placement %q must be registry or repository", g.Placement)
	}
	switch g.PrincipalMode {
	case ModeCondition, ModeEnumerate:
	default:
		v.add(path+".principalMode", "principalMode %q must be condition or enumerate", g.PrincipalMode)
	}
	v.principals(path+".principals", g.Principals)
	v.registries(path+".registries", g.Registries)
}

func (v *validator) actionSetNames() []string {
	out := []string{}
	for n := range v.d.ActionSets {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"none declared"}
	}
	return out
}

func (v *validator) repositoryPatterns(path string, patterns []string, public bool) {
	seen := map[string]bool{}
	valid, longest := ValidRepositoryPattern, policy.MaxRepositoryName
	if public {
		valid, longest = validPublicRepositoryPattern, policy.MaxPublicRepositoryName
	}
	for i, p := range patterns {
		pp := idx(path, i)
		switch {
		case p != "" && !strings.Contains(p, "*") && len(p) < policy.MinRepositoryName, len(p) > longest:
			v.add(pp, "pattern %q is %d characters long; repository names have %d-%d", p, len(p), policy.MinRepositoryName, longest)
		case public && ValidRepositoryPattern(p) && !valid(p):
			v.add(pp, "pattern %q is not a valid public repository name pattern: ECR Public names take one . _ or - between letters and digits", p)
		case !valid(p):
			v.add(pp, "pattern %q is not a valid repository name pattern (lowercase letters, digits, . _ - /, and * wildcards)", p)
		case seen[p]:
			v.add(pp, "pattern %q is listed twice", p)
		}
		seen[p] = true
	}
}

func (v *validator) tags(path string, tags map[string]string) {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// IAM compares condition keys without case, aws:ResourceTag/<key> included,
	// so two keys that differ only in case would be one key tested twice in
	// the rendered condition block.
	lower := map[string]string{}
	for _, k := range keys {
		p := key(path, k)
		n := utf8.RuneCountInString(k)
		if other, ok := lower[strings.ToLower(k)]; ok {
			v.add(p, "tag key %q differs from %q only in case; IAM compares condition keys without case, so the policy would test one aws:ResourceTag key twice (use one spelling)", k, other)
		}
		lower[strings.ToLower(k)] = k
		switch {
		case n == 0 || n > 128:
			v.add(p, "tag key must be 1-128 characters")
		case !tagPattern.MatchString(k):
			v.add(p, "tag key %q may contain only letters, digits, spaces and _ . : / = + - @", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.add(p, "tag key %q uses the reserved aws: prefix", k)
		}
		val := tags[k]
		if utf8.RuneCountInString(val) > 256 || !tagPattern.MatchString(val) {
			v.add(p, "tag value %q must be at most 256 letters, digits, spaces and _ . : / = + - @", val)
		}
		for _, text := range []struct{ what, s string }{{"key", k}, {"value", val}} {
			if why := lookAlike(text.s); why != "" {
				v.add(p, "tag %s %q %s: the condition would match no repository tagged as it reads; write it out again", text.what, text.s, why)
			}
		}
	}
	if len(tags) > maxRepositoryTags {
		v.add(path, "%d tags, but a repository carries at most %d: no repository could match", len(tags), maxRepositoryTags)
	}
}

// maxRepositoryTags is how many tags ECR keeps on a repository.
const maxRepositoryTags = 50

// lookAlike says how a tag key or value AWS accepts hides a character that looks like another
// (pasted from a chat or a document), or "": a leading or trailing space, a space other than the
// plain one (a no-break or wide space), or a word mixing Latin, Cyrillic and Greek letters
// ("shаre" with a Cyrillic а).
func lookAlike(s string) string {
	if strings.TrimSpace(s) != s {
		return "starts or ends with a space, which does not show where it is read"
	}
	for _, r := range s {
		if r != ' ' && unicode.IsSpace(r) || r != ' ' && unicode.Is(unicode.Z, r) {
			return fmt.Sprintf("holds %U, a space that is not the plain space U+0020", r)
		}
	}
	scripts := []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek}
	names := []string{"Latin", "Cyrillic", "Greek"}
	for _, word := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		var seen []string
		for i, table := range scripts {
			if strings.ContainsFunc(word, func(r rune) bool { return unicode.Is(table, r) }) {
				seen = append(seen, names[i])
			}
		}
		if len(seen) > 1 {
			return fmt.Sprintf("mixes %s letters in the word %q", strings.Join(seen, " and "), word)
		}
	}
	return ""
}

func (v *validator) principals(path string, p Principals) {
	if p.IsEmpty() {
		v.add(path, "the grant names no principal; set organization, ous, accounts or roles (a grant to everyone is refused)")
	}
	v.ouList(path+".ous", p.OUs)
	v.accountList(path+".accounts", p.Accounts, false)
	v.roles(path+".roles", p.Roles)
}

func (v *validator) accountList(path string, ids []string, member bool) {
	seen := map[string]bool{}
	for i, id := range ids {
		p := idx(path, i)
		if !v.accountID(p, id) {
			continue
		}
		if seen[id] {
			v.add(p, "account %s is listed twice", id)
		}
		seen[id] = true
		if member && id == v.d.Hub.ManagementAccountID {
			v.add(p, "account %s is the management account, which is never a managed member (StackSets do not deploy there)", id)
		}
		if member && id == v.d.Hub.AccountID {
			v.add(p, "account %s is the hub; select it with hub: true, not as a member", id)
		}
	}
}

func (v *validator) roles(path string, roles []string) {
	seen := map[string]string{}
	for i, r := range roles {
		p := idx(path, i)
		// IAM role names ignore case (one account cannot hold ci and CI), so two ARNs that differ
		// only in the name's case name one role.
		k := r
		if j := strings.LastIndexByte(r, '/'); j >= 0 {
			k = r[:j] + strings.ToLower(r[j:])
		}
		if other, dup := seen[k]; dup {
			v.add(p, "role %q is listed twice%s", r, map[bool]string{true: fmt.Sprintf(" (as %q: IAM role names ignore case)", other), false: ""}[other != r])
			continue
		}
		seen[k] = r
		if strings.Contains(r, "*") {
			v.add(p, "role %q: wildcards are not allowed in principals (that would grant more than the named role)", r)
			continue
		}
		m := roleARNPattern.FindStringSubmatch(r)
		if m == nil {
			v.add(p, "role %q must be a role ARN like arn:%s:iam::222222222222:role/name%s", clipRole(r), v.d.Hub.Partition, roleARNProblem(r))
			continue
		}
		if m[1] != v.d.Hub.Partition && policy.ValidPartition(v.d.Hub.Partition) { // an invalid one is reported itself
			v.add(p, "role %q is in partition %q, not the declared partition %q", r, m[1], v.d.Hub.Partition)
		}
		if path := "/" + m[3]; len(path) > maxRolePath {
			v.add(p, "role %q: its path is %d characters; IAM role paths have at most %d, so no such role exists and AWS would refuse the policy naming it", clipRole(r), len(path), maxRolePath)
		}
	}
}

// roleARNProblem says which part of a string that is no role ARN is wrong, as "; ..." to end a
// message, or "" when it is not even shaped like an ARN.
func roleARNProblem(r string) string {
	parts := strings.SplitN(r, ":", 6) // arn, partition, service, region, account, resource
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	resource := parts[5]
	switch {
	case parts[2] != "iam":
		return fmt.Sprintf("; this is a %q ARN, not an IAM one", parts[2])
	case parts[3] != "":
		return fmt.Sprintf("; IAM ARNs name no region, and this one names %q", parts[3])
	case !policy.ValidAccountID(parts[4]):
		return fmt.Sprintf("; account %q is not 12 digits", parts[4])
	case !strings.HasPrefix(resource, "role/"):
		kind, _, _ := strings.Cut(resource, "/")
		return fmt.Sprintf("; it names a %q, not a role (grants name roles, or accounts under accounts)", kind)
	}
	pathName := strings.TrimPrefix(resource, "role/")
	i := strings.LastIndexByte(pathName, '/')
	name := pathName[i+1:]
	if !roleNamePattern.MatchString(name) {
		return fmt.Sprintf("; role name %q must be 1-64 letters, digits or +=,.@_-", clip(name, 80))
	}
	return fmt.Sprintf("; its path %q may hold only the ASCII characters ! to ~ (IAM's path pattern)", clip("/"+pathName[:i+1], 80))
}

// clip shortens s to n bytes and "..." for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// maxRolePath is the longest IAM path (CreateRole's Path: 1-512 characters). With a role name of
// at most 64 characters it also keeps a role ARN well inside IAM's 2,048 for an ARN.
const maxRolePath = 512

// clipRole shortens a role ARN with a long path for a message: its start, "...", and its name.
func clipRole(arn string) string {
	if len(arn) <= 120 {
		return arn
	}
	return arn[:60] + "..." + arn[strings.LastIndexByte(arn, '/'):]
}

// ouList checks a list of OU paths: each well formed, none twice (a duplicate is most often a
// copied line meant to name another OU).
func (v *validator) ouList(path string, ous []string) {
	seen := map[string]bool{}
	for i, ou := range ous {
		if seen[ou] {
			v.add(idx(path, i), "OU path %q is listed twice", ou)
			continue
		}
		seen[ou] = true
		v.ouPath(idx(path, i), ou)
	}
}

func (v *validator) ouPath(path, ou string) {
	switch {
	case !ouPathPattern.MatchString(ou):
		v.add(path, "OU path %q must look like %s/r-ab12/ou-ab12-11111111/ (organization/root/OUs, ending with /)", ou, v.d.Hub.OrganizationID)
	case !orgIDPattern.MatchString(v.d.Hub.OrganizationID):
		// hub.organizationId is reported itself; every OU path would repeat it.
	case !strings.HasPrefix(ou, v.d.Hub.OrganizationID+"/"):
		v.add(path, "OU path %q is not in the hub's organization %s", ou, v.d.Hub.OrganizationID)
	default:
		v.ouRoot(path, ou)
	}
}

// ouRoot checks the root of a well-formed OU path: an OU id carries the id of the root it is
// under (ou-<root id without r->-...), and an organization has one root. A path that breaks
// either names no OU that exists, so its grant matches nobody; and the member StackSet, which
// targets the root for allMembers, takes it from the first path naming one.
func (v *validator) ouRoot(path, ou string) {
	segs := strings.Split(strings.TrimSuffix(ou, "/"), "/")
	root := segs[1]
	if n := len(segs) - 2; n > policy.MaxOUDepth {
		v.add(path, "OU path %q names %d nested OUs; Organizations nests OUs at most %d deep below the root, so no account is under it", ou, n, policy.MaxOUDepth)
		return
	}
	for _, id := range segs[2:] {
		if want := "ou-" + strings.TrimPrefix(root, "r-") + "-"; !strings.HasPrefix(id, want) {
			v.add(path, "OU path %q: OU %s is not under root %s (the OUs under it have ids starting %s)", ou, id, root, want)
			return
		}
	}
	switch {
	case v.rootPath == "":
		v.root, v.rootPath = root, path
	case root != v.root:
		v.add(path, "OU path %q is under root %s, but %s is under root %s; an organization has one root", ou, root, v.rootPath, v.root)
	}
}

func (v *validator) registries(path string, r Registries) {
	v.ouList(path+".ous", r.OUs)
	v.accountList(path+".accounts", r.Accounts, true)
}

func (v *validator) pullThroughCache() {
	p := v.d.PullThroughCache
	if p == nil {
		return
	}
	const path = "pullThroughCache"
	if len(p.Rules) > 0 && p.Members.IsEmpty() {
		v.add(path+".members", "select the members that get the rules: all, ous or accounts")
	}
	v.ouList(path+".members.ous", p.Members.OUs)
	v.accountList(path+".members.accounts", p.Members.Accounts, true)
	switch {
	case !roleNamePattern.MatchString(p.Role.Name):
		v.add(path+".role.name", "role name %q must be 1-64 letters, digits or +=,.@_-", p.Role.Name)
	case othersRole(p.Role.Name) != "":
		// ecr-warden rewrites the PTC role's trust to the pull-through-cache service and caps it
		// with the PTC boundary in every PTC member: that would take the role from its owner.
		v.add(path+".role.name", "role name %q is %s; ecr-warden would rewrite its trust and cap it with the pull-through-cache boundary in every PTC member: pick another name", p.Role.Name, othersRole(p.Role.Name))
	case strings.EqualFold(p.Role.Name, v.d.MemberRoleName):
		// IAM role names are unique without case: ecr-warden would rewrite the trust and
		// permissions of the role it works through in every member into the PTC role's.
		v.add(path+".role.name", "role name %q is memberRoleName's, the role ecr-warden assumes in members (IAM role names ignore case); ecr-warden would rewrite it into the pull-through-cache role: pick another name", p.Role.Name)
	}
	seenNames := map[string]bool{}
	for i, n := range p.StatementPrincipals.RoleNames {
		switch rp := idx(path+".statementPrincipals.roleNames", i); {
		case !roleNamePattern.MatchString(n):
			v.add(rp, "role name %q must be 1-64 letters, digits or +=,.@_- (a name, not an ARN: the member's account is filled in)", n)
		case seenNames[strings.ToLower(n)]:
			v.add(rp, "role name %q is listed twice (IAM role names ignore case)", n)
		}
		seenNames[strings.ToLower(n)] = true
	}
	if p.UpstreamGrantMode != ModeEnumerate && p.UpstreamGrantMode != ModeCondition {
		v.add(path+".upstreamGrantMode", "upstreamGrantMode %q must be enumerate or condition", p.UpstreamGrantMode)
	}
	if part := v.d.Hub.Partition; len(p.Rules) > 0 && (part == policy.PartitionChina || part == policy.PartitionGovCloud) {
		v.add(path+".rules", "pull-through-cache rules cannot be created in the China or AWS GovCloud (US) regions (partition %s); remove the rules or the pullThroughCache section", part)
	}
	if len(p.Rules) > policy.PTCRulesMax {
		v.add(path+".rules", "%d rules declared; a registry holds at most %d pull-through-cache rules", len(p.Rules), policy.PTCRulesMax)
	}
	prefixes := map[string]string{}
	// A rule's prefix becomes part of the Sids of its registry-policy
	// statements (the member's, and the hub's upstream grant for fromHub
	// rules) with its separators removed, so "docker-hub" and "docker.hub"
	// would write two statements under one Sid: a document ecr-warden can
	// neither plan nor find its statements in again.
	bySid := map[string]int{}
	for i := range p.Rules {
		rp := idx(path+".rules", i)
		r := &p.Rules[i]
		if v.ptcPrefix(rp+".prefix", r.Prefix) {
			other, dup := prefixes[r.Prefix]
			j, clash := bySid[SidName(r.Prefix)]
			switch {
			case dup:
				v.add(rp+".prefix", "prefix %q is already used by %s", r.Prefix, other)
			case clash:
				v.add(rp+".prefix", "prefix %q collides with %s.prefix (%q): both become Sid part %q of the rules' registry-policy statements",
					r.Prefix, idx(path+".rules", j), p.Rules[j].Prefix, SidName(r.Prefix))
			default:
				bySid[SidName(r.Prefix)] = i
			}
			prefixes[r.Prefix] = rp
		}
		v.ptcRule(rp, r)
	}
	seen := map[string]bool{}
	for i, pre := range p.RetiredPrefixes {
		rp := idx(path+".retiredPrefixes", i)
		if !v.ptcPrefix(rp, pre) {
			continue
		}
		switch {
		case prefixes[pre] != "":
			v.add(rp, "prefix %q is retired but still used by %s", pre, prefixes[pre])
		case seen[pre]:
			v.add(rp, "prefix %q is listed twice", pre)
		}
		seen[pre] = true
	}
}

func (v *validator) ptcPrefix(path, prefix string) bool {
	if prefix == RootPrefix {
		return true
	}
	if len(prefix) < 2 || len(prefix) > 30 || !ptcPrefixPattern.MatchString(prefix) {
		v.add(path, "prefix %q must be ROOT or 2-30 lowercase letters or digits separated by single . _ or -", prefix)
		return false
	}
	return true
}

func (v *validator) ptcRule(path string, r *PTCRule) {
	if r.FromHub {
		if r.UpstreamRegistry != "ecr" {
			v.add(path+".upstreamRegistry", "a fromHub rule caches from ECR; upstreamRegistry must be ecr or omitted, not %q", r.UpstreamRegistry)
		}
		if r.UpstreamRegistryURL != "" && !v.isHubURL(r.UpstreamRegistryURL) {
			v.add(path+".upstreamRegistryUrl", "a fromHub rule must use the hub's registry URL (%s), not %q; or omit it", v.hubURLs(), r.UpstreamRegistryURL)
		}
	} else {
		kind := UpstreamKindForURL(r.UpstreamRegistryURL)
		switch {
		case r.UpstreamRegistryURL == "":
			v.add(path+".upstreamRegistryUrl", "upstreamRegistryUrl is required (or set fromHub to cache from the hub)")
		case kind == "":
			v.add(path+".upstreamRegistryUrl", "upstream %q is not a supported registry (public.ecr.aws, quay.io, registry.k8s.io, registry-1.docker.io, ghcr.io, registry.gitlab.com, <name>.azurecr.io, or fromHub)", r.UpstreamRegistryURL)
		case kind == "ecr":
			v.add(path+".upstreamRegistryUrl", "private ECR upstreams are supported only from the hub: set fromHub: true and omit upstreamRegistryUrl")
		case r.UpstreamRegistry != kind:
			v.add(path+".upstreamRegistry", "upstreamRegistry %q does not match the URL %q (which is %s)", r.UpstreamRegistry, r.UpstreamRegistryURL, kind)
		}
	}
	kind := r.UpstreamRegistry
	switch {
	case needsCredential[kind] && r.CredentialSecret == "":
		v.add(path+".credentialSecret", "upstream %s requires credentials: name a Secrets Manager secret ecr-pullthroughcache/...", kind)
	case r.CredentialSecret != "" && noCredential[kind]:
		v.add(path+".credentialSecret", "upstream %s takes no credential; remove credentialSecret", kind)
	case strings.HasPrefix(r.CredentialSecret, "arn:"):
		// A full ARN names one account and region; the rule is made in every PTC member and region.
		v.add(path+".credentialSecret", "%q is an ARN; give the secret's name (ecr-pullthroughcache/...): ecr-warden finds the secret of that name in each PTC member and region", r.CredentialSecret)
	case r.CredentialSecret != "" && !strings.HasPrefix(r.CredentialSecret, secretPrefix):
		v.add(path+".credentialSecret", "secret name %q must start with %s (ECR only reads secrets with that prefix)", r.CredentialSecret, secretPrefix)
	case r.CredentialSecret != "" && (!secretPattern.MatchString(r.CredentialSecret) || len(r.CredentialSecret) > maxSecretName):
		v.add(path+".credentialSecret", "secret name %q must be %s followed by letters, digits or /_+=.@-, at most %d characters in all (Secrets Manager's names)", r.CredentialSecret, secretPrefix, maxSecretName)
	}
	if up := r.UpstreamRepositoryPrefix; up != "" {
		upPath := path + ".upstreamRepositoryPrefix"
		if !r.FromHub {
			// ECR takes an upstream repository prefix only on ECR-to-ECR rules
			// (CreatePullThroughCacheRule; "Customizing repository prefixes for ECR
			// to ECR pull through cache"), so every member's create would fail.
			v.add(upPath, "upstreamRepositoryPrefix applies only to ECR-to-ECR rules (fromHub: true); ECR refuses it on a rule whose upstream is %s: remove it (the rule caches every repository of its upstream under prefix %q)", upstreamName(r), r.Prefix)
		}
		if r.Prefix == RootPrefix {
			v.add(upPath, "upstreamRepositoryPrefix needs a non-ROOT prefix")
		}
		switch {
		case up == RootPrefix:
		case !policy.ValidRepositoryName(up) && !policy.ValidPTCPrefix(up):
			v.add(upPath, "upstream repository prefix %q must be ROOT or a repository name prefix (lowercase letters, digits, . _ - /)", up)
		case !policy.ValidPTCPrefix(up):
			v.add(upPath, "upstream repository prefix %q is %d characters; ECR takes %s or 2-30 characters (a trailing / allowed), the same as a rule's own prefix", up, len(up), RootPrefix)
		}
	}
}

// upstreamName names a rule's upstream for messages: its kind, or its URL when the kind is unknown.
func upstreamName(r *PTCRule) string {
	if r.UpstreamRegistry != "" {
		return r.UpstreamRegistry
	}
	if r.UpstreamRegistryURL != "" {
		return strconv.Quote(r.UpstreamRegistryURL)
	}
	return "not ECR"
}

// secretPrefix starts the name of every secret ECR's pull-through cache reads; maxSecretName is
// Secrets Manager's longest name.
const (
	secretPrefix  = "ecr-pullthroughcache/"
	maxSecretName = 512
)

func (v *validator) isHubURL(u string) bool {
	for _, r := range v.d.Hub.Regions {
		if u == v.d.HubRegistryURL(r) {
			return true
		}
	}
	return false
}

func (v *validator) hubURLs() string {
	urls := make([]string, len(v.d.Hub.Regions))
	for i, r := range v.d.Hub.Regions {
		urls[i] = v.d.HubRegistryURL(r)
	}
	return strings.Join(urls, " or ")
}

func (v *validator) publicGrant(path string, g *PublicGrant) {
	if v.d.Hub.Partition != policy.PartitionAWS && policy.ValidPartition(v.d.Hub.Partition) { // an invalid one is reported itself
		v.add(path, "ECR Public exists only in the aws partition, not %s", v.d.Hub.Partition)
	}
	if len(g.Repositories) == 0 {
		v.add(path+".repositories", "select public repositories by name pattern; use [\"*\"] for all")
	}
	v.repositoryPatterns(path+".repositories", g.Repositories, true)
	switch a := strings.ToLower(g.Access); {
	case a == AccessPush || a == AccessManage:
		if g.Access != a {
			v.add(path+".access", "access %q must be lowercase (%s)", g.Access, a)
		}
	case v.d.IsActionSet(g.Access):
		if svc := actionSetService(v.d.ActionSets[g.Access]); svc != "ecr-public" {
			v.add(path+".access", "action set %q holds %s: actions; public grants need a set of ecr-public: actions", g.Access, svc)
		}
	case strings.Contains(a, "pull") || strings.Contains(a, "deny"):
		v.add(path+".access", "access %q: anyone can pull a public repository and public pulls cannot be denied by policy; use push or manage", g.Access)
	case a == "":
		v.add(path+".access", "access is required: push or manage")
	default:
		v.add(path+".access", "access %q must be push, manage or an actionSets name holding ecr-public: actions", g.Access)
	}
	if len(g.Principals.Accounts) == 0 && len(g.Principals.Roles) == 0 {
		v.add(path+".principals", "the grant names no principal; set accounts or roles (a grant to everyone is refused)")
	}
	v.accountList(path+".principals.accounts", g.Principals.Accounts, false)
	v.roles(path+".principals.roles", g.Principals.Roles)
	v.registries(path+".registries", g.Registries)
}

func (v *validator) sweep() {
	s := v.d.Sweep.Schedule
	switch {
	case ratePattern.MatchString(s):
		if why := rateProblem(s); why != "" {
			v.add("sweep.schedule", "schedule %q: %s", s, why)
		}
	case !cronPattern.MatchString(s):
		v.add("sweep.schedule", "schedule %q must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)%s", s, rateHint(s))
	default:
		if why := cronProblem(strings.Fields(strings.TrimSuffix(strings.TrimPrefix(s, "cron("), ")"))); why != "" {
			v.add("sweep.schedule", "schedule %q: %s (EventBridge refuses the rule, failing the deploy)", s, why)
		}
	}
}

// MaxSweepInterval is the longest interval a rate(...) sweep schedule may name. EventBridge
// documents no upper bound for a rate expression's value (only "a positive number"), but the
// sweep is what repairs a missed event, and a rate rarer than yearly is a slip (zeros too many, or
// minutes meant as days), never a plan; a value of more digits than an int holds is refused with
// it rather than overflowing.
const MaxSweepInterval = 365 * 24 * time.Hour

// rateUnits are the units of a rate expression (singular for 1, EventBridge's rule) and their length.
var rateUnits = map[string]time.Duration{
	"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// rateProblem says what is wrong with a rate expression that has rate(N unit)'s shape, or "": an
// interval past MaxSweepInterval, however many digits N has.
func rateProblem(s string) string {
	n, unit, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(s, "rate("), ")"), " ")
	per := rateUnits[unit]
	limit := int64(MaxSweepInterval / per)
	if val, err := strconv.ParseInt(n, 10, 64); err == nil && val <= limit {
		return ""
	}
	return fmt.Sprintf("every %s %s is longer than a sweep may wait: at most %d %s (a year); the sweep repairs what missed events left, so run it at least yearly, as rate(6 hours) by default (EventBridge documents no upper bound for a rate)",
		n, unit, limit, strings.TrimSuffix(unit, "s")+"s")
}

// rateLike matches what was meant as a rate expression: rate( N unit ) in any case and spacing.
var rateLike = regexp.MustCompile(`(?i)^\s*rate\s*\(\s*(\S+)\s+(\S+)\s*\)\s*$`)

// rateHint says, as "; ..." to end a message, what is wrong in a schedule meant as a rate
// expression that the rate grammar refuses, or "" when that is not clear from it.
func rateHint(s string) string {
	m := rateLike.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	n, unit := m[1], m[2]
	_, known := rateUnits[unit]
	switch {
	case s != "rate("+n+" "+unit+")" && strings.EqualFold(s, "rate("+n+" "+unit+")"):
		return "; write rate in lowercase"
	case s != "rate("+n+" "+unit+")":
		return fmt.Sprintf("; leave out the spaces but the one between value and unit: rate(%s %s)", n, unit)
	case !known && rateUnits[strings.ToLower(unit)] != 0:
		return fmt.Sprintf("; the unit is lowercase: %s", strings.ToLower(unit))
	case !known:
		return fmt.Sprintf("; %q is not minute(s), hour(s) or day(s)", unit)
	case strings.TrimLeft(n, "0123456789") != "" || strings.TrimLeft(n, "0") == "":
		return "; the value must be a positive whole number"
	case strings.HasPrefix(n, "0"):
		return fmt.Sprintf("; write the value without leading zeros: %s", strings.TrimLeft(n, "0"))
	}
	return ""
}

// cronFields are the six fields of an EventBridge cron expression: each item of a field (items
// are separated by commas) is a value, a range of values, * or a value or range followed by
// /<increment>, and the day fields also take their own forms (? L W #).
var cronFields = []struct {
	name     string
	low, top int
	names    []string // month or weekday names standing for low, low+1, ...
	item     *regexp.Regexp
}{
	{"minutes", 0, 59, nil, regexp.MustCompile(`^(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?$`)},
	{"hours", 0, 23, nil, regexp.MustCompile(`^(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?$`)},
	{"day-of-month", 1, 31, nil, regexp.MustCompile(`^(?:\?|L|LW|([0-9]+)W|(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?)$`)},
	{"month", 1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
		regexp.MustCompile(`^(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?$`)},
	{"day-of-week", 1, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"},
		regexp.MustCompile(`^(?:\?|L|(\w+)L|(\w+)#[1-5]|(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?)$`)},
	{"year", 1970, 2199, nil, regexp.MustCompile(`^(?:\*|(\w+)(?:-(\w+))?)(?:/[0-9]+)?$`)},
}

// cronProblem says what EventBridge would refuse in a cron expression's six fields, or "": an
// item a field does not take, a value out of its range, or day-of-month and day-of-week both
// given (one of them must be ?: "cron(0 */6 * * * *)" is the usual slip).
func cronProblem(fields []string) string {
	for i, f := range cronFields {
		for _, item := range strings.Split(fields[i], ",") {
			m := f.item.FindStringSubmatch(item)
			if m == nil {
				return fmt.Sprintf("%s %q is not a value, a range, * or an increment of the %s field", f.name, item, f.name)
			}
			for _, val := range m[1:] {
				if val == "" {
					continue
				}
				n, err := strconv.Atoi(val)
				if err != nil {
					if j := slices.Index(f.names, strings.ToUpper(val)); j >= 0 {
						n = f.low + j
					} else {
						return fmt.Sprintf("%s %q is not a number%s", f.name, val, map[bool]string{true: " or a name (" + strings.Join(f.names, " ") + ")", false: ""}[f.names != nil])
					}
				}
				if n < f.low || n > f.top {
					return fmt.Sprintf("%s %d is outside %d-%d", f.name, n, f.low, f.top)
				}
			}
		}
	}
	if dom, dow := fields[2] == "?", fields[4] == "?"; dom == dow {
		return "exactly one of day-of-month and day-of-week must be ? (the other says which days), like cron(0 */6 * * ? *)"
	}
	return ""
}
