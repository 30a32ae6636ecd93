package trigger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// maxInput is far above EventBridge's 256 KiB event limit; anything larger is
// not a real event and is rejected before decoding.
const maxInput = 1 << 20

// Detail types and sources Parse understands.
const (
	DetailTypeAPICall      = "AWS API Call via CloudTrail"
	DetailTypeServiceEvent = "AWS Service Event via CloudTrail"
	DetailTypeScheduled    = "Scheduled Event"

	SourceECR           = "aws.ecr"
	SourceECRPublic     = "aws.ecr-public"
	SourceOrganizations = "aws.organizations"
	SourceControlTower  = "aws.controltower"
	SourceIAM           = "aws.iam"
	SourceEventBridge   = "aws.events"
	publicRegion        = "us-east-1"
)

// eventSources maps an envelope source to the CloudTrail eventSource it must carry.
var eventSources = map[string]string{
	SourceECR:           "ecr.amazonaws.com",
	SourceECRPublic:     "ecr-public.amazonaws.com",
	SourceOrganizations: "organizations.amazonaws.com",
	SourceControlTower:  "controltower.amazonaws.com",
	SourceIAM:           "iam.amazonaws.com",
}

// Parse decodes one input into a Target. It accepts an EventBridge event
// (CloudTrail API call or service event, or the sweep's Scheduled Event) or a
// backfill payload ({"action":"backfill",...}). Every error is a *Rejection.
//
// It takes raw bytes rather than a decoded events.EventBridgeEvent because
// malformed JSON and wrong types must become a clear rejection, not a
// runtime unmarshal error before the handler runs.
func Parse(raw []byte) (Target, error) {
	return parseIn(raw, nil)
}

// ParseIn is Parse judged against the declaration's hub regions: a backfill
// payload's targets.regions are checked in the same pass as its every other
// field (ParseBackfillIn), so one answer names every problem of the payload
// with its field path, and any other target as CheckRegion checks it.
func ParseIn(raw []byte, regions []string) (Target, error) {
	if regions == nil {
		regions = []string{}
	}
	t, err := parseIn(raw, regions)
	if err != nil {
		return Target{}, err
	}
	// The target is returned with a region rejection, as it was read.
	return t, t.CheckRegion(regions)
}

// parseIn is Parse, judging a backfill payload's regions against regions
// unless it is nil.
func parseIn(raw []byte, regions []string) (Target, error) {
	t, err := parse(raw, regions)
	if err != nil {
		r, ok := AsRejection(err)
		if !ok {
			r = &Rejection{Reason: ReasonMalformed, Detail: err.Error()}
		}
		if r.Trigger == (Trigger{}) {
			r.Trigger = t.Trigger
		}
		if r.Target.Kind == "" {
			r.Target = t
			r.Target.Trigger = r.Trigger
		}
		if r.Raw == "" && (r.Reason == ReasonUnreadable || r.Reason == ReasonMalformed) {
			r.Raw = keepRaw(raw)
		}
		return Target{}, r
	}
	return t, nil
}

// parse returns the partially filled Target (for its Trigger) with any
// error; regions, unless nil, are the declared ones a backfill payload's
// targets.regions must name.
func parse(raw []byte, regions []string) (Target, error) {
	var t Target
	if len(raw) > maxInput {
		return t, &Rejection{Reason: ReasonTooLarge, Detail: fmt.Sprintf("input is %d bytes; real events are at most 256 KiB", len(raw))}
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return t, &Rejection{Reason: ReasonMalformed, Detail: "not valid JSON: " + err.Error()}
	}
	root := node{path: "event", v: v}
	if _, ok := v.(map[string]any); !ok {
		return t, &Rejection{Reason: ReasonMalformed, Detail: fmt.Sprintf("event: is %s, want an object", typeName(v))}
	}
	if root.get("detail-type").absent() && (!root.get("action").absent() || root.get("source").absent() && backfillShaped(root)) {
		// A backfill payload (an invoke's), or one that forgot its action:
		// answered about the payload, not as an event without detail-type.
		req, err := parseBackfill(raw, regions)
		if err != nil {
			return t, err
		}
		t.Kind, t.Backfill = KindBackfill, &req
		return t, nil
	}

	tr := &t.Trigger
	for _, f := range []struct {
		dst  *string
		name string
		max  int
	}{{&tr.EventID, "id", maxEventIDLen}, {&tr.DetailType, "detail-type", maxMetaLen}, {&tr.Source, "source", maxMetaLen}, {&tr.Time, "time", maxMetaLen},
		{&tr.EventAccount, "account", maxMetaLen}, {&tr.EventRegion, "region", maxMetaLen}} {
		s, err := root.get(f.name).metaString(f.max)
		if err != nil {
			return t, err
		}
		*f.dst = s
	}
	if err := duplicateKeys(raw); err != nil {
		return t, err
	}
	if tr.DetailType == "" {
		return t, &Rejection{Reason: ReasonMissingField, Detail: "event.detail-type: missing"}
	}
	if tr.Source == "" {
		return t, &Rejection{Reason: ReasonMissingField, Detail: "event.source: missing"}
	}
	// The envelope's account and region reach audit records and logs even
	// when the detail takes precedence, so they are held to the same shape
	// as the detail's: EventBridge always sets both to real values.
	if tr.EventAccount != "" {
		if err := checkAccountID("event.account", tr.EventAccount); err != nil {
			return t, invalid(err)
		}
	}
	if tr.EventRegion != "" {
		if err := checkRegion("event.region", tr.EventRegion); err != nil {
			return t, invalid(err)
		}
	}
	detail := node{path: "detail", v: root.get("detail").v}

	if tr.DetailType == DetailTypeScheduled {
		if tr.Source != SourceEventBridge {
			return t, &Rejection{Reason: ReasonUnknownSource, Detail: fmt.Sprintf("a %s from source %s, want %q", quote(tr.DetailType), quote(tr.Source), SourceEventBridge)}
		}
		t.Kind = KindBackfill
		t.Backfill = &BackfillRequest{Action: "backfill", Targets: BackfillTargets{All: true}, Sweep: true}
		return t, nil
	}
	if _, known := eventSources[tr.Source]; !known {
		return t, &Rejection{Reason: ReasonUnknownSource, Detail: fmt.Sprintf("source %s is not one ecr-warden handles (aws.ecr, aws.ecr-public, aws.organizations, aws.controltower, aws.iam, aws.events)", quote(tr.Source))}
	}
	if tr.DetailType != DetailTypeAPICall && tr.DetailType != DetailTypeServiceEvent {
		return t, &Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("detail-type %s is not a CloudTrail event", quote(tr.DetailType))}
	}
	if err := detail.requireObject(); err != nil {
		return t, err
	}
	return parseCloudTrail(t, detail)
}

// maxDuplicatesNamed bounds the duplicate keys a rejection lists one by one.
const maxDuplicatesNamed = 10

// duplicateKeys refuses an event that gives a key twice in one object.
// encoding/json keeps the last value, while an EventBridge pattern or a
// reader of the log may see the first: a failed call followed by
// "errorCode": null would read as a success, a second repositoryName or
// account would pick the resource. AWS never sends a key twice, so the event
// is refused naming every duplicate (the first ten, and how many more), with
// the paths Parse uses elsewhere (event.<field>, detail.<field>).
func duplicateKeys(raw []byte) error {
	dups := config.DuplicateKeys(raw)
	if len(dups) == 0 {
		return nil
	}
	var parts []string
	for i, p := range dups {
		if i == maxDuplicatesNamed {
			parts = append(parts, fmt.Sprintf("and %d more duplicate keys", len(dups)-i))
			break
		}
		path := p.Path
		if path != "detail" && !strings.HasPrefix(path, "detail.") && !strings.HasPrefix(path, "detail[") {
			path = "event." + path
		}
		if len(path) > 120 {
			path = strings.ToValidUTF8(path[:120], "") + "..."
		}
		parts = append(parts, path+": "+p.Message)
	}
	return &Rejection{Reason: ReasonMalformed, Detail: strings.Join(parts, "; ")}
}

// cloudTrail is one CloudTrail record being read into a Target.
type cloudTrail struct {
	detail  node
	t       Target
	service bool
}

func parseCloudTrail(t Target, detail node) (Target, error) {
	c := &cloudTrail{detail: detail, t: t}
	tr := &c.t.Trigger
	var err error
	for _, f := range []struct {
		dst  *string
		name string
	}{{&tr.CloudTrailEventID, "eventID"}, {&tr.EventSource, "eventSource"}, {&tr.EventName, "eventName"}, {&tr.EventTime, "eventTime"}} {
		if *f.dst, err = detail.get(f.name).metaString(maxMetaLen); err != nil {
			return c.t, err
		}
	}
	if tr.Actor, err = readActor(detail.get("userIdentity")); err != nil {
		return c.t, err
	}
	if tr.EventName == "" {
		return c.t, &Rejection{Reason: ReasonMissingField, Detail: "detail.eventName: missing"}
	}
	if want := eventSources[tr.Source]; tr.EventSource != want {
		return c.t, &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("detail.eventSource: %s does not match source %q (want %q)", quote(tr.EventSource), tr.Source, want)}
	}
	eventType, err := detail.get("eventType").metaString(maxMetaLen)
	if err != nil {
		return c.t, err
	}
	c.service = tr.DetailType == DetailTypeServiceEvent || eventType == "AwsServiceEvent"
	if c.service {
		tr.Service = tr.EventSource
	}
	// A failed call changed nothing; say which error so the log explains it.
	code, err := detail.get("errorCode").metaString(maxMetaLen)
	if err != nil {
		return c.t, err
	}
	if code != "" {
		msg, _ := detail.get("errorMessage").optString()
		d := "the call failed with " + Clip(code)
		if msg != "" {
			d += ": " + Clip(msg)
		}
		// Read what the call was about, as far as its fields allow, so the
		// rejection is filed under that resource; errors are beside the point.
		_ = c.read()
		return c.t, &Rejection{Reason: ReasonFailedCall, Detail: d}
	}
	return c.t, c.read()
}

// read reads the target of the event's source.
func (c *cloudTrail) read() error {
	switch c.t.Trigger.Source {
	case SourceECR:
		return c.ecr()
	case SourceECRPublic:
		return c.ecrPublic()
	case SourceOrganizations:
		return c.organizations()
	case SourceControlTower:
		return c.controlTower()
	case SourceIAM:
		return c.iam()
	}
	return nil
}

func (c *cloudTrail) unknown() error {
	return &Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("eventName %s from %s is not one ecr-warden reacts to", quote(c.t.Trigger.EventName), c.t.Trigger.Source)}
}

// region is detail.awsRegion, else the envelope region.
func (c *cloudTrail) region() (string, error) {
	n := c.detail.get("awsRegion")
	r, err := n.optString()
	if err != nil {
		return "", err
	}
	if r == "" {
		n, r = node{path: "event.region"}, c.t.Trigger.EventRegion
	}
	if r == "" {
		return "", &Rejection{Reason: ReasonMissingField, Detail: "detail.awsRegion: missing (and no event.region)"}
	}
	if err := checkRegion(n.path, r); err != nil {
		return "", invalid(err)
	}
	return r, nil
}

// account is the first of the given nodes that holds a value, else
// detail.recipientAccountId, else the envelope account: the account where the
// call happened (a member's events are forwarded to the hub bus unchanged).
//
// Every present candidate must name the same account. An event whose fields
// disagree is forged, corrupt, or the caller's copy of a cross-account call
// (a principal of one account allowed ecr:SetRepositoryPolicy on another's
// repository: CloudTrail delivers a copy to each account, and the copy on
// the caller's bus names the caller in its envelope). Acting on either
// value could converge the wrong account's resource, and the owner's own
// copy, whose fields agree, converges the right one: it is rejected naming
// both fields.
func (c *cloudTrail) account(prefer ...node) (string, error) {
	cands := append(prefer, c.detail.get("recipientAccountId"), node{path: "event.account", v: nilIfEmpty(c.t.Trigger.EventAccount)})
	var found, foundAt string
	for _, n := range cands {
		s, err := n.optString()
		if err != nil {
			return "", err
		}
		if s == "" {
			continue
		}
		if err := checkAccountID(n.path, s); err != nil {
			return "", invalid(err)
		}
		if found == "" {
			found, foundAt = s, n.path
			continue
		}
		if s != found {
			return "", invalid(fmt.Errorf("%s: %s disagrees with %s %s; the event names two accounts (a caller's copy of a cross-account call is converged from the owner's copy)", n.path, quote(s), foundAt, quote(found)))
		}
	}
	if found == "" {
		return "", &Rejection{Reason: ReasonMissingField, Detail: "detail.recipientAccountId: missing (and no event.account)"}
	}
	return found, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *cloudTrail) ecr() error {
	req, resp := c.detail.get("requestParameters"), c.detail.get("responseElements")
	for _, n := range []node{req, resp} {
		if _, err := n.object(); err != nil {
			return err
		}
	}
	region, err := c.region()
	if err != nil {
		return err
	}
	t := &c.t
	t.Region = region
	switch name := t.Trigger.EventName; name {
	case "CreateRepository":
		t.Kind = KindRepository
		if c.service {
			// Created by ECR itself (pull-through cache, replication, create-on-push).
			// The name is documented in serviceEventDetails; requestParameters
			// and responseElements.repository are accepted too in case a
			// service logs it the API-call way (how create-on-push and
			// replication log it is not published): a name found nowhere
			// would leave the repository without its policy until the sweep.
			sed := c.detail.get("serviceEventDetails")
			if _, err := sed.object(); err != nil {
				return err
			}
			repo := resp.get("repository")
			if t.Repository, err = c.repository(false, sed.get("repositoryName"), req.get("repositoryName"), repo.get("repositoryName")); err != nil {
				return err
			}
			t.AccountID, err = c.account(sed.get("registryId"), req.get("registryId"), repo.get("registryId"))
			return err
		}
		if t.Repository, err = c.repository(false, req.get("repositoryName"), resp.get("repository").get("repositoryName")); err != nil {
			return err
		}
		t.AccountID, err = c.account(resp.get("repository").get("registryId"), req.get("registryId"))
		return err
	case "SetRepositoryPolicy", "DeleteRepositoryPolicy":
		t.Kind = KindRepository
		if t.Repository, err = c.repository(false, req.get("repositoryName")); err != nil {
			return err
		}
		t.AccountID, err = c.account(req.get("registryId"))
		return err
	case "TagResource", "UntagResource":
		// Tags drive tag-based grants, so a tag change on a repository re-converges it.
		arnNode := req.get("resourceArn")
		arn, err := arnNode.requireString()
		if err != nil {
			return err
		}
		a, ok := splitRepositoryARN(arn, "ecr")
		if !ok {
			return invalid(fmt.Errorf("%s: %s is not an ECR repository ARN", arnNode.path, quote(arn)))
		}
		// ECR's API is regional: the call names a repository of its own
		// region and partition. An ARN of another one is corrupt, and the
		// repository of that name in the event's region is not the one
		// whose tags changed.
		if a.region != region {
			return invalid(fmt.Errorf("%s: region %s disagrees with detail.awsRegion %q", arnNode.path, quote(a.region), region))
		}
		if want := policy.RegionPartition(region); a.partition != want {
			return invalid(fmt.Errorf("%s: partition %s is not the partition of region %q (%q)", arnNode.path, quote(a.partition), region, want))
		}
		acct, repo := a.account, a.name
		if err := checkRepository(arnNode.path, repo, false); err != nil {
			return invalid(err)
		}
		t.Kind, t.Repository = KindRepository, repo
		t.AccountID, err = c.account(node{path: arnNode.path + "(account)", v: acct})
		return err
	case "PutRegistryPolicy", "DeleteRegistryPolicy":
		t.Kind = KindRegistryPolicy
		t.AccountID, err = c.account(resp.get("registryId"))
		return err
	case "PutAccountSetting":
		// Only the registry policy scope bears on a document ecr-warden keeps:
		// a registry switched back to V1 stops enforcing its pull/push grants.
		n := req.get("name")
		setting, err := n.requireString()
		if err != nil {
			return err
		}
		if setting != RegistryPolicyScopeSetting {
			return &Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("%s: account setting %s does not bear on a document ecr-warden keeps (only %s does)", n.path, quote(setting), RegistryPolicyScopeSetting)}
		}
		t.Kind = KindRegistryPolicy
		t.AccountID, err = c.account()
		return err
	case "DeletePullThroughCacheRule", "UpdatePullThroughCacheRule":
		t.Kind = KindPTCRule
		n := req.get("ecrRepositoryPrefix")
		if t.Prefix, err = n.requireString(); err != nil {
			return err
		}
		if err := checkPrefix(n.path, t.Prefix); err != nil {
			return invalid(err)
		}
		t.AccountID, err = c.account(req.get("registryId"))
		return err
	}
	return c.unknown()
}

func (c *cloudTrail) ecrPublic() error {
	req, resp := c.detail.get("requestParameters"), c.detail.get("responseElements")
	for _, n := range []node{req, resp} {
		if _, err := n.object(); err != nil {
			return err
		}
	}
	switch c.t.Trigger.EventName {
	case "CreateRepository", "SetRepositoryPolicy", "DeleteRepositoryPolicy":
	default:
		return c.unknown()
	}
	region, err := c.region()
	if err != nil {
		return err
	}
	t := &c.t
	if region != publicRegion {
		// Read the repository it names, for the rejection's record.
		t.Kind, t.Region = KindPublicRepository, region
		t.Repository, _ = c.repository(true, req.get("repositoryName"), resp.get("repository").get("repositoryName"))
		t.AccountID, _ = c.account(resp.get("repository").get("registryId"), req.get("registryId"))
		return &Rejection{Reason: ReasonPublicRegion, Detail: fmt.Sprintf("detail.awsRegion: ECR Public lives in %s only, this event is from %q", publicRegion, region)}
	}
	t.Kind, t.Region = KindPublicRepository, publicRegion
	if t.Repository, err = c.repository(true, req.get("repositoryName"), resp.get("repository").get("repositoryName")); err != nil {
		return err
	}
	t.AccountID, err = c.account(resp.get("repository").get("registryId"), req.get("registryId"))
	return err
}

// repository reads the first present name among the nodes and validates it
// (as an ECR Public name when public). Every present name is validated and
// must be the same: a request and a response naming different repositories
// cannot both be right, so the event is rejected rather than converging
// either one.
func (c *cloudTrail) repository(public bool, nodes ...node) (string, error) {
	var found, foundAt string
	for _, n := range nodes {
		s, err := n.optString()
		if err != nil {
			return "", err
		}
		if s == "" {
			continue
		}
		if err := checkRepository(n.path, s, public); err != nil {
			return "", invalid(err)
		}
		if found == "" {
			found, foundAt = s, n.path
			continue
		}
		if s != found {
			return "", invalid(fmt.Errorf("%s: %s disagrees with %s %s; the event names two repositories", n.path, quote(s), foundAt, quote(found)))
		}
	}
	if found != "" {
		return found, nil
	}
	return "", &Rejection{Reason: ReasonMissingField, Detail: nodes[0].path + ": missing"}
}

// iam reads an IAM event about one role: the events the route table
// carries (the PTC role's drift, a declared role created), and no other.
func (c *cloudTrail) iam() error {
	if _, kind, ok := RouteOf(c.t.Trigger); !ok || kind != KindRole {
		return c.unknown()
	}
	req := c.detail.get("requestParameters")
	if err := req.requireObject(); err != nil {
		return err
	}
	n := req.get("roleName")
	name, err := n.requireString()
	if err != nil {
		return err
	}
	if err := checkRole(n.path, name); err != nil {
		return invalid(err)
	}
	t := &c.t
	t.Kind, t.RoleName = KindRole, name
	t.AccountID, err = c.account()
	return err
}

func (c *cloudTrail) organizations() error {
	t := &c.t
	switch t.Trigger.EventName {
	case "CreateAccountResult":
		sed := c.detail.get("serviceEventDetails")
		if err := sed.requireObject(); err != nil {
			return err
		}
		st := sed.get("createAccountStatus")
		if err := st.requireObject(); err != nil {
			return err
		}
		state, err := st.get("state").requireString()
		if err != nil {
			return err
		}
		if state != "SUCCEEDED" {
			reason, _ := st.get("failureReason").optString()
			d := fmt.Sprintf("%s: account creation state is %s", st.path+".state", Clip(state))
			if reason != "" {
				d += ", failureReason " + Clip(reason)
			}
			return &Rejection{Reason: ReasonNotSucceeded, Detail: d}
		}
		n := st.get("accountId")
		if t.AccountID, err = n.requireString(); err != nil {
			return c.unresolved(err.Error())
		}
		if err := checkAccountID(n.path, t.AccountID); err != nil {
			return c.unresolved(err.Error())
		}
		t.Kind, t.Method = KindAccount, "Created"
		return nil
	case "AccountJoinedOrganization":
		return c.membership(KindAccount, "joinedMethod")
	case "AccountDepartedOrganization":
		return c.membership(KindAccountDeparted, "departedMethod")
	case "MoveAccount", "RemoveAccountFromOrganization", "CloseAccount":
		req := c.detail.get("requestParameters")
		if err := req.requireObject(); err != nil {
			return err
		}
		n := req.get("accountId")
		acct, err := n.requireString()
		if err != nil {
			return err
		}
		if err := checkAccountID(n.path, acct); err != nil {
			return invalid(err)
		}
		t.AccountID = acct
		switch t.Trigger.EventName {
		case "RemoveAccountFromOrganization":
			t.Kind, t.Method = KindAccountDeparted, "Removed"
			return nil
		case "CloseAccount":
			// Closed accounts stay in the organization, PENDING_CLOSURE then
			// SUSPENDED for 90 days (then AccountDepartedOrganization,
			// departedMethod Cleaned): the account function verifies the
			// status like any departure's and removes the grants of an
			// account that is no longer active.
			t.Kind, t.Method = KindAccountDeparted, "Closed"
			return nil
		}
		t.Kind = KindAccountMoved
		for _, f := range []struct {
			dst  *string
			name string
		}{{&t.SourceParentID, "sourceParentId"}, {&t.ParentID, "destinationParentId"}} {
			n := req.get(f.name)
			if *f.dst, err = n.requireString(); err != nil {
				return err
			}
			if err := checkParent(n.path, *f.dst); err != nil {
				return invalid(err)
			}
		}
		return nil
	}
	return c.unknown()
}

// accountKeys are the names under which an unconfirmed Organizations shape may
// carry the subject account id.
var accountKeys = []string{"accountId", "AccountId", "accountID", "memberAccountId", "account"}

// methodPattern is the shape of a membership event's joinedMethod /
// departedMethod worth keeping.
var methodPattern = regexp.MustCompile(`^[A-Za-z]{1,32}$`)

// membership reads AccountJoinedOrganization / AccountDepartedOrganization,
// whose exact JSON AWS has not documented: the account id is looked for in
// serviceEventDetails, requestParameters and responseElements under several
// plausible names. Exactly one distinct valid id must be found; none, an
// invalid one, or two different ones reject the event with its raw text.
func (c *cloudTrail) membership(kind Kind, methodKey string) error {
	found := map[string]string{} // id -> path
	var method string
	for _, where := range []string{"serviceEventDetails", "requestParameters", "responseElements"} {
		box := c.detail.get(where)
		if ok, _ := box.object(); !ok {
			continue
		}
		for _, k := range accountKeys {
			n := box.get(k)
			if inner, ok := n.v.(map[string]any); ok { // {"account": {"accountId"|"id": ...}}
				for _, ik := range []string{"accountId", "id", "Id"} {
					if s, ok := inner[ik].(string); ok && s != "" {
						found[s] = n.path + "." + ik
					}
				}
				continue
			}
			if s, ok := n.v.(string); ok && s != "" {
				found[s] = n.path
			}
		}
		if m, _ := box.get(methodKey).v.(string); method == "" && methodPattern.MatchString(m) {
			method = m // informational (Created, Invited, Left, Removed, Cleaned): anything else is dropped
		}
	}
	if len(found) == 0 {
		return c.unresolved(fmt.Sprintf("no account id found in detail.serviceEventDetails, requestParameters or responseElements (looked for %s)", strings.Join(accountKeys, ", ")))
	}
	if len(found) > 1 {
		var parts []string
		for id, p := range found {
			parts = append(parts, p+"="+quote(id))
		}
		return c.unresolved("conflicting account ids: " + strings.Join(sortStrings(parts), ", "))
	}
	for id, p := range found {
		if err := checkAccountID(p, id); err != nil {
			return c.unresolved(err.Error())
		}
		c.t.AccountID = id
	}
	c.t.Kind, c.t.Method = kind, method
	return nil
}

// unresolved turns a membership event whose subject account cannot be read
// into a KindOrganization target: rejecting it would lose the event for
// good (the same bytes never parse better), while a walk of the organization
// finds the account whatever the event's shape.
func (c *cloudTrail) unresolved(why string) error {
	c.t.Kind, c.t.AccountID, c.t.Unresolved = KindOrganization, "", why
	return nil
}

func (c *cloudTrail) controlTower() error {
	var key string
	switch c.t.Trigger.EventName {
	case "CreateManagedAccount":
		key = "createManagedAccountStatus"
	case "UpdateManagedAccount":
		key = "updateManagedAccountStatus"
	default:
		return c.unknown()
	}
	sed := c.detail.get("serviceEventDetails")
	if err := sed.requireObject(); err != nil {
		return err
	}
	st := sed.get(key)
	if err := st.requireObject(); err != nil {
		return err
	}
	state, err := st.get("state").requireString()
	if err != nil {
		return err
	}
	if state != "SUCCEEDED" {
		msg, _ := st.get("message").optString()
		d := fmt.Sprintf("%s.state: Control Tower state is %s", st.path, Clip(state))
		if msg != "" {
			d += ": " + Clip(msg)
		}
		return &Rejection{Reason: ReasonNotSucceeded, Detail: d}
	}
	acct := st.get("account")
	if err := acct.requireObject(); err != nil {
		return c.unresolved(err.Error())
	}
	n := acct.get("accountId")
	t := &c.t
	if t.AccountID, err = n.requireString(); err != nil {
		return c.unresolved(err.Error())
	}
	if err := checkAccountID(n.path, t.AccountID); err != nil {
		return c.unresolved(err.Error())
	}
	ou := st.get("organizationalUnit")
	if _, err := ou.object(); err != nil {
		return err
	}
	on := ou.get("organizationalUnitId")
	if t.ParentID, err = on.optString(); err != nil {
		return err
	}
	if t.ParentID != "" {
		if err := checkParent(on.path, t.ParentID); err != nil {
			return invalid(err)
		}
	}
	t.Kind, t.Method = KindAccount, state
	return nil
}

// readActor reads userIdentity; it may be absent (some service events).
func readActor(n node) (Actor, error) {
	var a Actor
	if ok, err := n.object(); err != nil || !ok {
		return a, err
	}
	for _, f := range []struct {
		dst *string
		n   node
	}{
		{&a.Type, n.get("type")}, {&a.ARN, n.get("arn")}, {&a.PrincipalID, n.get("principalId")},
		{&a.AccountID, n.get("accountId")}, {&a.InvokedBy, n.get("invokedBy")}, {&a.UserName, n.get("userName")},
		{&a.SessionIssuerARN, n.get("sessionContext").get("sessionIssuer").get("arn")},
	} {
		s, err := f.n.metaString(maxMetaLen)
		if err != nil {
			return a, err
		}
		*f.dst = s
	}
	if a.UserName == "" {
		// A fallback for the log only: a value that does not fit is left out.
		a.UserName, _ = n.get("sessionContext").get("sessionIssuer").get("userName").metaString(maxMetaLen)
	}
	return a, nil
}

// repositoryARN is arn:<partition>:<service>:<region>:<account>:repository/<name>, split.
type repositoryARN struct {
	partition, region, account, name string
}

// splitRepositoryARN splits arn:<p>:<service>:<region>:<account>:repository/<name>.
func splitRepositoryARN(arn, service string) (repositoryARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != service {
		return repositoryARN{}, false
	}
	name, ok := strings.CutPrefix(parts[5], "repository/")
	return repositoryARN{partition: parts[1], region: parts[3], account: parts[4], name: name}, ok && name != ""
}

// backfillShaped reports whether an object carries a backfill payload's
// fields (and so is meant as one even without its action).
func backfillShaped(root node) bool {
	for _, k := range requestKeys {
		if k != "action" && !root.get(k).absent() {
			return true
		}
	}
	return false
}
