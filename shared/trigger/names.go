package trigger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Patterns from the AWS API references. They are checked here so a bad value
// in an event is rejected with its path instead of failing later inside an
// AWS call with a less helpful message.
var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	rolePattern      = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$`)
	// Organizations parent: root (r-) or OU (ou-).
	parentPattern = regexp.MustCompile(`^(?:r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
)

func checkAccountID(path, v string) error {
	if !accountIDPattern.MatchString(v) {
		return fmt.Errorf("%s: %s is not a 12-digit account id", path, quote(v))
	}
	return nil
}

// checkRepository checks a private (or, when public, an ECR Public)
// repository name with the grammar of its API (shared/policy), the one
// every part of ecr-warden checks names with.
func checkRepository(path, v string, public bool) error {
	maxLen, valid, grammar := policy.MaxRepositoryName, policy.ValidRepositoryName, "lowercase letters and digits separated by . _ __ or dashes, and / between parts"
	if public {
		maxLen, valid, grammar = policy.MaxPublicRepositoryName, policy.ValidPublicRepositoryName, "lowercase letters and digits separated by one . _ or -, and / between parts"
	}
	if len(v) < policy.MinRepositoryName || len(v) > maxLen {
		return fmt.Errorf("%s: repository name %s must be %d-%d characters, has %d", path, quote(v), policy.MinRepositoryName, maxLen, len(v))
	}
	if !valid(v) {
		return fmt.Errorf("%s: %s is not a valid repository name (%s)", path, quote(v), grammar)
	}
	return nil
}

// checkPrefix checks a pull-through-cache rule's prefix with ECR's own
// grammar (shared/policy), not the declaration's narrower one: an event for
// a rule made by hand is read, and ignored when the declaration has no such
// rule.
func checkPrefix(path, v string) error {
	if !policy.ValidPTCPrefix(v) {
		return fmt.Errorf("%s: %s is not a valid pull-through-cache prefix (ROOT, or 2-30 characters of repository name syntax, a trailing / allowed)", path, quote(v))
	}
	return nil
}

func checkRole(path, v string) error {
	if !rolePattern.MatchString(v) {
		return fmt.Errorf("%s: %s is not a valid IAM role name (1-64 of letters, digits, +=,.@_-)", path, quote(v))
	}
	return nil
}

// maxRegionLen bounds a region name: the longest AWS has (us-isof-south-1,
// ap-southeast-7) are 15 characters. The pattern alone admits any length,
// and a region reaches the rejection's detail, its audit target and that
// target's ARN (a DynamoDB key, at most 2,048 bytes): kept whole, a hostile
// one made the record of its own rejection unstorable, so the event failed
// and was retried instead of being audited.
const maxRegionLen = 32

func checkRegion(path, v string) error {
	if len(v) > maxRegionLen || !regionPattern.MatchString(v) {
		return fmt.Errorf("%s: %s is not a region name", path, quote(v))
	}
	return nil
}

func checkParent(path, v string) error {
	if !parentPattern.MatchString(v) {
		return fmt.Errorf("%s: %s is not an organization root (r-...) or OU (ou-...) id", path, quote(v))
	}
	return nil
}

// Clip shortens free text an input carries (an error message, a failure
// reason, the start of a rejected body) for a rejection's detail, on a UTF-8
// boundary: an audit record must hold valid UTF-8.
func Clip(v string) string {
	const max = 512
	if len(v) <= max {
		return v
	}
	return strings.ToValidUTF8(v[:max], "") + fmt.Sprintf("...(%d bytes)", len(v))
}

// quote prints a value for an error message, shortening huge hostile inputs.
func quote(v string) string {
	const max = 80
	if len(v) > max {
		return fmt.Sprintf("%q...(%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}
