// Package config is the declaration: the one JSON document in which a platform team says who may
// pull from or push to which ECR repositories, which pull-through-cache (PTC) rules member accounts
// get, and who may push to which ECR Public repositories. Everything ecr-warden writes is computed
// from it, so it is parsed strictly (unknown fields are errors, not silently ignored typos) and
// validated as a whole: Parse reports every problem at once, each with its field path, so one run
// fixes a declaration instead of one error per deploy.
//
// # Schema
//
// All field names are camelCase; unknown fields are rejected. Defaults are applied by ApplyDefaults
// (Parse and Load call it) and are listed in brackets.
//
//	{
//	  "hub": {                                   // the central registry
//	    "accountId": "111111111111",             // 12 digits, required
//	    "regions": ["us-east-1"],                // required, 1-5 regions AWS has in the partition, e.g. us-east-1, cn-north-1, us-gov-west-1
//	    "partition": "aws",                      // aws | aws-cn | aws-us-gov [aws]
//	    "organizationId": "o-a1b2c3d4e5",        // o-[a-z0-9]{10,32}, required
//	    "managementAccountId": "999999999999"    // required; never treated as a member
//	  },
//	  "memberRoleName": "ecr-warden-execution",  // role assumed in members [ecr-warden-execution]
//	  "sidPrefix": "EcrWarden",                  // marks owned statements; letter + alphanumerics, 4-32 [EcrWarden]
//	  "registryPolicyScope": {"allowSwitchToV2": false},
//	  "actionSets": {"scan": ["ecr:DescribeImages"]},   // named access levels: only ecr: (private) or only ecr-public: (public) actions
//	  "grants": [{
//	    "name": "org-pull-shared",               // unique, lowercase letters/digits separated by - _ .
//	    "repositories": ["shared/*"],            // ECR name patterns with * wildcards
//	    "repositoryTags": {"share": "org"},      // and/or tags the repository must carry (ANDed with names)
//	    "access": "pull",                        // pull | push | <actionSets key>
//	    "principals": {"organization": true, "ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"],
//	                   "accounts": ["222222222222"], "roles": ["arn:aws:iam::222222222222:role/ci"]},
//	    "placement": "registry",                 // registry | repository [registry]
//	    "principalMode": "condition",            // condition | enumerate [condition]
//	    "registries": {"hub": true, "allMembers": false, "ous": [], "accounts": []}  // [hub only]
//	  }],
//	  "pullThroughCache": {
//	    "members": {"all": true, "ous": [], "accounts": []},   // which members get PTC setup (required if rules)
//	    "role": {"name": "ecr-warden-ptc", "sourceAccountCondition": true, "sourceArnCondition": false},
//	    "rules": [
//	      {"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws"},
//	      {"prefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io",
//	       "credentialSecret": "ecr-pullthroughcache/docker-hub"},
//	      {"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}  // upstream prefix: fromHub rules only, 2-30 [ROOT]
//	    ],
//	    "statementPrincipals": {"accountRoot": true, "roleNames": []},  // [accountRoot if both empty]
//	    "tagResource": false,
//	    "retiredPrefixes": [],                   // owned rules to delete where they still exist
//	    "upstreamGrantMode": "enumerate"         // hub grant to PTC members: enumerate | condition [enumerate]
//	  },
//	  "publicRepositories": [{
//	    "name": "publish", "repositories": ["tools/*"], "access": "push",  // push | manage | <ecr-public actionSets key>
//	    "principals": {"accounts": ["111111111111"], "roles": []},
//	    "registries": {"hub": true}              // whose public repositories [hub only]
//	  }],
//	  "sweep": {"schedule": "rate(6 hours)"}     // rate(...) at most yearly | cron(...) as EventBridge takes them (one day field ?) [rate(6 hours)]
//	}
package config

import "github.com/ecr-warden/ecr-warden/shared/policy"

// Access levels a grant may name besides the keys of Declaration.ActionSets.
const (
	AccessPull = "pull"
	AccessPush = "push"
	// AccessManage is valid only for ECR Public repository grants: push plus describe and policy
	// management.
	AccessManage = "manage"
)

// Placements: where a grant's statements live.
const (
	// PlacementRegistry writes one statement per principal kind into the registry policy of each
	// registry the grant applies to, with repository ARNs (and tag conditions) as Resource.
	PlacementRegistry = "registry"
	// PlacementRepository writes the statements into the policy of each matching repository.
	PlacementRepository = "repository"
)

// Principal modes: how organization and OU principals are written.
const (
	// ModeCondition writes Principal "*" restricted by aws:PrincipalOrgID / aws:PrincipalOrgPaths;
	// the document stays small however large the organization grows.
	ModeCondition = "condition"
	// ModeEnumerate expands the organization/OUs into the account root ARNs found in the inventory.
	ModeEnumerate = "enumerate"
)

// RootPrefix is the PTC repository prefix that caches every upstream repository at the registry root
// (ECR's own word for it, which shared/policy checks event prefixes with).
const RootPrefix = policy.PTCRootPrefix

// Default values ApplyDefaults fills in; exported so documentation and tests can name them.
const (
	DefaultPartition      = "aws"
	DefaultSidPrefix      = "EcrWarden"
	DefaultMemberRoleName = "ecr-warden-execution"
	DefaultPTCRoleName    = "ecr-warden-ptc"
	DefaultSweepSchedule  = "rate(6 hours)"
)

// Declaration is the whole desired configuration of ecr-warden.
type Declaration struct {
	Hub                 Hub                 `json:"hub"`
	MemberRoleName      string              `json:"memberRoleName,omitempty"`
	SidPrefix           string              `json:"sidPrefix,omitempty"`
	RegistryPolicyScope RegistryPolicyScope `json:"registryPolicyScope"`
	// ActionSets names custom access levels so grants can say "access": "scan".
	ActionSets         map[string][]string `json:"actionSets,omitempty"`
	Grants             []Grant             `json:"grants,omitempty"`
	PullThroughCache   *PullThroughCache   `json:"pullThroughCache,omitempty"`
	PublicRepositories []PublicGrant       `json:"publicRepositories,omitempty"`
	Sweep              Sweep               `json:"sweep"`
	// Functions tunes the hub functions the CDK app deploys.
	Functions Functions `json:"functions"`
}

// Functions tunes the hub functions.
type Functions struct {
	// ReservedConcurrency caps how many instances of each function run at once in a hub region
	// (and reserves them): an event flood from one member cannot take the account's whole Lambda
	// concurrency, and the functions cannot starve each other. Defaults in
	// DefaultReservedConcurrency.
	ReservedConcurrency ReservedConcurrency `json:"reservedConcurrency"`
}

// ReservedConcurrency is one value per hub function, each 1..MaxReservedConcurrency (the worker at
// least 2: it is also the maximum concurrency of its SQS event source, whose minimum is 2), and
// all of them together at most MaxReservedConcurrency (all five live in each hub region's account).
type ReservedConcurrency struct {
	Repository *int `json:"repository,omitempty"`
	Account    *int `json:"account,omitempty"`
	Backfill   *int `json:"backfill,omitempty"`
	Worker     *int `json:"worker,omitempty"`
	Drift      *int `json:"drift,omitempty"`
}

// concurrencyField is one function's value in ReservedConcurrency.
type concurrencyField struct {
	fn    string
	value **int
}

// fields are the values of every function, by the function's name (the folder names under
// functions/, trigger.Functions, which config cannot import: its tests keep the two equal), in the
// declaration's field order. Of, ApplyDefaults and validation all read this one table.
func (r *ReservedConcurrency) fields() []concurrencyField {
	return []concurrencyField{{"repository", &r.Repository}, {"account", &r.Account}, {"backfill", &r.Backfill},
		{"worker", &r.Worker}, {"drift", &r.Drift}}
}

// Of returns the value for the function named fn (the folder names under functions/), 0 for an
// unknown name. After ApplyDefaults every known function has one.
func (r ReservedConcurrency) Of(fn string) int {
	for _, f := range r.fields() {
		if f.fn == fn && *f.value != nil {
			return **f.value
		}
	}
	return 0
}

// DefaultReservedConcurrency are the reserved concurrency defaults: repository events come in
// bursts (a pull-through cache creating repositories, an IaC apply), account events and hand edits
// are rare, the backfill is one manual or scheduled run at a time, and the worker's five match
// the work queue's poller (Organizations and IAM rate limits bound it anyway).
var DefaultReservedConcurrency = map[string]int{"repository": 10, "account": 5, "backfill": 2, "worker": 5, "drift": 5}

// MaxReservedConcurrency bounds each function's reserved concurrency: AWS keeps 100 of an
// account's (default 1,000) concurrent executions unreserved, and nothing here needs more.
const MaxReservedConcurrency = 900

// Hub identifies the central registry and the organization it serves.
type Hub struct {
	AccountID           string   `json:"accountId"`
	Regions             []string `json:"regions"`
	Partition           string   `json:"partition,omitempty"`
	OrganizationID      string   `json:"organizationId"`
	ManagementAccountID string   `json:"managementAccountId"`
	// ControlTowerHomeRegion is the Control Tower landing zone's home region, where its lifecycle
	// events are emitted; the hub accepts Control Tower events only from there (and the management
	// stack forwards them from there). Empty: the partition's Organizations events region, where
	// the management stack is (us-east-1 in aws), or no Control Tower.
	ControlTowerHomeRegion string `json:"controlTowerHomeRegion,omitempty"`
}

// ControlTowerRegion is the region Control Tower events are accepted from: the declared home
// region, else the region of the management stack that forwards them, the partition's
// Organizations events region (us-east-1 in aws).
func (h Hub) ControlTowerRegion() string {
	if h.ControlTowerHomeRegion != "" {
		return h.ControlTowerHomeRegion
	}
	return policy.OrganizationsEventsRegion(h.Partition)
}

// RegistryPolicyScope says whether ecr-warden may switch a registry to the V2 policy scope, which
// registry-placement pull/push grants need (V1 enforces only three actions).
type RegistryPolicyScope struct {
	AllowSwitchToV2 bool `json:"allowSwitchToV2"`
}

// Grant gives principals an access level on the repositories it selects.
type Grant struct {
	Name           string            `json:"name"`
	Repositories   []string          `json:"repositories,omitempty"`
	RepositoryTags map[string]string `json:"repositoryTags,omitempty"`
	Access         string            `json:"access"`
	Principals     Principals        `json:"principals"`
	Placement      string            `json:"placement,omitempty"`
	PrincipalMode  string            `json:"principalMode,omitempty"`
	Registries     Registries        `json:"registries"`
}

// Principals says who a grant is for. The kinds are ORed: each becomes its own statement so that
// the condition of one kind never restricts another.
type Principals struct {
	Organization bool     `json:"organization,omitempty"`
	OUs          []string `json:"ous,omitempty"`
	Accounts     []string `json:"accounts,omitempty"`
	Roles        []string `json:"roles,omitempty"`
}

// IsEmpty reports whether no principal kind is set.
func (p Principals) IsEmpty() bool {
	return !p.Organization && len(p.OUs) == 0 && len(p.Accounts) == 0 && len(p.Roles) == 0
}

// Registries selects the registries (accounts) a grant or public grant lives in.
// When nothing is selected ApplyDefaults selects the hub only.
type Registries struct {
	Hub        bool     `json:"hub,omitempty"`
	AllMembers bool     `json:"allMembers,omitempty"`
	OUs        []string `json:"ous,omitempty"`
	Accounts   []string `json:"accounts,omitempty"`
}

// IsEmpty reports whether no registry is selected.
func (r Registries) IsEmpty() bool {
	return !r.Hub && !r.AllMembers && len(r.OUs) == 0 && len(r.Accounts) == 0
}

// PullThroughCache declares the PTC setup of member accounts and the hub's upstream grant.
type PullThroughCache struct {
	Members             MemberSelector      `json:"members"`
	Role                PTCRole             `json:"role"`
	Rules               []PTCRule           `json:"rules"`
	StatementPrincipals StatementPrincipals `json:"statementPrincipals"`
	// TagResource adds ecr:TagResource to the PTC registry statement, needed when a repository
	// creation template tags the cache repositories.
	TagResource bool `json:"tagResource,omitempty"`
	// RetiredPrefixes are rule prefixes ecr-warden once created and must now delete.
	RetiredPrefixes []string `json:"retiredPrefixes,omitempty"`
	// UpstreamGrantMode is how the hub's ECR-to-ECR upstream grant names the PTC members:
	// "enumerate" (default) lists exactly their account roots, as in the AWS example, which fits
	// about 300 members in one registry policy; "condition" writes Principal "*" limited by
	// aws:PrincipalOrgID (members.all) or aws:PrincipalOrgPaths (members.ous), which stays small for
	// any number of members (listed members.accounts are still enumerated). Every statement of
	// either mode is narrowed by aws:PrincipalArn to the PTC role's name, so no other role of a
	// member reads or imports through it.
	UpstreamGrantMode string `json:"upstreamGrantMode,omitempty"`
}

// MemberSelector selects member accounts (the hub and the management account are never members).
type MemberSelector struct {
	All      bool     `json:"all,omitempty"`
	OUs      []string `json:"ous,omitempty"`
	Accounts []string `json:"accounts,omitempty"`
}

// IsEmpty reports whether no member is selected.
func (m MemberSelector) IsEmpty() bool { return !m.All && len(m.OUs) == 0 && len(m.Accounts) == 0 }

// PTCRole is the role ECR's pull-through cache assumes in a member for ECR-to-ECR rules.
type PTCRole struct {
	Name string `json:"name,omitempty"`
	// SourceAccountCondition adds aws:SourceAccount = the member to the trust policy [true]: AWS
	// recommends it against the confused deputy, but does not document whether the pull-through-cache
	// service sends the key, so every rule ecr-warden writes is validated
	// (ValidatePullThroughCacheRule) and a failure names this switch; false leaves the condition out.
	SourceAccountCondition *bool `json:"sourceAccountCondition,omitempty"`
	// SourceArnCondition adds aws:SourceArn like the member's ECR ARNs to the trust policy. Whether
	// the PTC service sends it is unconfirmed, hence optional.
	SourceArnCondition bool `json:"sourceArnCondition,omitempty"`
}

// SourceAccount reports whether the trust policy carries aws:SourceAccount (the default).
func (r PTCRole) SourceAccount() bool {
	return r.SourceAccountCondition == nil || *r.SourceAccountCondition
}

// BoundaryName is the managed policy the member StackSet creates as the PTC role's permissions
// boundary (<role name>-boundary): the member execution role may create and change the PTC role
// only with it, so the role can never be given more than the PTC role's permissions.
func (r PTCRole) BoundaryName() string { return r.Name + "-boundary" }

// SourceAccountSwitch is the declaration field that turns the aws:SourceAccount condition off,
// named in the audit record of a failed rule validation.
const SourceAccountSwitch = "pullThroughCache.role.sourceAccountCondition"

// PTCRule is one pull-through-cache rule created in every selected member and region.
type PTCRule struct {
	Prefix              string `json:"prefix"`
	UpstreamRegistryURL string `json:"upstreamRegistryUrl,omitempty"`
	// UpstreamRegistry is the ECR upstream kind (ecr-public, quay, k8s, docker-hub, ...); inferred
	// from the URL when omitted.
	UpstreamRegistry string `json:"upstreamRegistry,omitempty"`
	// CredentialSecret is the Secrets Manager secret name (ecr-pullthroughcache/...) in the member.
	CredentialSecret string `json:"credentialSecret,omitempty"`
	// FromHub makes this an ECR-to-ECR rule caching from the hub registry in the same region (or
	// the hub's first region when the hub is not in the member's region).
	FromHub                  bool   `json:"fromHub,omitempty"`
	UpstreamRepositoryPrefix string `json:"upstreamRepositoryPrefix,omitempty"`
}

// StatementPrincipals are the member principals given the PTC registry-policy statement.
type StatementPrincipals struct {
	AccountRoot bool     `json:"accountRoot,omitempty"`
	RoleNames   []string `json:"roleNames,omitempty"`
}

// PublicGrant lets accounts or roles push to (or manage) ECR Public repositories. Anyone can pull a
// public repository, so there is no pull access and no way to deny pulls.
type PublicGrant struct {
	Name         string           `json:"name"`
	Repositories []string         `json:"repositories"`
	Access       string           `json:"access"`
	Principals   PublicPrincipals `json:"principals"`
	Registries   Registries       `json:"registries"`
}

// PublicPrincipals are the principals of an ECR Public grant (no organization conditions).
type PublicPrincipals struct {
	Accounts []string `json:"accounts,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

// Sweep is the schedule of the full reconcile that catches missed events.
type Sweep struct {
	Schedule string `json:"schedule,omitempty"`
}

// ApplyDefaults fills every unset field that has a default, so the rest of the code never guesses.
func (d *Declaration) ApplyDefaults() {
	if d.Hub.Partition == "" {
		d.Hub.Partition = DefaultPartition
	}
	if d.SidPrefix == "" {
		d.SidPrefix = DefaultSidPrefix
	}
	if d.MemberRoleName == "" {
		d.MemberRoleName = DefaultMemberRoleName
	}
	if d.Sweep.Schedule == "" {
		d.Sweep.Schedule = DefaultSweepSchedule
	}
	rc := &d.Functions.ReservedConcurrency
	for _, f := range rc.fields() {
		if *f.value == nil {
			v := DefaultReservedConcurrency[f.fn]
			*f.value = &v
		}
	}
	for i := range d.Grants {
		g := &d.Grants[i]
		if g.Placement == "" {
			g.Placement = PlacementRegistry
		}
		if g.PrincipalMode == "" {
			g.PrincipalMode = ModeCondition
		}
		if g.Registries.IsEmpty() {
			g.Registries.Hub = true
		}
	}
	for i := range d.PublicRepositories {
		if d.PublicRepositories[i].Registries.IsEmpty() {
			d.PublicRepositories[i].Registries.Hub = true
		}
	}
	if p := d.PullThroughCache; p != nil {
		if p.Role.Name == "" {
			p.Role.Name = DefaultPTCRoleName
		}
		if p.Role.SourceAccountCondition == nil {
			on := true
			p.Role.SourceAccountCondition = &on
		}
		if p.UpstreamGrantMode == "" {
			p.UpstreamGrantMode = ModeEnumerate
		}
		if !p.StatementPrincipals.AccountRoot && len(p.StatementPrincipals.RoleNames) == 0 {
			p.StatementPrincipals.AccountRoot = true
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.FromHub && r.UpstreamRegistry == "" {
				r.UpstreamRegistry = "ecr"
			}
			if r.UpstreamRegistry == "" {
				r.UpstreamRegistry = UpstreamKindForURL(r.UpstreamRegistryURL)
			}
		}
	}
}

// IsActionSet reports whether access names a declared action set.
func (d *Declaration) IsActionSet(access string) bool {
	_, ok := d.ActionSets[access]
	return ok
}

// HasFromHubRules reports whether any PTC rule caches from the hub, which is what makes members
// need the PTC role and the hub need its upstream grant.
func (d *Declaration) HasFromHubRules() bool {
	if d.PullThroughCache == nil {
		return false
	}
	for _, r := range d.PullThroughCache.Rules {
		if r.FromHub {
			return true
		}
	}
	return false
}
