package trigger

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Kind says what a Target points at, and so which reconcile path handles it.
type Kind string

// The kinds of target. Each names the smallest scope that must be re-read and
// re-converged for the event that produced it.
const (
	// KindRepository is one private ECR repository (created, policy edited, tags changed).
	KindRepository Kind = "repository"
	// KindPublicRepository is one ECR Public repository (API in us-east-1 only).
	KindPublicRepository Kind = "public-repository"
	// KindAccount is an account that joined the organization, was created, or
	// was vended or updated by Control Tower: converge its member setup and the hub grants.
	KindAccount Kind = "account"
	// KindAccountMoved is an account moved between OUs: its OU-based grants follow.
	KindAccountMoved Kind = "account-moved"
	// KindAccountDeparted is an account that left or was removed: the hub stops granting it.
	KindAccountDeparted Kind = "account-departed"
	// KindRegistryPolicy is one account's registry policy in one region.
	KindRegistryPolicy Kind = "registry-policy"
	// KindPTCRule is one pull-through-cache rule (by prefix) in one account and region.
	KindPTCRule Kind = "ptc-rule"
	// KindRole is one IAM role (IAM is global: no region).
	KindRole Kind = "role"
	// KindBackfill is a manual backfill or the scheduled sweep; see Target.Backfill.
	KindBackfill Kind = "backfill"
	// KindOrganization is an Organizations or Control Tower membership event
	// whose subject account could not be read (AWS has not published the
	// JSON of every such event): the hub grants are converged from a walk of
	// the organization instead, and Unresolved says why.
	KindOrganization Kind = "organization"
)

// Target is where to look. Only the fields that matter for its Kind are set.
type Target struct {
	Kind Kind `json:"kind"`
	// AccountID is the account that owns the resource, or the subject account of
	// an organization event (not the management account that logged it).
	AccountID string `json:"accountId,omitempty"`
	// Region is the resource's region. Empty for organization-level kinds and
	// roles (they concern every declared region); "us-east-1" for ECR Public.
	Region string `json:"region,omitempty"`
	// Repository is the repository name (not ARN) for the repository kinds.
	Repository string `json:"repository,omitempty"`
	// RoleName is the IAM role name for KindRole.
	RoleName string `json:"roleName,omitempty"`
	// Prefix is the ECR repository prefix of a pull-through-cache rule (KindPTCRule).
	Prefix string `json:"prefix,omitempty"`
	// ParentID is the OU or root the account is in now, when the event says so
	// (MoveAccount destination, Control Tower organizational unit).
	ParentID string `json:"parentId,omitempty"`
	// SourceParentID is the OU or root a moved account came from (KindAccountMoved).
	SourceParentID string `json:"sourceParentId,omitempty"`
	// Method is how an account joined or left when the event says so
	// (Created, Invited, Left, Removed, Cleaned), or the Control Tower state.
	Method string `json:"method,omitempty"`
	// Unresolved says why the subject account of a KindOrganization event
	// could not be read (field paths and what was found).
	Unresolved string `json:"unresolved,omitempty"`
	// Backfill is the request for KindBackfill.
	Backfill *BackfillRequest `json:"backfill,omitempty"`
	// Trigger is the event metadata the audit trail records with every decision.
	Trigger Trigger `json:"trigger"`
}

// Trigger is what the audit trail needs to answer "why and on whose action".
// Times are kept exactly as the event gave them: Organizations and Control
// Tower use different human formats, and the audit only displays them.
type Trigger struct {
	EventID      string `json:"eventId,omitempty"`      // envelope id (EventBridge)
	DetailType   string `json:"detailType,omitempty"`   // envelope detail-type
	Source       string `json:"source,omitempty"`       // envelope source, e.g. aws.ecr
	Time         string `json:"time,omitempty"`         // envelope time, as given
	EventAccount string `json:"eventAccount,omitempty"` // envelope account (where the event was emitted)
	EventRegion  string `json:"eventRegion,omitempty"`  // envelope region

	CloudTrailEventID string `json:"cloudTrailEventId,omitempty"` // detail.eventID
	EventSource       string `json:"eventSource,omitempty"`       // detail.eventSource, e.g. ecr.amazonaws.com
	EventName         string `json:"eventName,omitempty"`         // detail.eventName
	EventTime         string `json:"eventTime,omitempty"`         // detail.eventTime, as given
	// AWSRegion is detail.awsRegion, the region of the call, when it is a
	// region name: for the global services' events (IAM, Organizations,
	// Control Tower), whose targets carry no region, the one place that
	// says which partition the event comes from (CheckRegion).
	AWSRegion string `json:"awsRegion,omitempty"`
	// Service is set for "AWS Service Event via CloudTrail": the service that
	// acted on its own (e.g. ecr.amazonaws.com for pull-through cache).
	Service string `json:"service,omitempty"`
	Actor   Actor  `json:"actor"`
}

// CheckRegion rejects a regional target whose region the declaration does not
// cover. Organization-level kinds, roles (IAM is global) and ECR Public (one
// API region, checked by Parse) are not regional and always pass; a backfill
// passes when every region it names is declared, and is rejected naming
// every one that is not.
func (t Target) CheckRegion(regions []string) error {
	switch t.Kind {
	case KindRepository, KindRegistryPolicy, KindPTCRule:
		if !slices.Contains(regions, t.Region) {
			return &Rejection{Reason: ReasonRegionNotConfigured, Trigger: t.Trigger, Target: t,
				Detail: fmt.Sprintf("region %q is not in the declaration's hub.regions %v", t.Region, regions)}
		}
	case KindBackfill:
		if t.Backfill == nil {
			return nil
		}
		if ps := t.Backfill.Targets.UndeclaredRegions(regions); len(ps) > 0 {
			return &Rejection{Reason: ReasonRegionNotConfigured, Trigger: t.Trigger, Detail: strings.Join(ps, "; ")}
		}
	default:
		if ps := t.Trigger.otherPartition(regions); len(ps) > 0 {
			return &Rejection{Reason: ReasonRegionNotConfigured, Trigger: t.Trigger, Target: t, Detail: strings.Join(ps, "; ")}
		}
	}
	return nil
}

// otherPartition names the event's regions (detail.awsRegion, the
// envelope's region) that lie in another partition than the declared hub
// regions'. A partition is isolated: no CloudTrail trail, EventBridge rule
// or bus reaches across one, so an event of a global service (a role, an
// account: a target without a region, which CheckRegion cannot judge by its
// region) from another partition was not delivered by AWS, and the role or
// account it names is not one of this partition's. Nothing is checked when
// no region is declared.
func (tr Trigger) otherPartition(regions []string) []string {
	if len(regions) == 0 {
		return nil
	}
	want := policy.RegionPartition(regions[0])
	var ps []string
	for _, r := range []struct{ path, region string }{{"detail.awsRegion", tr.AWSRegion}, {"event.region", tr.EventRegion}} {
		if r.region != "" && policy.RegionPartition(r.region) != want {
			ps = append(ps, fmt.Sprintf("%s: %q is a region of partition %q, and the declaration's hub.regions %v are in %q (no event crosses partitions)",
				r.path, r.region, policy.RegionPartition(r.region), regions, want))
		}
	}
	return ps
}

// CheckServedRegion rejects a regional target (repository, registry
// policy, PTC rule) of a region other than own, the region the function
// runs in. A regional CloudTrail event exists only on its own region's
// buses, so only that region's function is ever delivered it: one of
// another region came by a direct invoke or a misrouted forward, and
// belongs in that region's audit trail. (Its lease would be safe either
// way: lease.Regional takes every lease in the document's region's table.)
// Empty own (not known, as in unit tests) checks nothing. An ECR Public
// repository is us-east-1's document (its API and its events exist only
// there, and the members forward them only to us-east-1's hub bus): another
// region's function refuses it the same way, rather than record its
// convergence in that region's audit trail.
func (t Target) CheckServedRegion(own string) error {
	switch t.Kind {
	case KindRepository, KindRegistryPolicy, KindPTCRule, KindPublicRepository:
		if own != "" && t.Region != own {
			return &Rejection{Reason: ReasonOtherRegion, Trigger: t.Trigger, Target: t,
				Detail: fmt.Sprintf("region %q is served by that region's function; this one serves %q", t.Region, own)}
		}
	}
	return nil
}

// CheckOrigin rejects an Organizations or Control Tower event whose envelope
// account is not the organization's management account: those events are
// emitted only there, so one from any other account was put on the bus by a
// member (which may put events on the hub bus) and must not move grants.
func (t Target) CheckOrigin(managementAccount string) error {
	if d := originProblem(t.Trigger, managementAccount); d != "" {
		return &Rejection{Reason: ReasonInvalidField, Trigger: t.Trigger, Detail: d}
	}
	return nil
}

// originProblem is CheckOrigin's finding for tr, "" when there is none or
// when the envelope's account could not be read (the parse names that).
func originProblem(tr Trigger, managementAccount string) string {
	if tr.Source != SourceOrganizations && tr.Source != SourceControlTower {
		return ""
	}
	if tr.EventAccount == "" || tr.EventAccount == managementAccount {
		return ""
	}
	return fmt.Sprintf("account: a %s event from account %q; such events come only from the management account %s",
		tr.Source, tr.EventAccount, managementAccount)
}

// homeProblem is the finding on a Control Tower event whose record
// (detail.awsRegion) is of another region than home, the region Control
// Tower events are accepted from (config.Hub.ControlTowerRegion: the
// landing zone's home region, the only one Control Tower emits its
// lifecycle events in, and the only one the hub's rules carry them from);
// "" when there is none, when home is "", or when the record names no
// region (the parse names a bad one).
func homeProblem(tr Trigger, home string) string {
	if tr.Source != SourceControlTower || home == "" || tr.AWSRegion == "" || tr.AWSRegion == home {
		return ""
	}
	return fmt.Sprintf("detail.awsRegion: a %s event from %q; Control Tower emits its lifecycle events only in its home region %s (hub.controlTowerHomeRegion)",
		tr.Source, tr.AWSRegion, home)
}

// WithOrigin is CheckOrigin after a parse that answered t and err: when the
// parse already rejected the event, a forged origin is added to the problems
// it names instead of being left for a second look at an event whose other
// problems were fixed, so one rejection names every problem.
func WithOrigin(t Target, err error, managementAccount string) error {
	return WithOrigins(t, err, managementAccount, "")
}

// WithOrigins is WithOrigin that also refuses a Control Tower event whose
// record is of another region than controlTowerRegion (the region Control
// Tower events are accepted from; "" asks nothing): the hub's rules carry
// such events from that region only, so one from another reached the
// function some other way, and the account it names was not vended there.
func WithOrigins(t Target, err error, managementAccount, controlTowerRegion string) error {
	rej, ok := AsRejection(err)
	if !ok && err != nil {
		return err
	}
	tr := t.Trigger
	if ok {
		tr = rej.Trigger
	}
	var found []string
	for _, d := range []string{originProblem(tr, managementAccount), homeProblem(tr, controlTowerRegion)} {
		if d != "" && (!ok || !strings.Contains(rej.Detail, d)) {
			found = append(found, Clip(d))
		}
	}
	if len(found) == 0 {
		return err
	}
	if !ok {
		return &Rejection{Reason: ReasonInvalidField, Trigger: t.Trigger, Detail: strings.Join(found, "; ")}
	}
	merged := *rej
	merged.Detail = rej.Detail + "; " + strings.Join(found, "; ")
	return &merged
}

// String is a short human form for log lines, e.g. "repository 222222222222/us-east-1/team-a/app".
func (t Target) String() string {
	switch t.Kind {
	case KindRepository, KindPublicRepository:
		return fmt.Sprintf("%s %s/%s/%s", t.Kind, t.AccountID, t.Region, t.Repository)
	case KindRegistryPolicy:
		return fmt.Sprintf("%s %s/%s", t.Kind, t.AccountID, t.Region)
	case KindPTCRule:
		return fmt.Sprintf("%s %s/%s/%s", t.Kind, t.AccountID, t.Region, t.Prefix)
	case KindRole:
		return fmt.Sprintf("%s %s/%s", t.Kind, t.AccountID, t.RoleName)
	case KindAccountMoved:
		return fmt.Sprintf("%s %s %s->%s", t.Kind, t.AccountID, t.SourceParentID, t.ParentID)
	case KindBackfill:
		if t.Backfill != nil {
			return fmt.Sprintf("%s %s", t.Kind, t.Backfill.String())
		}
	}
	return fmt.Sprintf("%s %s", t.Kind, t.AccountID)
}

// EventType is "<detail-type>/<eventName>" for CloudTrail events (the form
// shared/audit records), the detail-type alone for other events, and
// "backfill" or "sweep" for runs.
func (t Target) EventType() string {
	if t.Kind == KindBackfill && t.Backfill != nil {
		if t.Backfill.Sweep {
			return "sweep"
		}
		return "backfill"
	}
	if t.Trigger.EventName != "" {
		return t.Trigger.DetailType + "/" + t.Trigger.EventName
	}
	return t.Trigger.DetailType
}
