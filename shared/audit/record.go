// Package audit is ecr-warden's write-ahead audit trail: before any AWS write
// a "pending" record (intent, trigger, actor, target, before/after documents,
// diff) is stored in DynamoDB, and after the write the same item is updated to
// "applied" or "failed" ("refused" when AWS refused the document). Decisions that write nothing (planned, noop, rejected,
// refused) are recorded too. Every decision is also one slog JSON line carrying
// the same fields, so CloudWatch Logs and the table tell the same story.
//
// The table answers the two questions auditors ask: what happened to this
// resource (partition key = target ARN, or the by-name index for a bare
// repository name) and what happened in this time window (the by-day index).
// A sparse by-pending index finds writes that crashed between intent and
// outcome.
package audit

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Decision is what ecr-warden decided (and, for writes, what came of it).
type Decision string

// The decisions a record can carry. Pending, Applied, Failed and Unknown
// belong to writes (Trail.Begin and its Pending), and so does Refused when
// AWS refused the write; the others are recorded with Trail.Record and never
// accompany an AWS write.
const (
	// Planned: a dry run computed this change and did not write it.
	DecisionPlanned Decision = "planned"
	// Pending: the intent is stored and the AWS write is about to happen. A
	// record that stays pending means the process died mid-write.
	DecisionPending Decision = "pending"
	// Applied: the AWS write succeeded.
	DecisionApplied Decision = "applied"
	// Failed: the AWS write was attempted and returned an error, and AWS
	// does not hold what it writes; or, with Op OpRead, the document could
	// not be read or planned (the unit or event converged its other
	// documents and fails, to be retried).
	DecisionFailed Decision = "failed"
	// Unknown: the AWS write got no definite answer (its context ended,
	// the connection failed, or AWS answered a server fault after the SDK's
	// retries) and reading the document again could not tell whether it
	// landed; Error says why. The record stays in the by-pending index, so
	// `audit -stale` lists it and the sweep settles it from what AWS holds.
	DecisionUnknown Decision = "unknown"
	// Noop: AWS already matches the declaration; nothing to write.
	DecisionNoop Decision = "noop"
	// Rejected: the trigger was malformed, failed, foreign or out of scope.
	DecisionRejected Decision = "rejected"
	// Refused: the document is left out and AWS holds what it held. Either
	// a guardrail (size, wildcard principal, scope) stopped the write before
	// any call (recorded with Record), or AWS refused the document the write
	// carried, for a limit or its content (awsapi.DocumentRefused): then it
	// is the outcome of the write's pending record, Error starts with
	// "aws-refused:" and holds AWS's answer. Either way the rest of the unit
	// or event converges, and nothing is retried until the next sweep.
	DecisionRefused Decision = "refused"
	// Summary: what one backfill or sweep unit (an account in a region)
	// examined and what became of it. A unit records per document only the
	// decisions that plan, write, refuse or fail; its unchanged documents are
	// counted here instead of one noop record each.
	DecisionSummary Decision = "summary"
	// Diverged: a writer found AWS not holding what the document's last
	// applied record wrote (a hand edit, or a write that landed after its
	// lease lapsed); Before is what was recorded, After what AWS holds. The
	// writer then plans the document's full desired state.
	DecisionDiverged Decision = "diverged"
	// ForeignUnsafe: a statement ecr-warden does not own, kept byte for byte,
	// that the guard cannot vouch for (Error names its Sid and why). It is
	// reported, never co-signed as safe, and never blocks a write that only
	// removes or narrows owned statements. In the PTC role's trust policy,
	// which ecr-warden owns whole, such a statement is removed instead, and
	// the record says "removed" with the statement's text.
	DecisionForeignUnsafe Decision = "foreign-unsafe"
	// PrincipalMissing: an IAM principal a grant names does not exist (AWS
	// would refuse the whole document), so it was left out of the document
	// and the rest written; the record names the grant and the principal.
	DecisionPrincipalMissing Decision = "principal-missing"
	// OrganizationWalk: an organization event named no account ecr-warden
	// could read, so the hub's grants were converged from a walk of the
	// organization; the record says why.
	DecisionOrganizationWalk Decision = "organization-walk"
	// PTCValidated: a pull-through-cache rule ecr-warden just created or
	// updated passed AWS's ValidatePullThroughCacheRule.
	DecisionPTCValidated Decision = "ptc-validated"
	// PTCValidationFailed: such a rule failed the validation (or the
	// validation could not be made); Error carries AWS's failure text and,
	// for a rule that caches through the PTC role, the declaration switch
	// that turns the role trust's aws:SourceAccount condition off. The unit
	// counts it as failed: the rule exists but pulls through it may not work.
	DecisionPTCValidationFailed Decision = "ptc-validation-failed"
)

// Decisions lists every decision a record can carry, in the order the
// audit command reports counts: `make audit ARGS="-decision ..."` accepts
// exactly these (the runbook filters on ptc-validation-failed,
// principal-missing and the others too). A new decision is added here.
var Decisions = []Decision{DecisionPlanned, DecisionPending, DecisionApplied, DecisionFailed, DecisionUnknown,
	DecisionNoop, DecisionRejected, DecisionRefused, DecisionSummary, DecisionDiverged, DecisionForeignUnsafe,
	DecisionPrincipalMissing, DecisionOrganizationWalk, DecisionPTCValidated, DecisionPTCValidationFailed}

// short reports whether records of this decision are kept small (no
// documents) and expire: they say "nothing happened" and are numerous.
// Summaries are numerous too (one per unit and run) and expire likewise.
func (d Decision) short() bool {
	return d == DecisionNoop || d == DecisionRejected || d == DecisionSummary
}

// open reports whether a write's record of this decision still waits for
// what AWS holds (pending, unknown): such records carry the sparse
// by-pending index's attribute, which Stale queries.
func (d Decision) open() bool {
	return d == DecisionPending || d == DecisionUnknown
}

// Trigger says which event (or manual run) led to the decision.
type Trigger struct {
	// EventID is the EventBridge event id (or the backfill/sweep run id).
	EventID string `json:"eventId,omitempty"`
	// EventType is "<detail-type>/<eventName>" for events, or "backfill",
	// "sweep", "drift" for runs that are not a single event.
	EventType string `json:"eventType,omitempty"`
	// Source is the event source, e.g. "aws.ecr" or "aws.organizations".
	Source string `json:"source,omitempty"`
}

// Actor is who caused the trigger. Its JSON names match CloudTrail's
// userIdentity, so a decoder can unmarshal userIdentity straight into it.
// For a manual invoke the caller sets Type "invoker" and ARN to the caller's
// identity when it is known.
type Actor struct {
	ARN         string `json:"arn,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	Type        string `json:"type,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	// InvokedBy is set by CloudTrail when a service acted (e.g.
	// "ecr.amazonaws.com" for pull-through-cache repository creation).
	InvokedBy string `json:"invokedBy,omitempty"`
}

// String is the actor in one short token for tables: the ARN when known,
// else the service that acted, else the identity type.
func (a Actor) String() string {
	switch {
	case a.ARN != "":
		return a.ARN
	case a.InvokedBy != "":
		return a.InvokedBy
	case a.Type != "":
		return a.Type
	}
	return "-"
}

// Target is the document a decision is about.
type Target struct {
	// ARN identifies the resource (repository ARN, registry ARN, role ARN).
	// It is the table's partition key: one resource, one history.
	ARN       string `json:"arn,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	Region    string `json:"region,omitempty"`
	// Kind is the document kind, e.g. "ECRRepositoryPolicy",
	// "ECRRegistryPolicy", "IAMRole", "PullThroughCacheRule".
	Kind string `json:"kind,omitempty"`
	// Name is the short name users type to `make audit RESOURCE=<name>`:
	// the repository name for repositories, the role name for roles. It feeds
	// the sparse by-name index; leave it empty when nothing short fits.
	Name string `json:"name,omitempty"`
}

// Record is one audit entry. The same fields are stored in DynamoDB and
// logged as the "audit" group of one slog line.
type Record struct {
	// ID is unique and sortable by creation time (ULID-like); Trail fills it.
	ID string `json:"id"`
	// Time is when the decision was taken; Trail fills it when zero.
	Time time.Time `json:"time"`
	// DecidedAt is when a pending write got its outcome (applied/failed).
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	Decision  Decision  `json:"decision"`
	// Op is the intended change: "create", "update", "delete-owned",
	// "delete-document", or "none".
	Op      string  `json:"op,omitempty"`
	Trigger Trigger `json:"trigger"`
	Actor   Actor   `json:"actor"`
	Target  Target  `json:"target"`
	// Before and After are the whole documents as written/read (empty when
	// absent); dropped for short decisions.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Diff is the computed statement diff in human form.
	Diff string `json:"diff,omitempty"`
	// Error says why a write failed, or why a trigger was rejected/refused.
	Error string `json:"error,omitempty"`
	// Function and RequestID locate the invocation's logs; Trail fills them
	// from the Lambda context when empty.
	Function  string `json:"function,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	// Writer is ecr-warden's own identity (the function role's ARN) that
	// took the decision and made any write, kept apart from Actor, whose
	// event triggered it: a drift revert reads "actor edited, writer
	// reverted". Trail fills it from Options.Writer when empty.
	Writer string `json:"writer,omitempty"`
	// DeclarationSHA256 is the hex SHA-256 of the declaration file the
	// decision was computed from, so a record says which declaration it
	// enforced. Trail fills it from Options.DeclarationSHA256 when empty.
	DeclarationSHA256 string `json:"declarationSha256,omitempty"`
	DryRun            bool   `json:"dryRun"`
	// Counts and Duration belong to summary records only.
	Counts   *Counts       `json:"counts,omitempty"`
	Duration time.Duration `json:"durationMs,omitempty"`
}

// Counts is what a unit did with the documents it examined.
type Counts struct {
	Examined  int `json:"examined"`
	Unchanged int `json:"unchanged"`
	Changed   int `json:"changed"`
	Planned   int `json:"planned"`
	Refused   int `json:"refused"`
	Failed    int `json:"failed"`
	// ResumedAfter is the cursor a unit's try started from (its
	// repositories up to it were converged by earlier tries); ContinuesAfter
	// is where it stopped before its deadline, the next try's cursor. A
	// try with ContinuesAfter is neither done nor failed: its unit goes on.
	ResumedAfter   string `json:"resumedAfter,omitempty"`
	ContinuesAfter string `json:"continuesAfter,omitempty"`
	// Why says why a unit converged an account the declaration configures
	// nothing in: a member a full backfill remembered as configured, whose
	// statements the unit removes ("" for every other unit).
	Why string `json:"why,omitempty"`
}

// UnitARN is the key of a unit's summary records: "unit/<account>/<region>",
// so `make audit RESOURCE=unit/<account>/<region>` lists a unit's runs.
func UnitARN(account, region string) string { return "unit/" + account + "/" + region }

// LogValue renders the record as a slog group with exactly the JSON names of
// the struct, so `audit.decision` in CloudWatch Logs Insights is the same
// field as `decision` in the table.
func (r Record) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", r.ID), slog.Time("time", r.Time)}
	if !r.DecidedAt.IsZero() {
		attrs = append(attrs, slog.Time("decidedAt", r.DecidedAt))
	}
	attrs = append(attrs, slog.String("decision", string(r.Decision)))
	attrs = appendNonEmpty(attrs, "op", r.Op)
	attrs = append(attrs,
		slog.Attr{Key: "trigger", Value: group(
			"eventId", r.Trigger.EventID, "eventType", r.Trigger.EventType, "source", r.Trigger.Source)},
		slog.Attr{Key: "actor", Value: group(
			"arn", r.Actor.ARN, "principalId", r.Actor.PrincipalID, "type", r.Actor.Type,
			"accountId", r.Actor.AccountID, "invokedBy", r.Actor.InvokedBy)},
		slog.Attr{Key: "target", Value: group(
			"arn", r.Target.ARN, "accountId", r.Target.AccountID, "region", r.Target.Region,
			"kind", r.Target.Kind, "name", r.Target.Name)},
	)
	for _, kv := range [][2]string{
		{"before", r.Before}, {"after", r.After}, {"diff", r.Diff}, {"error", r.Error},
		{"function", r.Function}, {"requestId", r.RequestID},
		{"writer", r.Writer}, {"declarationSha256", r.DeclarationSHA256},
	} {
		attrs = appendNonEmpty(attrs, kv[0], kv[1])
	}
	attrs = append(attrs, slog.Bool("dryRun", r.DryRun))
	if c := r.Counts; c != nil {
		attrs = append(attrs, slog.Attr{Key: "counts", Value: slog.GroupValue(
			slog.Int("examined", c.Examined), slog.Int("unchanged", c.Unchanged), slog.Int("changed", c.Changed),
			slog.Int("planned", c.Planned), slog.Int("refused", c.Refused), slog.Int("failed", c.Failed),
			slog.String("resumedAfter", c.ResumedAfter), slog.String("continuesAfter", c.ContinuesAfter))},
			slog.Int64("durationMs", r.Duration.Milliseconds()))
	}
	return slog.GroupValue(attrs...)
}

func appendNonEmpty(attrs []slog.Attr, k, v string) []slog.Attr {
	if v == "" {
		return attrs
	}
	return append(attrs, slog.String(k, v))
}

// group builds a group value from key/value string pairs, skipping empty
// values (as the JSON omitempty tags do). An empty group is still emitted as
// {} so the line's shape does not depend on the content.
func group(kv ...string) slog.Value {
	var attrs []slog.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = appendNonEmpty(attrs, kv[i], kv[i+1])
	}
	return slog.GroupValue(attrs...)
}

// sortKeyLayout is RFC 3339 with a fixed nine-digit fraction, UTC. Fixed
// width makes string order equal time order (time.RFC3339Nano trims trailing
// zeros, so "…:05Z" would sort after "…:05.1Z").
const sortKeyLayout = "2006-01-02T15:04:05.000000000Z07:00"

// sortKey is the table's sort key: "<time>#<id>".
func sortKey(t time.Time, id string) string {
	return t.UTC().Format(sortKeyLayout) + "#" + id
}

// dayOf is the by-day partition for t (UTC calendar day).
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// crockford is Crockford's base32 alphabet (no I, L, O, U), as ULIDs use.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idState makes ids from one process strictly increasing even within one
// millisecond (as monotonic ULIDs do), so records taken in the same instant
// still list in the order they were decided.
var idState struct {
	sync.Mutex
	ms   uint64
	rand [10]byte
}

// NewID returns a 26-character identifier that sorts by t (millisecond
// resolution) and carries 80 random bits, so ids from concurrent
// invocations never collide and still list in time order. Within one
// process and one millisecond, ids are strictly increasing.
func NewID(t time.Time) string {
	var b [16]byte
	ms := uint64(max(t.UnixMilli(), 0))
	idState.Lock()
	if ms == idState.ms {
		// Same millisecond as the last id: count up from it.
		for i := len(idState.rand) - 1; i >= 0; i-- {
			idState.rand[i]++
			if idState.rand[i] != 0 {
				break
			}
		}
	} else if _, err := rand.Read(idState.rand[:]); err != nil {
		// crypto/rand does not fail on supported platforms; if it ever
		// does, an id without randomness would risk silent collisions.
		idState.Unlock()
		panic(fmt.Sprintf("audit: reading random bytes for a record id: %v", err))
	}
	idState.ms = ms
	copy(b[6:], idState.rand[:])
	idState.Unlock()
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	// 128 bits in 26 five-bit digits: two zero bits pad the front (130 bits).
	out := make([]byte, 26)
	var acc uint32
	bits := 2
	idx := 0
	for _, by := range b {
		acc = acc<<8 | uint32(by)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[idx] = crockford[(acc>>uint(bits))&31]
			idx++
		}
	}
	return string(out)
}

// OpRead is the op of a failed record no write belongs to: reading the
// document (or what its plan needs) failed, so nothing was planned or
// written. Recorded with Record, it names the document and the error, where
// otherwise only a unit's summary would count the failure.
const OpRead = "read"

// checkWithoutWrite accepts the decisions that write nothing to AWS, which
// Record and RecordBatch store: a write's own decisions (pending, applied,
// failed) go through Begin and its outcome, and a summary needs its counts.
func (r Record) checkWithoutWrite() error {
	switch r.Decision {
	case DecisionPlanned, DecisionNoop, DecisionRejected, DecisionRefused, DecisionDiverged, DecisionForeignUnsafe,
		DecisionPrincipalMissing, DecisionOrganizationWalk, DecisionPTCValidated, DecisionPTCValidationFailed:
		return nil
	case DecisionSummary:
		if r.Counts == nil {
			return fmt.Errorf("audit: summary record for %s has no counts", r.Target.ARN)
		}
		return nil
	case DecisionFailed:
		if r.Op == OpRead {
			return nil
		}
		return fmt.Errorf("audit: decision %q belongs to a write: use Begin, then Applied or Failed (or op %q for a document that could not be read)", r.Decision, OpRead)
	case DecisionPending, DecisionApplied, DecisionUnknown:
		return fmt.Errorf("audit: decision %q belongs to a write: use Begin, then Applied or Failed", r.Decision)
	default:
		return fmt.Errorf("audit: unknown decision %q", r.Decision)
	}
}
