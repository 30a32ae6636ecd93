// Package inventory reads what exists in AWS for the reconcile engine: the
// organization's accounts and their OU paths, ECR repositories with their
// tags and policies, registry policies and settings, pull-through-cache
// rules, IAM roles and ECR Public repositories.
//
// It only reads. Every reader takes the small SDK interface it calls (the
// real clients are asserted to satisfy them), so the engine can hand it a
// client already configured for a member account and region. The readers are
// built for organization scale: every list is paginated, fan-out is bounded
// (Organizations allows about 5 list calls per second, burst 8), the
// organization is walked through its OU tree instead of one ListParents per
// account, and one account's OU path costs a number of calls bounded by the
// OU depth (at most 5), never by the size of the organization; repository
// tags for a whole registry come from one Resource Groups Tagging API query
// (Tagging), not one ListTagsForResource per repository. CountCalls
// makes those costs measurable in tests and benchmarks.
//
// "Not there" is an answer, not an error: a missing policy is (text "",
// exists false); an account that left the organization is an Account with
// Status NotInOrganization. Errors that a caller may want to retry are
// wrapped with %w so errors.As finds the SDK's typed exception (for example
// *ecrtypes.RepositoryNotFoundException right after a repository is created).
package inventory
