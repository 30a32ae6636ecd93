package policy

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// DocumentKind names which kind of document a text is, because limits,
// allowed actions and principal rules differ per kind.
type DocumentKind string

// The document kinds ecr-warden writes.
const (
	ECRRepositoryPolicy    DocumentKind = "ecr-repository-policy"
	ECRRegistryPolicy      DocumentKind = "ecr-registry-policy"
	PublicRepositoryPolicy DocumentKind = "ecr-public-repository-policy"
	RoleTrustPolicy        DocumentKind = "iam-role-trust-policy"
	RoleInlinePolicy       DocumentKind = "iam-role-inline-policy"
)

// Kinds lists every DocumentKind, for tests and validation.
var Kinds = []DocumentKind{ECRRepositoryPolicy, ECRRegistryPolicy, PublicRepositoryPolicy, RoleTrustPolicy, RoleInlinePolicy}

// Limit is the largest document AWS accepts for the kind, in characters:
// 10,240 for ECR and ECR Public policy text; 2,048 for an IAM role trust
// policy (the default quota; it can be raised to 4,096, ecr-warden keeps to
// the default so it works everywhere); 10,240 for a role's inline policies.
func (k DocumentKind) Limit() int {
	switch k {
	case RoleTrustPolicy:
		return 2048
	default:
		return 10240
	}
}

// CountsWhitespace reports whether AWS counts whitespace against the
// limit: ECR counts the text as sent; IAM does not count whitespace.
func (k DocumentKind) CountsWhitespace() bool {
	return k != RoleTrustPolicy && k != RoleInlinePolicy
}

// Size is the number of characters AWS counts for text of this kind. For
// IAM kinds, whitespace between JSON tokens is not counted; whitespace
// inside string values is (it is part of the value).
func (k DocumentKind) Size(text string) int {
	if k.CountsWhitespace() {
		return utf8.RuneCountInString(text)
	}
	n := 0
	inString, escaped := false, false
	for _, r := range text {
		switch {
		case inString:
			n++
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
		case r == '"':
			inString = true
			n++
		case unicode.IsSpace(r):
		default:
			n++
		}
	}
	return n
}

// SizeError says a document is larger than AWS accepts. Its message names
// the document, the size, the limit and the usual fix.
type SizeError struct {
	Document string
	Size     int
	Limit    int
	Kind     DocumentKind
	// Owned and Foreign, when the planner knows them, are the characters
	// ecr-warden's statements and everyone else's take (OwnedCount and
	// ForeignCount statements), so the message can say what takes the
	// space and which remedy helps.
	Owned, Foreign           int
	OwnedCount, ForeignCount int
}

// Error names the document, its size and the limit, what takes the space,
// and the fix that helps.
func (e *SizeError) Error() string {
	head := fmt.Sprintf("%s %s is %d characters, over the %d-character limit", e.Kind, e.Document, e.Size, e.Limit)
	condition := "use principalMode \"condition\" (aws:PrincipalOrgID / aws:PrincipalOrgPaths) instead of enumerating accounts, or split the grants"
	if e.Owned == 0 && e.Foreign == 0 {
		return head + "; " + condition
	}
	head += fmt.Sprintf(": ecr-warden's %d statement(s) take %d characters, %d foreign statement(s) (not ecr-warden's) take %d", e.OwnedCount, e.Owned, e.ForeignCount, e.Foreign)
	switch {
	case e.Foreign >= e.Owned:
		if e.Owned+e.Limit-e.Size <= 0 {
			// Even without ecr-warden's statements the document is too big.
			return head + "; the foreign statements alone leave no room: shorten or move them (another document or identity policies); ecr-warden never edits them"
		}
		return head + "; the foreign statements take most of the space: shorten or move them (another document or identity policies), or " + condition
	default:
		return head + "; " + condition
	}
}

// CheckSize returns a *SizeError when text is over the kind's limit. name
// identifies the document in the message (usually its ARN).
func CheckSize(kind DocumentKind, name, text string) error {
	size, limit := kind.Size(text), kind.Limit()
	if size > limit {
		return &SizeError{Document: name, Size: size, Limit: limit, Kind: kind}
	}
	return nil
}

// DefaultVersion is the Version a new document of this kind gets: ECR
// Public repository policies use "2008-10-17" (as AWS's own examples and
// console do); everything else "2012-10-17", which policy variables need.
func (k DocumentKind) DefaultVersion() string {
	if k == PublicRepositoryPolicy {
		return VersionLegacy
	}
	return VersionCurrent
}

// CheckInlineTotal checks the IAM quota that applies to all inline policies
// of one role together (10,240 characters, whitespace not counted): each
// document can be under the limit while their sum is not. role names the
// role in the message.
func CheckInlineTotal(role string, texts ...string) error {
	total := 0
	for _, t := range texts {
		total += RoleInlinePolicy.Size(t)
	}
	if limit := RoleInlinePolicy.Limit(); total > limit {
		return &SizeError{Document: role + " (all inline policies)", Size: total, Limit: limit, Kind: RoleInlinePolicy}
	}
	return nil
}
