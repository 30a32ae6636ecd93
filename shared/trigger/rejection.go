package trigger

import (
	"errors"
	"fmt"
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
	// Detail says what and where, e.g. `detail.requestParameters.repositoryName: missing`.
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
