package reconcile

import (
	"context"
	"errors"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// AWS refuses a whole registry or repository policy when one IAM role or
// user it names does not exist ("Invalid registry policy provided",
// "Principal not found"), and PutRegistryPolicy replaces the whole document.
// So before a document is written, the IAM principals ecr-warden's own
// statements name are looked up (iam:GetRole / iam:GetUser, in the hub with
// the function's credentials and in a member through its execution role);
// the ones that do not exist are left out, everything else is written, and a
// principal-missing record names the statement, the principal and the
// document. When the role is created later its CreateRole event (or the next
// sweep) converges the document again and the principal comes back.
//
// A principal whose existence cannot be read (an account outside the
// organization, access denied) is kept: AWS decides. If AWS then refuses the
// document as invalid, the engine narrows the refusal down to the principals
// AWS refuses (narrow.go): it writes the document without every unconfirmed
// principal, then adds them back by halves, so only the principals AWS can be
// shown to refuse are left out, each audited by name; at most n+1 writes for
// n unconfirmed principals, and it never loops.

// principalARN matches IAM role and user ARNs (with optional paths).
var principalARN = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::([0-9]{12}):(role|user)/(?:[\x21-\x7E]*/)?([\w+=,.@-]{1,64})$`)

type principalState int

const (
	principalUnknown principalState = iota
	principalExists
	principalMissing
)

// principalCache remembers, for one invocation, what IAM answered about each
// principal, so a backfill over many repositories asks once per principal.
type principalCache struct {
	mu     sync.Mutex
	states map[string]principalState
	// elsewhere are principals IAM holds under the same name at another ARN
	// (another path): the ARN it holds, for the decision that says so.
	elsewhere map[string]string
	// distrusted are principals AWS refused a document for although they
	// could not be confirmed; they are left out for the rest of the
	// invocation.
	distrusted map[string]bool
	// recorded are the omissions (document|sid|principal) already audited:
	// a document is planned twice (before and under its lease) and maybe
	// once more after a refusal, and is recorded once.
	recorded map[string]bool
	// members says, per account, whether it is the hub or a member of the
	// organization: only there can IAM be read (in a member through the
	// execution role, which exists nowhere else).
	members map[string]bool
	// ptcRoles are the members' PTC roles read in this invocation, by
	// declared ARN: why the role is left out (nil: ecr-warden's to
	// converge), so the rules that name it are planned from the same read.
	ptcRoles map[string]error
}

type principalCacheKey struct{}

// WithPrincipalCache returns a context whose principal look-ups are cached
// until the context ends: an entry point calls it once per invocation, so a
// role created between two invocations is seen by the next one.
func WithPrincipalCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(principalCacheKey{}).(*principalCache); ok {
		return ctx
	}
	return context.WithValue(ctx, principalCacheKey{}, &principalCache{states: map[string]principalState{}, elsewhere: map[string]string{}, distrusted: map[string]bool{}, recorded: map[string]bool{}, members: map[string]bool{}, ptcRoles: map[string]error{}})
}

func cacheOf(ctx context.Context) *principalCache {
	if c, ok := ctx.Value(principalCacheKey{}).(*principalCache); ok {
		return c
	}
	return nil
}

// principalState looks arn up in IAM (once per invocation when the context
// carries a cache).
func (e *Engine) principalState(ctx context.Context, arn string) principalState {
	st, _ := e.principalLookup(ctx, arn)
	return st
}

// principalLookup is principalState, and when IAM holds a principal of the
// same name at another ARN (another path), that ARN: the one the policy
// names does not exist, and cannot come to exist by waiting.
func (e *Engine) principalLookup(ctx context.Context, arn string) (principalState, string) {
	m := principalARN.FindStringSubmatch(arn)
	if m == nil {
		return principalUnknown, ""
	}
	cache := cacheOf(ctx)
	if cache != nil {
		cache.mu.Lock()
		st, ok := cache.states[arn]
		other := cache.elsewhere[arn]
		cache.mu.Unlock()
		if ok {
			return st, other
		}
	}
	account, kind, name := m[1], m[2], m[3]
	if !e.checkable(ctx, account) {
		return principalUnknown, ""
	}
	client := e.Clients.IAM(account)
	var err error
	var got string
	if kind == "role" {
		var out *iam.GetRoleOutput
		out, err = client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err == nil && out.Role != nil {
			got = aws.ToString(out.Role.Arn)
		}
	} else {
		var out *iam.GetUserOutput
		out, err = client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
		if err == nil && out.User != nil {
			got = aws.ToString(out.User.Arn)
		}
	}
	st, other := principalUnknown, ""
	var nse *iamtypes.NoSuchEntityException
	switch {
	case err == nil && (got == "" || got == arn):
		st = principalExists
	case err == nil:
		// Same name, another path: the ARN the policy names does not exist.
		st, other = principalMissing, got
	case errors.As(err, &nse):
		st = principalMissing
	default:
		e.log().InfoContext(ctx, "could not confirm that a principal exists; keeping it and letting AWS decide",
			"principal", arn, "error", err.Error())
	}
	if cache != nil && ctx.Err() == nil {
		cache.mu.Lock()
		cache.states[arn] = st
		if other != "" {
			cache.elsewhere[arn] = other
		}
		cache.mu.Unlock()
	}
	return st, other
}
