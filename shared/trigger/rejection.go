package trigger

import (
	"errors"
	"fmt"
	"strings"
)

// Reason classifies why an input was rejected, so logs, audit records and
// metrics can group rejections without parsing messages.
type Reason string

// Rejection reasons. None of them is retryable: the same bytes will be
// rejected the same way on every delivery.
const (
	ReasonMalformed           Reason = "malformed"             // not JSON, or JSON of the wrong shape
	ReasonTooLarge            Reason = "too-large"             // larger than any real event
	ReasonUnknownSource       Reason = "unknown-source"        // an event source ecr-warden does not handle
	ReasonUnknownEvent        Reason = "unknown-event"         // a known source but an eventName/detail-type it does not handle
	ReasonFailedCall          Reason = "failed-call"           // the API call failed (detail.errorCode present)
	ReasonNotSucceeded        Reason = "not-succeeded"         // CreateAccountResult / Control Tower state other than SUCCEEDED
	ReasonMissingField        Reason = "missing-field"         // a field the event must carry is absent
	ReasonInvalidField        Reason = "invalid-field"         // a field is present but wrong (type, pattern, length)
	ReasonUnreadable          Reason = "unreadable"            // an unconfirmed shape in which nothing reliable was found
	ReasonRegionNotConfigured Reason = "region-not-configured" // the region is not declared
	ReasonPublicRegion        Reason = "ecr-public-region"     // ECR Public outside us-east-1
	ReasonOtherRegion         Reason = "other-region"          // a declared region other than the one the function serves
	ReasonInvalidPayload      Reason = "invalid-payload"       // a bad backfill payload
)

// maxRawKept bounds the raw event text carried for logging.
const maxRawKept = 16 << 10

// Rejection is the error for inputs that can never be acted upon. Callers log
// it, write a short audit record (Trigger holds whatever metadata could be
// read) and return success: retrying cannot help.
type Rejection struct {
	Reason Reason
	// Detail says what and where, e.g. `detail.requestParameters.repositoryName: missing`:
	// for an event, every problem found, "; "-separated (see problems).
	Detail string
	// Trigger is the metadata read before the rejection (may be partial).
	Trigger Trigger
	// Target is what was read of the event's target before the rejection
	// (may be partial: Kind, AccountID, Region, Repository as far as they
	// were read and valid), so whoever records the rejection files it under
	// the resource it concerns without decoding the event a second time.
	Target Target
	// Raw is the input (truncated to 16 KiB), kept for the log when its shape
	// was not understood.
	Raw string
}

// Error names the event, the reason and the detail.
func (r *Rejection) Error() string {
	id := r.Trigger.EventID
	if id == "" {
		id = "(no id)"
	}
	if r.Trigger.EventName != "" {
		return fmt.Sprintf("rejecting event %s (%s %s): %s: %s", id, r.Trigger.Source, r.Trigger.EventName, r.Reason, r.Detail)
	}
	return fmt.Sprintf("rejecting event %s: %s: %s", id, r.Reason, r.Detail)
}

// Retryable is always false; it exists so callers can classify errors by
// behaviour (interface{ Retryable() bool }) without importing this package.
func (r *Rejection) Retryable() bool { return false }

// AsRejection reports whether err is (or wraps) a *Rejection.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

func keepRaw(raw []byte) string {
	if len(raw) > maxRawKept {
		return string(raw[:maxRawKept]) + "...(truncated)"
	}
	return string(raw)
}

// maxProblemsNamed bounds the problems one rejection names one by one; the
// rest are counted. With each cut by Clip, the detail stays a few KiB
// however hostile the event, so the record of its rejection is stored.
const maxProblemsNamed = 10

// problems collects what is wrong with one event, in the order it is found,
// so that one rejection names every problem with its path instead of the
// first only. The first decides the rejection's Reason: the checks run in
// the order they always have, so an event with one problem is rejected as
// it always was.
type problems struct {
	reason Reason
	list   []string
	seen   map[string]bool
	// of is the target being read; read is what it held when the first
	// problem of the event's shape was found. A rejection is filed under
	// that: what an event names after such a problem (a repository given
	// twice, a forged envelope) is not trusted to say which resource it
	// concerns.
	of   *Target
	read Target
	bad  bool
}

// add records err, a *Rejection (nil is no problem), and reports whether it
// was a problem. The same problem found twice (event.account, checked on
// the envelope and again as the fallback of the detail's account; a key
// given three times) is named once.
func (ps *problems) add(err error) bool {
	if err == nil {
		return false
	}
	r, ok := AsRejection(err)
	if !ok {
		r = &Rejection{Reason: ReasonMalformed, Detail: err.Error()}
	}
	if len(ps.list) == 0 {
		ps.reason = r.Reason
	}
	if !ps.bad && (r.Reason == ReasonMalformed || r.Reason == ReasonMissingField || r.Reason == ReasonInvalidField) {
		ps.bad, ps.read = true, *ps.of
	}
	if !ps.seen[r.Detail] {
		if ps.seen == nil {
			ps.seen = map[string]bool{}
		}
		ps.seen[r.Detail] = true
		ps.list = append(ps.list, r.Detail)
	}
	return true
}

// has reports whether a problem of the field at path was found.
func (ps *problems) has(path string) bool {
	for _, d := range ps.list {
		if strings.HasPrefix(d, path+": ") {
			return true
		}
	}
	return false
}

// verdict is the answer of a parse: the target when nothing was found
// wrong, else the rejection naming every problem (the first
// maxProblemsNamed, each cut by Clip, then how many more), with the whole
// Trigger read and the target as read before the first problem of the
// event's shape.
func (ps *problems) verdict() (Target, error) {
	if len(ps.list) == 0 {
		return *ps.of, nil
	}
	t := *ps.of
	if ps.bad {
		t = ps.read
		t.Trigger = ps.of.Trigger
	}
	clipped := make([]string, len(ps.list))
	for i, d := range ps.list {
		clipped[i] = Clip(d)
	}
	return t, &Rejection{Reason: ps.reason, Detail: JoinProblems(clipped, maxProblemsNamed), Trigger: t.Trigger, Target: t}
}

// JoinProblems is list "; "-separated, the first max named and then how
// many more: one form for every rejection that names its input's problems
// (an event's here, a work unit's in the worker), so a hostile input with
// thousands of them still gets a record of bounded size.
func JoinProblems(list []string, max int) string {
	if len(list) > max {
		list = append(list[:max:max], fmt.Sprintf("and %d more problems", len(list)-max))
	}
	return strings.Join(list, "; ")
}
