package desired

import (
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Action lists. Orders follow the AWS examples (seeds 002, 003) so rendered documents read like
// the documentation.
var (
	// PullActions let a principal pull images.
	PullActions = []string{"ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"}
	// PushActions let a principal push images (and pull them, which pushing needs).
	PushActions = append(slices.Clone(PullActions), "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload")
	// PTCStatementActions are what a member's principals need in the member's registry policy to
	// use a pull-through-cache rule (seed 000).
	PTCStatementActions = []string{"ecr:CreateRepository", "ecr:BatchImportUpstreamImage"}
	// PTCRoleActions is the PTC role's permission policy for ECR-to-ECR caching (seed 003).
	PTCRoleActions = []string{"ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken", "ecr:BatchImportUpstreamImage",
		"ecr:BatchGetImage", "ecr:GetImageCopyStatus", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
		"ecr:CompleteLayerUpload", "ecr:PutImage"}
	// UpstreamActions are what the hub grants a downstream member for ECR-to-ECR caching (seed 003).
	UpstreamActions = []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage", "ecr:GetImageCopyStatus"}
	// PublicPushActions let a principal push to an ECR Public repository.
	PublicPushActions = []string{"ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage", "ecr-public:InitiateLayerUpload",
		"ecr-public:UploadLayerPart", "ecr-public:CompleteLayerUpload"}
	// PublicManageActions add describing, catalog data, image deletion, tags and the repository
	// policy itself; not DeleteRepository, which is the owner's decision.
	PublicManageActions = append(slices.Clone(PublicPushActions), "ecr-public:DescribeImages", "ecr-public:DescribeImageTags",
		"ecr-public:DescribeRepositories", "ecr-public:GetRepositoryCatalogData", "ecr-public:PutRepositoryCatalogData",
		"ecr-public:GetRepositoryPolicy", "ecr-public:SetRepositoryPolicy", "ecr-public:DeleteRepositoryPolicy",
		"ecr-public:BatchDeleteImage", "ecr-public:ListTagsForResource", "ecr-public:TagResource", "ecr-public:UntagResource")
)

// PTCServicePrincipal is the service that assumes the PTC role.
const PTCServicePrincipal = "pullthroughcache.ecr.amazonaws.com"

// Sid suffixes, one per principal kind, so the statements of one grant never share a Sid.
const (
	suffixOrg      = "Org"
	suffixOrgPaths = "OrgPaths"
	suffixAccounts = "Accounts"
	suffixRoles    = "Roles"
)

// State is the declaration bound to one inventory of accounts, with everything that does not depend
// on the repository or registry computed once: which accounts are managed members, which get PTC,
// each grant's actions, enumerated principals and repository-policy statements. Building it costs
// O(grants x accounts); each per-repository query is then O(grants) with no per-account work, which
// is what keeps a 10,000-repository sweep cheap.
//
// A State is read-only after New and safe for concurrent use. Returned statements share backing
// arrays with the State and with each other: treat them as read-only.
type State struct {
	decl       *config.Declaration
	byID       map[string]Account
	ptcMembers []string // sorted IDs of managed members that get PTC setup
	grants     []grantInfo
	publics    []publicInfo
}

type grantInfo struct {
	g       *config.Grant
	sidBase string
	actions policy.StringList
	// repoStatements are the statements for each matching repository's policy (repository
	// placement): no Resource, nothing that depends on the repository.
	repoStatements []policy.Statement
}

type publicInfo struct {
	g          *config.PublicGrant
	statements []policy.Statement
}

// New binds a validated declaration to the organization's accounts.
func New(d *config.Declaration, accounts []Account) *State {
	s := &State{decl: d, byID: make(map[string]Account, len(accounts))}
	for _, a := range accounts {
		s.byID[a.ID] = a
	}
	if d.PullThroughCache != nil {
		for _, a := range accounts {
			if s.isPTCMember(a) {
				s.ptcMembers = append(s.ptcMembers, a.ID)
			}
		}
		slices.Sort(s.ptcMembers)
		s.ptcMembers = slices.Compact(s.ptcMembers)
	}
	for i := range d.Grants {
		g := &d.Grants[i]
		gi := grantInfo{g: g, sidBase: d.SidPrefix + config.SidName(g.Name), actions: s.grantActions(g.Access)}
		if g.Placement == config.PlacementRepository {
			gi.repoStatements = s.principalStatements(gi, nil, nil)
		}
		s.grants = append(s.grants, gi)
	}
	for i := range d.PublicRepositories {
		g := &d.PublicRepositories[i]
		actions := PublicPushActions
		switch {
		case g.Access == config.AccessManage:
			actions = PublicManageActions
		case d.IsActionSet(g.Access):
			actions = d.ActionSets[g.Access]
		}
		base := d.SidPrefix + config.SidName(g.Name)
		var sts []policy.Statement
		if len(g.Principals.Accounts) > 0 {
			sts = append(sts, allow(base+suffixAccounts, awsPrincipal(s.rootARNs(g.Principals.Accounts)), actions, nil, nil))
		}
		if len(g.Principals.Roles) > 0 {
			sts = append(sts, allow(base+suffixRoles, awsPrincipal(sortedCopy(g.Principals.Roles)), actions, nil, nil))
		}
		s.publics = append(s.publics, publicInfo{g: g, statements: sts})
	}
	return s
}

// Declaration returns the declaration the State was built from.
func (s *State) Declaration() *config.Declaration { return s.decl }

func (s *State) grantActions(access string) policy.StringList {
	switch access {
	case config.AccessPull:
		return PullActions
	case config.AccessPush:
		return PushActions
	}
	return s.decl.ActionSets[access]
}

// ManagedMember reports whether ecr-warden configures the account as a member: an active
// organization account that is neither the hub nor the management account (the member StackSet
// never deploys its execution role to the management account).
func (s *State) ManagedMember(a Account) bool {
	return a.Active() && a.ID != s.decl.Hub.AccountID && a.ID != s.decl.Hub.ManagementAccountID
}

func (s *State) isPTCMember(a Account) bool {
	p := s.decl.PullThroughCache
	if p == nil || len(p.Rules) == 0 || !s.ManagedMember(a) {
		return false
	}
	return p.Members.All || slices.Contains(p.Members.Accounts, a.ID) || inAnyOU(a, p.Members.OUs)
}

// PTCMember reports whether the account gets the pull-through-cache setup (rules, registry-policy
// statements, and the PTC role when a rule caches from the hub).
func (s *State) PTCMember(accountID string) bool {
	_, ok := slices.BinarySearch(s.ptcMembers, accountID)
	return ok
}

// PTCMembers returns the sorted IDs of the members that get the pull-through-cache setup.
func (s *State) PTCMembers() []string { return s.ptcMembers }

// Configures reports whether the declaration puts anything inside the account's own registry or IAM:
// it is a managed member that gets the pull-through-cache setup, or a grant or public grant lives in
// its registry. These are exactly the accounts the member StackSet deploys the execution role to
// (infra derives its targets from the same selectors), so no other member is ever assumed into.
func (s *State) Configures(accountID string) bool {
	if accountID == s.decl.Hub.AccountID {
		return true
	}
	if s.PTCMember(accountID) {
		return true
	}
	for i := range s.decl.Grants {
		if s.AppliesTo(s.decl.Grants[i].Registries, accountID) {
			return true
		}
	}
	for i := range s.decl.PublicRepositories {
		if s.AppliesTo(s.decl.PublicRepositories[i].Registries, accountID) {
			return true
		}
	}
	return false
}

// Enumerated reports whether an enumerating grant (one that lists the
// accounts of the organization or of OUs) lives in the account's registry,
// so that the registry's documents change when any account joins, moves or
// leaves.
func (s *State) Enumerated(accountID string) bool {
	for i := range s.decl.Grants {
		if g := &s.decl.Grants[i]; g.EnumeratesOrganization() && s.AppliesTo(g.Registries, accountID) {
			return true
		}
	}
	return false
}

// EnumeratedRepositories matches the repositories of the account's registry
// whose policies an enumerating repository-placement grant lives in (by
// name: a tag condition only narrows that set further). nil when no such
// grant applies to the registry.
func (s *State) EnumeratedRepositories(accountID string) func(name string) bool {
	var patterns [][]string
	for i := range s.decl.Grants {
		g := &s.decl.Grants[i]
		if g.EnumeratesOrganization() && g.Placement == config.PlacementRepository && s.AppliesTo(g.Registries, accountID) {
			patterns = append(patterns, g.Repositories)
		}
	}
	if patterns == nil {
		return nil
	}
	return func(name string) bool {
		return slices.ContainsFunc(patterns, func(p []string) bool { return matchesRepository(p, nil, name, nil) })
	}
}

// AppliesTo reports whether registries selects the account's registry: the hub by Hub, a managed
// member by AllMembers, one of the OUs or being listed.
func (s *State) AppliesTo(r config.Registries, accountID string) bool {
	if accountID == s.decl.Hub.AccountID {
		return r.Hub
	}
	a, ok := s.byID[accountID]
	if !ok || !s.ManagedMember(a) {
		return false
	}
	return r.AllMembers || slices.Contains(r.Accounts, accountID) || inAnyOU(a, r.OUs)
}

func inAnyOU(a Account, ous []string) bool {
	for _, ou := range ous {
		if a.OUPath != "" && strings.HasPrefix(a.OUPath, ou) {
			return true
		}
	}
	return false
}

// RepositoryStatements are ecr-warden's statements in a private repository's policy: one set per
// repository-placement grant that lives in the repository's registry and whose name patterns and
// tags both match (a grant without patterns matches by tags alone, and vice versa). Repository
// policies carry no Resource element.
func (s *State) RepositoryStatements(repo Repository) []policy.Statement {
	var out []policy.Statement
	for i := range s.grants {
		gi := &s.grants[i]
		if gi.g.Placement != config.PlacementRepository || len(gi.repoStatements) == 0 {
			continue
		}
		if !matchesRepository(gi.g.Repositories, gi.g.RepositoryTags, repo.Name, repo.Tags) || !s.AppliesTo(gi.g.Registries, repo.Account) {
			continue
		}
		out = append(out, gi.repoStatements...)
	}
	return out
}

func matchesRepository(patterns []string, tags map[string]string, name string, have map[string]string) bool {
	if len(patterns) > 0 {
		ok := false
		for _, p := range patterns {
			if MatchPattern(p, name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for k, v := range tags {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// MatchPattern reports whether a repository name matches a declaration pattern, in which "*"
// matches any run of characters, "/" included (as it does in IAM resource ARNs).
func MatchPattern(pattern, name string) bool { return policy.Glob(pattern, name, false) }

// RegistryStatements are ecr-warden's statements in the registry policy of account in region.
//
// In the hub: every registry-placement grant that lives in the hub, with the grant's repository
// ARNs as Resource ("*" when a pattern is "*") and its tags as aws:ResourceTag conditions; plus, for
// each fromHub PTC rule, the upstream grant that lets exactly the PTC members cache from the hub
// (seed 003). In a PTC member: one statement per PTC rule giving the declared member principals
// CreateRepository and BatchImportUpstreamImage (and TagResource if declared) on
// repository/<prefix>/* (seed 000); plus the registry-placement grants that live in that member.
func (s *State) RegistryStatements(account, region string) []policy.Statement {
	d := s.decl
	var out []policy.Statement
	for i := range s.grants {
		gi := &s.grants[i]
		if gi.g.Placement != config.PlacementRegistry || !s.AppliesTo(gi.g.Registries, account) {
			continue
		}
		out = append(out, s.principalStatements(*gi, s.registryResources(gi.g, account, region), tagConditions(gi.g.RepositoryTags))...)
	}
	if account == d.Hub.AccountID {
		out = append(out, s.upstreamStatements(region)...)
	} else if s.PTCMember(account) {
		out = append(out, s.ptcStatements(account, region)...)
	}
	return out
}

func (s *State) registryResources(g *config.Grant, account, region string) policy.StringList {
	if len(g.Repositories) == 0 || slices.Contains(g.Repositories, "*") {
		return policy.StringList{"*"}
	}
	out := make(policy.StringList, len(g.Repositories))
	for i, p := range g.Repositories {
		out[i] = policy.RepositoryARN(s.decl.Hub.Partition, region, account, p)
	}
	return out
}

func tagConditions(tags map[string]string) map[string]policy.StringList {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]policy.StringList, len(tags))
	for k, v := range tags {
		out["aws:ResourceTag/"+k] = policy.StringList{v}
	}
	return out
}

// principalStatements renders one grant for one document: one statement per principal kind, so
// that the aws:PrincipalOrgID condition of one kind never narrows another (conditions AND).
// Condition mode writes the organization and OUs as Principal {"AWS":"*"} with conditions;
// enumerate mode expands them to the sorted root ARNs of the active inventory accounts they contain
// (suspended and departed accounts excluded; the hub included, as aws:PrincipalOrgID would), merged
// with the listed accounts. Roles are always listed by ARN.
func (s *State) principalStatements(gi grantInfo, resources policy.StringList, tags map[string]policy.StringList) []policy.Statement {
	g, d := gi.g, s.decl
	var out []policy.Statement
	accounts := g.Principals.Accounts
	if g.PrincipalMode == config.ModeEnumerate {
		accounts = s.enumerate(g.Principals)
	} else {
		if g.Principals.Organization {
			cond := withTags(policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {d.Hub.OrganizationID}}}, tags)
			out = append(out, allow(gi.sidBase+suffixOrg, awsPrincipal(policy.StringList{"*"}), gi.actions, resources, cond))
		}
		if len(g.Principals.OUs) > 0 {
			paths := make(policy.StringList, len(g.Principals.OUs))
			for i, ou := range g.Principals.OUs {
				paths[i] = ou + "*"
			}
			slices.Sort(paths)
			cond := withTags(policy.Condition{"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": paths}}, tags)
			out = append(out, allow(gi.sidBase+suffixOrgPaths, awsPrincipal(policy.StringList{"*"}), gi.actions, resources, cond))
		}
	}
	if len(accounts) > 0 {
		out = append(out, allow(gi.sidBase+suffixAccounts, awsPrincipal(s.rootARNs(accounts)), gi.actions, resources, withTags(nil, tags)))
	}
	if len(g.Principals.Roles) > 0 {
		out = append(out, allow(gi.sidBase+suffixRoles, awsPrincipal(sortedCopy(g.Principals.Roles)), gi.actions, resources, withTags(nil, tags)))
	}
	return out
}

// enumerate lists the account IDs a grant's principals stand for in enumerate mode.
func (s *State) enumerate(p config.Principals) []string {
	out := slices.Clone(p.Accounts)
	if p.Organization || len(p.OUs) > 0 {
		for _, a := range s.byID {
			if a.Active() && (p.Organization || inAnyOU(a, p.OUs)) {
				out = append(out, a.ID)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func withTags(c policy.Condition, tags map[string]policy.StringList) policy.Condition {
	if len(tags) == 0 {
		return c
	}
	if c == nil {
		c = policy.Condition{}
	}
	eq := c["StringEquals"]
	if eq == nil {
		eq = make(map[string]policy.StringList, len(tags))
		c["StringEquals"] = eq
	}
	for k, v := range tags {
		eq[k] = v
	}
	return c
}

func (s *State) rootARNs(ids []string) policy.StringList {
	out := make(policy.StringList, len(ids))
	for i, id := range ids {
		out[i] = policy.AccountRootARN(s.decl.Hub.Partition, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedCopy(in []string) policy.StringList {
	out := slices.Clone(policy.StringList(in))
	slices.Sort(out)
	return slices.Compact(out)
}

func awsPrincipal(values policy.StringList) *policy.Principal {
	return &policy.Principal{AWS: values}
}

func allow(sid string, p *policy.Principal, actions, resources policy.StringList, cond policy.Condition) policy.Statement {
	return policy.Statement{Sid: sid, Effect: "Allow", Principal: p, Action: actions, Resource: resources, Condition: cond}
}

// fromHubRules returns the fromHub PTC rules.
func (s *State) fromHubRules() []config.PTCRule {
	if s.decl.PullThroughCache == nil {
		return nil
	}
	var out []config.PTCRule
	for _, r := range s.decl.PullThroughCache.Rules {
		if r.FromHub {
			out = append(out, r)
		}
	}
	return out
}

// upstreamStatements: the hub's grant to the PTC members for each fromHub rule (seed 003), scoped
// to the rule's upstream repository prefix.
func (s *State) upstreamStatements(region string) []policy.Statement {
	rules := s.fromHubRules()
	if len(rules) == 0 || len(s.ptcMembers) == 0 || !slices.Contains(s.decl.Hub.Regions, region) {
		return nil
	}
	d := s.decl
	out := make([]policy.Statement, 0, len(rules))
	for _, r := range rules {
		prefix := r.UpstreamRepositoryPrefix
		if prefix == config.RootPrefix {
			prefix = ""
		}
		res := policy.StringList{policy.RegistryResourceARN(d.Hub.Partition, region, d.Hub.AccountID, prefix)}
		sid := d.SidPrefix + "PtcUpstream" + config.SidName(r.Prefix)
		if d.PullThroughCache.UpstreamGrantMode != config.ModeCondition {
			// The members' roots, narrowed to their PTC role: a root
			// principal alone would let every role of the member import
			// into and read the hub's upstream repositories. (A role ARN
			// principal would be rejected while the role does not exist yet.)
			cond := policy.Condition{"ArnLike": {"aws:PrincipalArn": {"arn:" + d.Hub.Partition + ":iam::*:role/" + d.PullThroughCache.Role.Name}}}
			out = append(out, allow(sid, awsPrincipal(s.rootARNs(s.ptcMembers)), UpstreamActions, res, cond))
			continue
		}
		out = append(out, s.upstreamConditionStatements(sid, res)...)
	}
	return out
}

// upstreamConditionStatements is the upstream grant in condition mode: the caller is the PTC role
// (ECR assumes it in the member), so Principal "*" narrowed to the organization or the members'
// OUs and to principals whose ARN is a role with the PTC role's name; members listed by id are
// named by their roots, narrowed to the same role name.
//
// A role name is no proof of membership: anyone who can create roles in an account the
// organization or OU condition admits can create one with the PTC role's name. So the grant is
// narrowed to exactly the accounts that are PTC members: the OU paths of OU-selected members, and
// never the management account or the hub (StringNotEquals aws:PrincipalAccount), which are never
// PTC members (desired.ManagedMember) and sit in the organization, possibly inside a selected OU.
func (s *State) upstreamConditionStatements(sid string, res policy.StringList) []policy.Statement {
	d := s.decl
	m := d.PullThroughCache.Members
	roleARN := map[string]policy.StringList{"aws:PrincipalArn": {"arn:" + d.Hub.Partition + ":iam::*:role/" + d.PullThroughCache.Role.Name}}
	notMembers := map[string]policy.StringList{"aws:PrincipalAccount": s.nonMemberAccounts()}
	var out []policy.Statement
	if m.All {
		cond := policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {d.Hub.OrganizationID}}, "StringNotEquals": notMembers, "ArnLike": roleARN}
		return append(out, allow(sid+suffixOrg, awsPrincipal(policy.StringList{"*"}), UpstreamActions, res, cond))
	}
	if len(m.OUs) > 0 {
		paths := make(policy.StringList, len(m.OUs))
		for i, ou := range m.OUs {
			paths[i] = ou + "*"
		}
		slices.Sort(paths)
		cond := policy.Condition{"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": paths}, "StringNotEquals": notMembers, "ArnLike": roleARN}
		out = append(out, allow(sid+suffixOrgPaths, awsPrincipal(policy.StringList{"*"}), UpstreamActions, res, cond))
	}
	var listed []string
	for _, id := range m.Accounts {
		if s.PTCMember(id) {
			listed = append(listed, id)
		}
	}
	if len(listed) > 0 {
		// Narrowed to the PTC role like the enumerate mode's roots: a listed
		// member's root alone would let every role of it read and import.
		cond := policy.Condition{"ArnLike": roleARN}
		out = append(out, allow(sid+suffixAccounts, awsPrincipal(s.rootARNs(listed)), UpstreamActions, res, cond))
	}
	return out
}

// nonMemberAccounts are the accounts of the organization that are never members (the hub and
// the management account), sorted: the condition-mode grants to members exclude them.
func (s *State) nonMemberAccounts() policy.StringList {
	out := policy.StringList{s.decl.Hub.AccountID}
	if id := s.decl.Hub.ManagementAccountID; id != "" && id != s.decl.Hub.AccountID {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ptcStatements: the member registry statements that let the declared principals use each rule.
func (s *State) ptcStatements(account, region string) []policy.Statement {
	d := s.decl
	p := d.PullThroughCache
	var principals policy.StringList
	if p.StatementPrincipals.AccountRoot {
		principals = append(principals, policy.AccountRootARN(d.Hub.Partition, account))
	}
	for _, n := range p.StatementPrincipals.RoleNames {
		principals = append(principals, policy.RoleARN(d.Hub.Partition, account, n))
	}
	slices.Sort(principals)
	principals = slices.Compact(principals)
	actions := policy.StringList(PTCStatementActions)
	if p.TagResource {
		actions = append(slices.Clone(actions), "ecr:TagResource")
	}
	out := make([]policy.Statement, 0, len(p.Rules))
	for _, r := range p.Rules {
		prefix := r.Prefix
		if prefix == config.RootPrefix {
			prefix = ""
		}
		res := policy.StringList{policy.RegistryResourceARN(d.Hub.Partition, region, account, prefix)}
		out = append(out, allow(d.SidPrefix+"Ptc"+config.SidName(r.Prefix), awsPrincipal(principals), actions, res, nil))
	}
	return out
}

// Role is an IAM role ecr-warden keeps in a member: its trust policy and one inline permission
// policy.
type Role struct {
	Name string
	ARN  string
	// PolicyName is the name of the inline permission policy.
	PolicyName string
	Trust      *policy.Document
	Permission *policy.Document
	// PermissionsBoundary is the ARN of the managed policy the role is created with as its
	// permissions boundary (the member StackSet creates it; the execution role's IAM actions on the
	// role require it).
	PermissionsBoundary string
}

// PTCRole is the role ECR's pull-through cache assumes in a member for the fromHub rules (seed 003):
// trusted by pullthroughcache.ecr.amazonaws.com with aws:SourceAccount (unless the declaration turns
// it off) and optional aws:SourceArn conditions, allowed exactly the seed's action list on "*". ok is false when the member needs no
// role (it gets no PTC setup, or no rule caches from the hub).
func (s *State) PTCRole(account string) (role Role, ok bool) {
	d := s.decl
	if !s.PTCMember(account) || len(s.fromHubRules()) == 0 {
		return Role{}, false
	}
	p := d.PullThroughCache
	trust := policy.Statement{Sid: d.SidPrefix + "PtcTrust", Effect: "Allow",
		Principal: &policy.Principal{Service: policy.StringList{PTCServicePrincipal}}, Action: policy.StringList{"sts:AssumeRole"}}
	if p.Role.SourceAccount() || p.Role.SourceArnCondition {
		trust.Condition = policy.Condition{}
		if p.Role.SourceAccount() {
			trust.Condition["StringEquals"] = map[string]policy.StringList{"aws:SourceAccount": {account}}
		}
		if p.Role.SourceArnCondition {
			trust.Condition["ArnLike"] = map[string]policy.StringList{"aws:SourceArn": {"arn:" + d.Hub.Partition + ":ecr:*:" + account + ":*"}}
		}
	}
	perm := policy.Statement{Sid: d.SidPrefix + "PtcPermissions", Effect: "Allow", Action: PTCRoleActions, Resource: policy.StringList{"*"}}
	return Role{
		Name:                p.Role.Name,
		ARN:                 policy.RoleARN(d.Hub.Partition, account, p.Role.Name),
		PolicyName:          p.Role.Name,
		Trust:               &policy.Document{Version: policy.VersionCurrent, Statements: []policy.Statement{trust}},
		Permission:          &policy.Document{Version: policy.VersionCurrent, Statements: []policy.Statement{perm}},
		PermissionsBoundary: "arn:" + d.Hub.Partition + ":iam::" + account + ":policy/" + p.Role.BoundaryName(),
	}, true
}

// PTCRules are the pull-through-cache rules of a member registry, in declaration order. A fromHub
// rule caches from the hub registry in the same region when the hub has one there, else from the
// hub's first region, through the member's PTC role. CredentialARN is the secret's partial ARN
// (without the random suffix Secrets Manager appends, which only AWS knows); the engine replaces it
// by the full ARN (secretsmanager:DescribeSecret in the member) before planning.
func (s *State) PTCRules(account, region string) []plan.Rule {
	if !s.PTCMember(account) {
		return nil
	}
	d := s.decl
	out := make([]plan.Rule, 0, len(d.PullThroughCache.Rules))
	for _, r := range d.PullThroughCache.Rules {
		pr := plan.Rule{Prefix: r.Prefix, UpstreamRegistryURL: r.UpstreamRegistryURL, UpstreamRegistry: r.UpstreamRegistry,
			UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix}
		if r.FromHub {
			hubRegion := d.Hub.Regions[0]
			if slices.Contains(d.Hub.Regions, region) {
				hubRegion = region
			}
			if pr.UpstreamRegistryURL == "" {
				pr.UpstreamRegistryURL = d.HubRegistryURL(hubRegion)
			}
			pr.CustomRoleARN = policy.RoleARN(d.Hub.Partition, account, d.PullThroughCache.Role.Name)
		}
		if r.CredentialSecret != "" {
			pr.CredentialARN = "arn:" + d.Hub.Partition + ":secretsmanager:" + region + ":" + account + ":secret:" + r.CredentialSecret
		}
		out = append(out, pr)
	}
	return out
}

// RetiredPTCPrefixes are the rule prefixes to delete where they still exist.
func (s *State) RetiredPTCPrefixes() []string {
	if s.decl.PullThroughCache == nil {
		return nil
	}
	return s.decl.PullThroughCache.RetiredPrefixes
}

// PublicRepositoryStatements are ecr-warden's statements in an ECR Public repository's policy:
// push (or manage, or an ecr-public action set) for the listed accounts and roles, from every public
// grant that lives in the repository's account and matches its name. Pull is never granted or
// denied: anyone can pull a public repository.
func (s *State) PublicRepositoryStatements(repo PublicRepository) []policy.Statement {
	var out []policy.Statement
	for i := range s.publics {
		pi := &s.publics[i]
		if !matchesRepository(pi.g.Repositories, nil, repo.Name, nil) || !s.AppliesTo(pi.g.Registries, repo.Account) {
			continue
		}
		out = append(out, pi.statements...)
	}
	return out
}

// Render wraps statements in a new document of the kind's default version (2008-10-17 for ECR
// Public, 2012-10-17 otherwise), for golden files, dry runs and the demo. Reconciliation instead
// merges the statements into what AWS holds (plan.Document).
func Render(kind policy.DocumentKind, statements []policy.Statement) *policy.Document {
	return &policy.Document{Version: kind.DefaultVersion(), Statements: statements}
}

// RepositoryStatements is State.RepositoryStatements for a one-off query.
func RepositoryStatements(d *config.Declaration, repo Repository, accounts []Account) []policy.Statement {
	return New(d, accounts).RepositoryStatements(repo)
}

// RegistryStatements is State.RegistryStatements for a one-off query.
func RegistryStatements(d *config.Declaration, account, region string, accounts []Account) []policy.Statement {
	return New(d, accounts).RegistryStatements(account, region)
}

// PublicRepositoryStatements is State.PublicRepositoryStatements for a one-off query.
func PublicRepositoryStatements(d *config.Declaration, repo PublicRepository, accounts []Account) []policy.Statement {
	return New(d, accounts).PublicRepositoryStatements(repo)
}

// ManagedMember is State.ManagedMember without building a State.
func ManagedMember(d *config.Declaration, a Account) bool {
	return (&State{decl: d}).ManagedMember(a)
}
