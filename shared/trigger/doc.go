// Package trigger turns what arrives at a function (an EventBridge event, a
// manual backfill payload or the sweep schedule) into a small Target: where to
// look, never what to write. ecr-warden is level-triggered, so an event only
// names the account, region and resource to re-converge; the desired state is
// always computed from the declaration and what AWS holds now.
//
// Everything that cannot be acted upon (malformed JSON, a foreign source, a
// failed API call, a failed account creation, a shape we cannot read) becomes
// a *Rejection. A rejection is never worth retrying: callers log and audit it
// and return success so Lambda and EventBridge do not redeliver it.
//
// Shapes that AWS has not documented precisely (AccountJoinedOrganization,
// AccountDepartedOrganization) are read defensively from several places; when
// nothing reliable is found the event is rejected with its raw text kept for
// the log, rather than guessed at.
package trigger
