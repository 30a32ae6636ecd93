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
	publicRegion        = policy.ECRPublicRegion
)

// eventTypes maps a CloudTrail detail-type to the detail.eventType of the
// records EventBridge delivers under it.
var eventTypes = map[string]string{
	DetailTypeAPICall:      "AwsApiCall",
	DetailTypeServiceEvent: "AwsServiceEvent",
}

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
// backfill payload ({"action":"backfill",...}). Every error is a *Rejection,
// naming every problem of the input it can tell apart (see parse).
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
//
// An event is checked whole: every problem whose check does not depend on a
// value found wrong is named in one rejection (problems), the envelope's
// and the detail's alike. The checks stop only where the next ones have
// nothing to work on: input that is not JSON or not an object, no
// detail-type or source to tell what the event is, a source or detail-type
// ecr-warden does not handle, a detail that is not an object, and, in the
// detail, an eventName, eventType or errorCode that cannot be read (they
// decide what the event is about and which fields name it).
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

	ps := &problems{of: &t}
	tr := &t.Trigger
	for _, f := range []struct {
		dst  *string
		name string
		max  int
	}{{&tr.EventID, "id", maxEventIDLen}, {&tr.DetailType, "detail-type", maxMetaLen}, {&tr.Source, "source", maxMetaLen}, {&tr.Time, "time", maxMetaLen},
		{&tr.EventAccount, "account", maxMetaLen}, {&tr.EventRegion, "region", maxMetaLen}} {
		s, err := root.get(f.name).metaString(f.max)
		ps.add(err)
		*f.dst = s
	}
	// Fields ecr-warden does not use still have the one type EventBridge
	// gives them: a wrong one is a problem of the event like any other.
	_, err = root.get("version").metaString(maxMetaLen)
	ps.add(err)
	for _, err := range root.get("resources").optStrings() {
		ps.add(err)
	}
	if tooDeep := ps.duplicateKeys(raw); tooDeep {
		return ps.verdict()
	}
	if tr.DetailType == "" && !ps.has("event.detail-type") {
		ps.add(&Rejection{Reason: ReasonMissingField, Detail: "event.detail-type: missing"})
	}
	if tr.Source == "" && !ps.has("event.source") {
		ps.add(&Rejection{Reason: ReasonMissingField, Detail: "event.source: missing"})
	}
	// The envelope's account and region reach audit records and logs even
	// when the detail takes precedence, so they are held to the same shape
	// as the detail's: EventBridge always sets both to real values.
	if tr.EventAccount != "" {
		ps.add(invalid(checkAccountID("event.account", tr.EventAccount)))
	}
	if tr.EventRegion != "" {
		ps.add(invalid(checkRegion("event.region", tr.EventRegion)))
	}
	if tr.DetailType == "" || tr.Source == "" {
		return ps.verdict()
	}
	detail := node{path: "detail", v: root.get("detail").v}

	if tr.DetailType == DetailTypeScheduled {
		if tr.Source != SourceEventBridge {
			ps.add(&Rejection{Reason: ReasonUnknownSource, Detail: fmt.Sprintf("a %s from source %s, want %q", quote(tr.DetailType), quote(tr.Source), SourceEventBridge)})
			return ps.verdict()
		}
		// The schedule's detail is always {}: anything but an object is not
		// EventBridge's, as for any other event's detail.
		_, err := detail.object()
		ps.add(err)
		t.Kind = KindBackfill
		t.Backfill = &BackfillRequest{Action: "backfill", Targets: BackfillTargets{All: true}, Sweep: true}
		return ps.verdict()
	}
	if _, known := eventSources[tr.Source]; !known {
		ps.add(&Rejection{Reason: ReasonUnknownSource, Detail: fmt.Sprintf("source %s is not one ecr-warden handles (aws.ecr, aws.ecr-public, aws.organizations, aws.controltower, aws.iam, aws.events)", quote(tr.Source))})
		return ps.verdict()
	}
	if tr.DetailType != DetailTypeAPICall && tr.DetailType != DetailTypeServiceEvent {
		ps.add(&Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("detail-type %s is not a CloudTrail event", quote(tr.DetailType))})
		return ps.verdict()
	}
	if ps.add(detail.requireObject()) {
		return ps.verdict()
	}
	return parseCloudTrail(&t, detail, ps)
}

// duplicateKeys refuses an event that gives a key twice in one object.
// encoding/json keeps the last value, while an EventBridge pattern or a
// reader of the log may see the first: a failed call followed by
// "errorCode": null would read as a success, a second repositoryName or
// account would pick the resource. AWS never sends a key twice, so every
// duplicate is a problem of the event, named with the paths Parse uses
// elsewhere (event.<field>, detail.<field>). It reports whether the input
// nests deeper than any event (config.TooDeep): such input is not walked
// further.
func (ps *problems) duplicateKeys(raw []byte) (tooDeep bool) {
	for _, p := range config.DuplicateKeys(raw) {
		tooDeep = tooDeep || p.Message == config.TooDeep
		path := p.Path
		if path != "detail" && !strings.HasPrefix(path, "detail.") && !strings.HasPrefix(path, "detail[") {
			path = "event." + path
		}
		if len(path) > 120 {
			path = strings.ToValidUTF8(path[:120], "") + "..."
		}
		ps.add(&Rejection{Reason: ReasonMalformed, Detail: path + ": " + p.Message})
	}
	return tooDeep
}

// cloudTrail is one CloudTrail record being read into a Target; ps collects
// its problems.
type cloudTrail struct {
	detail  node
	t       *Target
	ps      *problems
	service bool
}

func parseCloudTrail(t *Target, detail node, ps *problems) (Target, error) {
	c := &cloudTrail{detail: detail, t: t, ps: ps}
	tr := &t.Trigger
	for _, f := range []struct {
		dst  *string
		name string
	}{{&tr.CloudTrailEventID, "eventID"}, {&tr.EventSource, "eventSource"}, {&tr.EventName, "eventName"}, {&tr.EventTime, "eventTime"}} {
		s, err := detail.get(f.name).metaString(maxMetaLen)
		ps.add(err)
		*f.dst = s
	}
	tr.Actor = readActor(detail.get("userIdentity"), ps)
	// Kept only when it is a region name (recorded checks a bad one).
	if r, _ := detail.get("awsRegion").v.(string); checkRegion("", r) == nil {
		tr.AWSRegion = r
	}
	if tr.EventName == "" && !ps.has("detail.eventName") {
		ps.add(&Rejection{Reason: ReasonMissingField, Detail: "detail.eventName: missing"})
	}
	switch want := eventSources[tr.Source]; {
	case ps.has("detail.eventSource"):
	case tr.EventSource == "":
		ps.add(&Rejection{Reason: ReasonMissingField, Detail: fmt.Sprintf("detail.eventSource: missing (want %q for source %q)", want, tr.Source)})
	case tr.EventSource != want:
		ps.add(&Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("detail.eventSource: %s does not match source %q (want %q)", quote(tr.EventSource), tr.Source, want)})
	}
	// CloudTrail's own fields ecr-warden does not use still have the one
	// type CloudTrail gives them.
	_, err := detail.get("eventVersion").metaString(maxMetaLen)
	ps.add(err)
	ps.add(detail.get("readOnly").optBool())
	ps.add(detail.get("managementEvent").optBool())
	eventType, err := detail.get("eventType").metaString(maxMetaLen)
	typeRead := !ps.add(err)
	if want := eventTypes[tr.DetailType]; typeRead && eventType != "" && eventType != want {
		// EventBridge names the detail-type after the record's eventType:
		// one that says another is forged or corrupt, and which fields name
		// its target (an API call's or a service's) cannot be told.
		ps.add(invalid(fmt.Errorf("detail.eventType: %s is not the eventType of an %s event (want %q)", quote(eventType), quote(tr.DetailType), want)))
		typeRead = false
	}
	if typeRead {
		c.service = tr.DetailType == DetailTypeServiceEvent
		if c.service {
			tr.Service = tr.EventSource
		}
	}
	code, msg, codeRead := readOutcome(detail, ps)
	if tr.EventName == "" || !typeRead || !codeRead {
		// What the event is about, which fields name its target (an API
		// call's or a service's), or whether the call changed anything at
		// all is not known: its target is not read.
		c.recorded()
		return ps.verdict()
	}
	// A failed call changed nothing; say which error so the log explains it.
	// An event that is wrong besides is rejected for that, and the failure
	// is named after its problems: it is the first thing whoever reads the
	// record wants to know of the call.
	if code != "" {
		d := "the call failed with " + Clip(code)
		if msg != "" {
			d += ": " + Clip(msg)
		}
		if c.recorded(); len(ps.list) > 0 {
			ps.add(&Rejection{Reason: ReasonFailedCall, Detail: "detail.errorCode: " + d})
			return ps.verdict()
		}
		// Read what the call was about, as far as its fields allow, so the
		// rejection is filed under that resource; its problems are beside
		// the point.
		c.ps = &problems{of: t}
		c.read()
		read, _ := c.ps.verdict()
		return read, &Rejection{Reason: ReasonFailedCall, Detail: d}
	}
	c.read()
	c.recorded()
	return ps.verdict()
}

// recorded checks detail.awsRegion and detail.recipientAccountId, which
// CloudTrail writes in every record whatever the service, a region name and
// a 12-digit account id, and requestParameters and responseElements, an
// object or null in every record: one of another type or shape is a
// problem of the event even where no reader of its source uses it. It runs after the
// target is read, so a reader that names the same problem (region,
// account) names it where it always did, and problems keeps it once.
func (c *cloudTrail) recorded() {
	n := c.detail.get("awsRegion")
	if r, err := n.optString(); !c.ps.add(err) && r != "" {
		c.ps.add(invalid(checkRegion(n.path, r)))
	}
	n = c.detail.get("recipientAccountId")
	if a, err := n.optString(); !c.ps.add(err) && a != "" {
		c.ps.add(invalid(checkAccountID(n.path, a)))
	}
	// The request's parameters and the response's elements are JSON
	// objects, or null, in every record (the readers of the services that
	// look inside them name the same problem).
	for _, k := range []string{"requestParameters", "responseElements"} {
		_, err := c.detail.get(k).object()
		c.ps.add(err)
	}
}

// readOutcome reads whether the call failed: detail.errorCode (the error's
// name, "" for a success) and detail.errorMessage. CloudTrail sets both on a
// failed call only, and omits both on a success, so an errorCode that is
// present but null or empty, or an errorMessage without an errorCode, says
// neither: acting on such an event could take a failed call for a success
// (a refused CreateRepository would be waited for as a repository ECR is
// still creating, an existing one's policy written on a call that failed).
// ok is false when the outcome cannot be told; every problem is recorded.
func readOutcome(detail node, ps *problems) (code, msg string, ok bool) {
	codeNode, msgNode := detail.get("errorCode"), detail.get("errorMessage")
	code, err := codeNode.metaString(maxMetaLen)
	ok = !ps.add(err)
	msg, err = msgNode.optString() // free text, clipped where it is shown
	if ps.add(err) {
		ok = false
	}
	if !ok || code != "" {
		return code, msg, ok
	}
	const why = "CloudTrail sets errorCode to the error's name on a failed call and omits it on a success, so whether this call succeeded cannot be told"
	switch {
	case hasKey(detail, "errorCode"):
		given := "empty"
		if codeNode.v == nil {
			given = "null"
		}
		ps.add(invalid(fmt.Errorf("%s: is %s; %s", codeNode.path, given, why)))
		return "", msg, false
	case msg != "":
		ps.add(invalid(fmt.Errorf("%s: %s without a detail.errorCode; %s", msgNode.path, quote(msg), why)))
		return "", msg, false
	}
	return "", msg, true
}

// hasKey reports whether object n holds key, even with a null value.
func hasKey(n node, key string) bool {
	m, _ := n.v.(map[string]any)
	_, ok := m[key]
	return ok
}

// read reads the target of the event's source. The route table says which
// events ecr-warden reacts to (source, detail-type, event name): an event
// no route carries is unknown before any of its fields is read, so the
// parser cannot accept an event the CDK app never routes. The switches
// below only say how each routed event names its target.
func (c *cloudTrail) read() {
	if _, _, ok := RouteOf(c.t.Trigger); !ok {
		for _, dt := range []string{DetailTypeAPICall, DetailTypeServiceEvent} {
			other := c.t.Trigger
			other.DetailType = dt
			if _, _, ok := RouteOf(other); ok {
				c.ps.add(&Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("eventName %s from %s is one ecr-warden reacts to as an %q, not as an %q",
					quote(c.t.Trigger.EventName), c.t.Trigger.Source, dt, c.t.Trigger.DetailType)})
				return
			}
		}
		c.unknown()
		return
	}
	// A claimed read-only call is checked after the target is read, so
	// the rejection is filed under the resource the event names.
	defer c.readOnly()
	switch c.t.Trigger.Source {
	case SourceECR:
		c.ecr()
	case SourceECRPublic:
		c.ecrPublic()
	case SourceOrganizations:
		c.recipient()
		c.organizations()
		c.globalRegion("Organizations", policy.OrganizationsEventsRegion)
	case SourceControlTower:
		c.recipient()
		c.controlTower()
	case SourceIAM:
		c.iam()
	}
}

// readOnly refuses a routed event that calls itself read-only. Every event
// the route table carries reports a change (a write API call, or a service
// creating a repository or an account), and CloudTrail marks such a call
// readOnly false: readOnly says whether the operation changes no resource,
// a property of the API, not of one call. EventBridge, moreover, never
// matches a read-only management event delivered by CloudTrail against a
// rule in the ENABLED state, the state of every rule ecr-warden deploys
// (only ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS receives them). So a
// write event marked readOnly true was not delivered by AWS: it is forged or
// corrupt, and it is not what it claims to be. Refusing it loses no change
// AWS reported, and the reconcile is level-triggered: the sweep converges
// whatever such an event named from what AWS holds.
func (c *cloudTrail) readOnly() {
	if ro, _ := c.detail.get("readOnly").v.(bool); ro {
		c.ps.add(invalid(fmt.Errorf("detail.readOnly: is true, but %s %s is a write (CloudTrail marks it readOnly false, and EventBridge delivers no read-only CloudTrail event to ecr-warden's rules), so the event is not what it claims to be",
			c.t.Trigger.Source, quote(c.t.Trigger.EventName))))
	}
}

// recipient checks that an Organizations or Control Tower event's
// detail.recipientAccountId is its envelope's account. Such an event is
// about another account (the subject), so account is not asked of it; but
// CloudTrail delivers it only in the management account, to that account's
// own bus, and the management account's rule forwards it unchanged: both
// name the management account. One naming two accounts is forged or
// corrupt, and CheckOrigin, which judges the envelope's, could be passed by
// a record of another account's.
func (c *cloudTrail) recipient() {
	c.agreed(checkAccountID, "two accounts (CloudTrail delivers it in the account that logged it, which the envelope names)",
		[]node{c.detail.get("recipientAccountId"), {path: "event.account", v: nilIfEmpty(c.t.Trigger.EventAccount)}})
}

// unknown records that the event is not one ecr-warden reacts to; nothing
// further is read from it.
func (c *cloudTrail) unknown() {
	c.ps.add(&Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("eventName %s from %s is not one ecr-warden reacts to", quote(c.t.Trigger.EventName), c.t.Trigger.Source)})
}

// objects checks that each node is an object or absent, naming every one
// that is not, and reports whether all are: fields are read from them only
// then.
func (c *cloudTrail) objects(ns ...node) bool {
	ok := true
	for _, n := range ns {
		if _, err := n.object(); c.ps.add(err) {
			ok = false
		}
	}
	return ok
}

// region is detail.awsRegion, else the envelope region; "" when neither is
// a region (the problem is recorded).
//
// Both present must be the same region. A regional service's CloudTrail
// event reaches only the default bus of the region where the call was made
// (and is forwarded to the hub bus of that region), so its envelope region
// is its awsRegion. One naming two regions is forged or corrupt: converging
// either region's document could be the wrong one, and the function of the
// envelope's region, the one it was delivered to, would otherwise refuse it
// as another region's (other-region) instead of saying what is wrong with
// it. Only the ECR events read a region; the global services' events (IAM,
// Organizations, Control Tower) name no regional document and are not
// asked (TestGlobalEventsNameNoRegion).
func (c *cloudTrail) region() string {
	r, ok := c.agreed(checkRegion, "two regions (a CloudTrail event is delivered in the region of its call)",
		[]node{c.detail.get("awsRegion"), {path: "event.region", v: nilIfEmpty(c.t.Trigger.EventRegion)}})
	if ok && r == "" && !c.ps.has("event.region") { // an unreadable envelope region is named already
		c.ps.add(&Rejection{Reason: ReasonMissingField, Detail: "detail.awsRegion: missing (and no event.region)"})
	}
	return r
}

// account is the first of the given nodes that holds a value, else
// detail.recipientAccountId, else the envelope account: the account where the
// call happened (a member's events are forwarded to the hub bus unchanged).
// It is "" when none holds a valid one (the problem is recorded).
//
// Every present candidate must name the same account. An event whose fields
// disagree is forged, corrupt, or the caller's copy of a cross-account call
// (a principal of one account allowed ecr:SetRepositoryPolicy on another's
// repository: CloudTrail delivers a copy to each account, and the copy on
// the caller's bus names the caller in its envelope). Acting on either
// value could converge the wrong account's resource, and the owner's own
// copy, whose fields agree, converges the right one: it is rejected naming
// both fields.
func (c *cloudTrail) account(prefer ...node) string {
	cands := append(prefer, c.detail.get("recipientAccountId"), node{path: "event.account", v: nilIfEmpty(c.t.Trigger.EventAccount)})
	found, ok := c.agreed(checkAccountID, "two accounts (a caller's copy of a cross-account call is converged from the owner's copy)", cands)
	if ok && found == "" && !c.ps.has("event.account") { // an unreadable envelope account is named already
		c.ps.add(&Rejection{Reason: ReasonMissingField, Detail: "detail.recipientAccountId: missing (and no event.account)"})
	}
	return found
}

// agreed reads one value an event may give in several places (nodes, the
// preferred first): every present one is checked, and all must be the same,
// else the event names two (what) and cannot be right. It returns the value,
// "" when none is present, and whether no problem was found.
func (c *cloudTrail) agreed(check func(path, v string) error, what string, nodes []node) (string, bool) {
	var found, foundAt string
	ok, agree := true, true
	for _, n := range nodes {
		s, err := n.optString()
		if c.ps.add(err) {
			ok = false
			continue
		}
		if s == "" {
			continue
		}
		if c.ps.add(invalid(check(n.path, s))) {
			ok = false
			continue
		}
		if found == "" {
			found, foundAt = s, n.path
			continue
		}
		if s != found && agree {
			agree = false
			c.ps.add(invalid(fmt.Errorf("%s: %s disagrees with %s %s; the event names %s", n.path, quote(s), foundAt, quote(found), what)))
		}
	}
	if !ok || !agree {
		return "", false
	}
	return found, true
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *cloudTrail) ecr() {
	req, resp := c.detail.get("requestParameters"), c.detail.get("responseElements")
	if !c.objects(req, resp) {
		return
	}
	t := c.t
	region := c.region()
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
			repo := resp.get("repository")
			sedName, sedAcct := c.arnParts(sed.get("repositoryArn"), "ecr", region)
			name, acct := c.arnParts(repo.get("repositoryArn"), "ecr", region)
			if c.objects(sed) {
				t.Repository = c.repository(false, sed.get("repositoryName"), req.get("repositoryName"), repo.get("repositoryName"), sedName, name)
			}
			t.AccountID = c.account(sed.get("registryId"), req.get("registryId"), repo.get("registryId"), sedAcct, acct)
			return
		}
		repo := resp.get("repository")
		name, acct := c.arnParts(repo.get("repositoryArn"), "ecr", region)
		t.Repository = c.repository(false, req.get("repositoryName"), repo.get("repositoryName"), name)
		t.AccountID = c.account(repo.get("registryId"), req.get("registryId"), acct)
	case "SetRepositoryPolicy", "DeleteRepositoryPolicy":
		// The response names the repository and its registry again.
		t.Kind = KindRepository
		t.Repository = c.repository(false, req.get("repositoryName"), resp.get("repositoryName"))
		t.AccountID = c.account(req.get("registryId"), resp.get("registryId"))
	case "TagResource", "UntagResource":
		// Tags drive tag-based grants, so a tag change on a repository re-converges it.
		arnNode := req.get("resourceArn")
		arn, err := arnNode.requireString()
		if c.ps.add(err) {
			return
		}
		a, ok := splitRepositoryARN(arn, "ecr")
		if !ok {
			c.ps.add(invalid(fmt.Errorf("%s: %s is not an ECR repository ARN", arnNode.path, quote(arn))))
			return
		}
		// ECR's API is regional: the call names a repository of its own
		// region and partition. An ARN of another one is corrupt, and the
		// repository of that name in the event's region is not the one
		// whose tags changed. (An event whose region cannot be read has
		// nothing to compare the ARN's with.)
		if region != "" && a.region != region {
			c.ps.add(invalid(fmt.Errorf("%s: region %s disagrees with detail.awsRegion %q", arnNode.path, quote(a.region), region)))
		}
		if want := policy.RegionPartition(region); region != "" && a.partition != want {
			c.ps.add(invalid(fmt.Errorf("%s: partition %s is not the partition of region %q (%q)", arnNode.path, quote(a.partition), region, want)))
		}
		if !c.ps.add(invalid(checkRepository(arnNode.path, a.name, false))) {
			t.Kind, t.Repository = KindRepository, a.name
		}
		t.AccountID = c.account(node{path: arnNode.path + "(account)", v: a.account})
	case "PutRegistryPolicy", "DeleteRegistryPolicy":
		t.Kind = KindRegistryPolicy
		t.AccountID = c.account(resp.get("registryId"))
	case "PutAccountSetting":
		// Only the registry policy scope bears on a document ecr-warden keeps:
		// a registry switched back to V1 stops enforcing its pull/push grants.
		n := req.get("name")
		setting, err := n.requireString()
		if c.ps.add(err) {
			return
		}
		if other, err := resp.get("name").optString(); !c.ps.add(err) && other != "" && other != setting {
			c.ps.add(invalid(fmt.Errorf("%s: %s disagrees with %s %s; the event names two account settings", resp.get("name").path, quote(other), n.path, quote(setting))))
			return
		}
		if setting != RegistryPolicyScopeSetting {
			c.ps.add(&Rejection{Reason: ReasonUnknownEvent, Detail: fmt.Sprintf("%s: account setting %s does not bear on a document ecr-warden keeps (only %s does)", n.path, quote(setting), RegistryPolicyScopeSetting)})
			return
		}
		t.Kind = KindRegistryPolicy
		t.AccountID = c.account()
	case "DeletePullThroughCacheRule", "UpdatePullThroughCacheRule":
		// The response names the rule and its registry again.
		t.Kind = KindPTCRule
		prefix, ok := c.agreed(checkPrefix, "two pull-through-cache rules", []node{req.get("ecrRepositoryPrefix"), resp.get("ecrRepositoryPrefix")})
		if ok && prefix == "" {
			c.ps.add(&Rejection{Reason: ReasonMissingField, Detail: req.get("ecrRepositoryPrefix").path + ": missing"})
		}
		t.Prefix = prefix
		t.AccountID = c.account(req.get("registryId"), resp.get("registryId"))
	default:
		c.unknown()
	}
}

func (c *cloudTrail) ecrPublic() {
	req, resp := c.detail.get("requestParameters"), c.detail.get("responseElements")
	if !c.objects(req, resp) {
		return
	}
	switch c.t.Trigger.EventName {
	case "CreateRepository", "SetRepositoryPolicy", "DeleteRepositoryPolicy":
	default:
		c.unknown()
		return
	}
	t := c.t
	if region := c.region(); region != "" {
		t.Kind, t.Region = KindPublicRepository, region
		if region != publicRegion {
			// The repository it names is read too, for the rejection's record.
			c.ps.add(&Rejection{Reason: ReasonPublicRegion, Detail: fmt.Sprintf("detail.awsRegion: ECR Public lives in %s only, this event is from %q", publicRegion, region)})
		}
	}
	// CreateRepository answers with the repository; the policy calls name
	// it, and its registry, at the response's top level.
	repo := resp.get("repository")
	name, acct := c.arnParts(repo.get("repositoryArn"), "ecr-public", c.t.Trigger.AWSRegion)
	t.Repository = c.repository(true, req.get("repositoryName"), repo.get("repositoryName"), name, resp.get("repositoryName"))
	t.AccountID = c.account(repo.get("registryId"), req.get("registryId"), acct, resp.get("registryId"))
}

// arnParts reads n, a repository ARN an event may carry beside the
// repository's name and registry (responseElements.repository.repositoryArn,
// serviceEventDetails.repositoryArn), and returns its name and account as
// nodes for repository and account, which hold every place an event names
// them to agreeing: an ARN naming another repository or account than the
// event's other fields cannot be right. Its partition must be the call's
// region's and its region the call's (ECR's API is regional), or none for
// ECR Public (its ARNs carry no region). Absent gives absent nodes; every
// problem is recorded. region is the call's region ("" when unknown: then
// only the shape is checked).
func (c *cloudTrail) arnParts(n node, service, region string) (name, account node) {
	name, account = node{path: n.path + "(name)"}, node{path: n.path + "(account)"}
	arn, err := n.optString()
	if c.ps.add(err) || arn == "" {
		return name, account
	}
	a, ok := splitRepositoryARN(arn, service)
	if !ok {
		c.ps.add(invalid(fmt.Errorf("%s: %s is not an %s repository ARN", n.path, quote(arn), service)))
		return name, account
	}
	wantRegion := region
	if service == "ecr-public" {
		wantRegion = ""
	}
	if region != "" && a.region != wantRegion {
		c.ps.add(invalid(fmt.Errorf("%s: region %s, want %q (the call's region is %q)", n.path, quote(a.region), wantRegion, region)))
	}
	if want := policy.RegionPartition(region); region != "" && a.partition != want {
		c.ps.add(invalid(fmt.Errorf("%s: partition %s is not the partition of region %q (%q)", n.path, quote(a.partition), region, want)))
	}
	name.v, account.v = a.name, a.account
	return name, account
}

// repository reads the first present name among the nodes and validates it
// (as an ECR Public name when public); "" when there is none valid (the
// problem is recorded). Every present name is validated and must be the
// same: a request and a response naming different repositories cannot both
// be right, so the event is rejected rather than converging either one.
func (c *cloudTrail) repository(public bool, nodes ...node) string {
	check := func(path, v string) error { return checkRepository(path, v, public) }
	found, ok := c.agreed(check, "two repositories", nodes)
	if ok && found == "" {
		c.ps.add(&Rejection{Reason: ReasonMissingField, Detail: nodes[0].path + ": missing"})
	}
	return found
}

// iam reads an IAM event about one role: the events the route table
// carries (the PTC role's drift, a declared role created), and no other.
func (c *cloudTrail) iam() {
	req := c.detail.get("requestParameters")
	if c.ps.add(req.requireObject()) {
		return
	}
	t := c.t
	// CreateRole answers with the role (responseElements.role): its name
	// and ARN must name the role and account the request and the record
	// do, in the call's partition.
	role := c.detail.get("responseElements").get("role")
	arnName, arnAccount := c.roleARNParts(role.get("arn"))
	name, ok := c.agreed(checkRole, "two roles", []node{req.get("roleName"), role.get("roleName"), arnName})
	if ok && name == "" {
		c.ps.add(&Rejection{Reason: ReasonMissingField, Detail: req.get("roleName").path + ": missing"})
	}
	if name != "" {
		t.Kind, t.RoleName = KindRole, name
	}
	t.AccountID = c.account(arnAccount)
	c.globalRegion("IAM", policy.IAMEventsRegion)
}

// roleARNParts reads n, a role ARN (arn:<partition>:iam::<account>:role/
// <path/><name>), and returns its name and account as nodes for agreed and
// account; its partition must be the call's region's. Absent gives absent
// nodes; every problem is recorded.
func (c *cloudTrail) roleARNParts(n node) (name, account node) {
	name, account = node{path: n.path + "(name)"}, node{path: n.path + "(account)"}
	arn, err := n.optString()
	if c.ps.add(err) || arn == "" {
		return name, account
	}
	parts := strings.SplitN(arn, ":", 6)
	rest, isRole := "", false
	if len(parts) == 6 {
		rest, isRole = strings.CutPrefix(parts[5], "role/")
	}
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !isRole || strings.HasSuffix(rest, "/") || rest == "" {
		c.ps.add(invalid(fmt.Errorf("%s: %s is not an IAM role ARN", n.path, quote(arn))))
		return name, account
	}
	if r := c.t.Trigger.AWSRegion; r != "" && parts[1] != policy.RegionPartition(r) {
		c.ps.add(invalid(fmt.Errorf("%s: partition %s is not the partition of region %q (%q)", n.path, quote(parts[1]), r, policy.RegionPartition(r))))
	}
	name.v, account.v = rest[strings.LastIndex(rest, "/")+1:], parts[4]
	return name, account
}

// globalRegion checks detail.awsRegion of a global service's event (IAM,
// Organizations). Such a service is global, and CloudTrail logs its calls
// in one region of each partition only (in, policy's table: IAM's in
// us-east-1, cn-north-1 or us-gov-west-1; Organizations' in us-east-1,
// cn-northwest-1 or us-gov-west-1), where its EventBridge events are
// delivered too, and from where the members' and the management account's
// rules forward them: a call logged in any other region is not one AWS
// delivered to ecr-warden, and refusing it loses nothing the routing would
// carry. The envelope's region is not asked: a forward to another hub
// region carries the event, and what it does to the envelope is not the
// record's (TestGlobalEventsNameNoRegion). A missing or malformed awsRegion
// is named by recorded.
func (c *cloudTrail) globalRegion(service string, in func(partition string) string) {
	r := c.t.Trigger.AWSRegion // "" when absent or not a region
	if r == "" {
		return
	}
	p := policy.RegionPartition(r)
	if want := in(p); r != want {
		c.ps.add(invalid(fmt.Errorf("detail.awsRegion: %q; %s is global and CloudTrail logs its calls in %s only (partition %s), so this is not an event AWS delivered", r, service, want, p)))
	}
}

func (c *cloudTrail) organizations() {
	t := c.t
	switch t.Trigger.EventName {
	case "CreateAccountResult":
		sed := c.detail.get("serviceEventDetails")
		if c.ps.add(sed.requireObject()) {
			return
		}
		st := sed.get("createAccountStatus")
		if c.ps.add(st.requireObject()) {
			return
		}
		state, err := st.get("state").requireString()
		if c.ps.add(err) {
			return
		}
		if state != "SUCCEEDED" {
			reason, _ := st.get("failureReason").optString()
			d := fmt.Sprintf("%s: account creation state is %s", st.path+".state", Clip(state))
			if reason != "" {
				d += ", failureReason " + Clip(reason)
			}
			c.ps.add(&Rejection{Reason: ReasonNotSucceeded, Detail: d})
			return
		}
		acct, err := accountIDAt(st.get("accountId"))
		if err != nil {
			c.unresolved(err.Error())
			return
		}
		t.AccountID, t.Kind, t.Method = acct, KindAccount, "Created"
	case "AccountJoinedOrganization":
		c.membership(KindAccount, "joinedMethod")
	case "AccountDepartedOrganization":
		c.membership(KindAccountDeparted, "departedMethod")
	case "MoveAccount", "RemoveAccountFromOrganization", "CloseAccount":
		req := c.detail.get("requestParameters")
		if c.ps.add(req.requireObject()) {
			return
		}
		n := req.get("accountId")
		if acct, err := n.requireString(); !c.ps.add(err) && !c.ps.add(invalid(checkAccountID(n.path, acct))) {
			t.AccountID = acct
		}
		switch t.Trigger.EventName {
		case "RemoveAccountFromOrganization":
			t.Kind, t.Method = KindAccountDeparted, "Removed"
			return
		case "CloseAccount":
			// Closed accounts stay in the organization, PENDING_CLOSURE then
			// SUSPENDED for 90 days (then AccountDepartedOrganization,
			// departedMethod Cleaned): the account function verifies the
			// status like any departure's and removes the grants of an
			// account that is no longer active.
			t.Kind, t.Method = KindAccountDeparted, "Closed"
			return
		}
		t.Kind = KindAccountMoved
		for _, f := range []struct {
			dst  *string
			name string
		}{{&t.SourceParentID, "sourceParentId"}, {&t.ParentID, "destinationParentId"}} {
			n := req.get(f.name)
			if id, err := n.requireString(); !c.ps.add(err) && !c.ps.add(invalid(checkParent(n.path, id))) {
				*f.dst = id
			}
		}
	default:
		c.unknown()
	}
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
func (c *cloudTrail) membership(kind Kind, methodKey string) {
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
		c.unresolved(fmt.Sprintf("no account id found in detail.serviceEventDetails, requestParameters or responseElements (looked for %s)", strings.Join(accountKeys, ", ")))
		return
	}
	if len(found) > 1 {
		var parts []string
		for id, p := range found {
			parts = append(parts, p+"="+quote(id))
		}
		c.unresolved("conflicting account ids: " + strings.Join(sortStrings(parts), ", "))
		return
	}
	for id, p := range found {
		if err := checkAccountID(p, id); err != nil {
			c.unresolved(err.Error())
			return
		}
		c.t.AccountID = id
	}
	c.t.Kind, c.t.Method = kind, method
}

// unresolved turns a membership event whose subject account cannot be read
// into a KindOrganization target: rejecting it would lose the event for
// good (the same bytes never parse better), while a walk of the organization
// finds the account whatever the event's shape.
func (c *cloudTrail) unresolved(why string) {
	c.t.Kind, c.t.AccountID, c.t.Unresolved = KindOrganization, "", why
}

func (c *cloudTrail) controlTower() {
	var key string
	switch c.t.Trigger.EventName {
	case "CreateManagedAccount":
		key = "createManagedAccountStatus"
	case "UpdateManagedAccount":
		key = "updateManagedAccountStatus"
	default:
		c.unknown()
		return
	}
	sed := c.detail.get("serviceEventDetails")
	if c.ps.add(sed.requireObject()) {
		return
	}
	st := sed.get(key)
	if c.ps.add(st.requireObject()) {
		return
	}
	state, err := st.get("state").requireString()
	if c.ps.add(err) {
		return
	}
	if state != "SUCCEEDED" {
		msg, _ := st.get("message").optString()
		d := fmt.Sprintf("%s.state: Control Tower state is %s", st.path, Clip(state))
		if msg != "" {
			d += ": " + Clip(msg)
		}
		c.ps.add(&Rejection{Reason: ReasonNotSucceeded, Detail: d})
		return
	}
	acct := st.get("account")
	if err := acct.requireObject(); err != nil {
		c.unresolved(err.Error())
		return
	}
	id, err := accountIDAt(acct.get("accountId"))
	if err != nil {
		c.unresolved(err.Error())
		return
	}
	t := c.t
	t.AccountID = id
	ou := st.get("organizationalUnit")
	if !c.objects(ou) {
		return
	}
	on := ou.get("organizationalUnitId")
	if parent, err := on.optString(); !c.ps.add(err) && parent != "" && !c.ps.add(invalid(checkParent(on.path, parent))) {
		t.ParentID = parent
	}
	t.Kind, t.Method = KindAccount, state
}

// readActor reads userIdentity, naming every field that is not one Parse
// keeps; it may be absent (some service events).
func readActor(n node, ps *problems) Actor {
	var a Actor
	if ok, err := n.object(); ps.add(err) || !ok {
		return a
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
		ps.add(err)
		*f.dst = s
	}
	if a.UserName == "" && !ps.has(n.path+".userName") {
		// A fallback for the log only: a value that does not fit is left out.
		a.UserName, _ = n.get("sessionContext").get("sessionIssuer").get("userName").metaString(maxMetaLen)
	}
	return a
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

// accountIDAt reads n, a field that must hold a 12-digit account id.
func accountIDAt(n node) (string, error) {
	id, err := n.requireString()
	if err == nil {
		err = checkAccountID(n.path, id)
	}
	return id, err
}
