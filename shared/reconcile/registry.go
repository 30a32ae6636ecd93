package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Registry policies: one document per account and region, owned statements
// from registry-placement grants, the member's PTC statements and the hub's
// upstream grant. A registry whose policy scope is V1 gets switched to V2
// only when the declaration allows it; otherwise a V2-only result is refused.

// Registry converges one registry policy with the full desired state.
//
// state comes from a walk its caller just made. An event's registry policy
// that lists accounts one by one is planned from it once, before the lease;
// every later read of the policy (the one under the lease, a narrowing
// trial) plans from the organization as it is then (fromOrganizationNow).
func (e *Engine) Registry(ctx context.Context, cause Cause, state *desired.State, account, region string) (Report, error) {
	var rep Report
	statements := func(st *desired.State) []policy.Statement { return st.RegistryStatements(account, region) }
	var now func(context.Context) ([]policy.Statement, error)
	if e.Org != nil && e.registryEnumerates(state, account) {
		now = e.fromOrganizationNow(region, desired.Account{}, statements)
	}
	first := true
	return rep, e.run(ctx, &rep, e.registryStep(cause, account, region, func(ctx context.Context, _ string) ([]policy.Statement, error) {
		if first || now == nil {
			first = false
			return statements(state), nil
		}
		return now(ctx)
	}))
}

// scopeSwitch marks a change that first switches the registry to scope V2.
type scopeSwitch struct{ plan.Change }

// registryStep plans one registry policy from the statements owned computes
// from what the policy holds now (called on every read, including the
// re-read under the lease).
func (e *Engine) registryStep(cause Cause, account, region string, owned func(ctx context.Context, current string) ([]policy.Statement, error)) apply.Step {
	return e.heldRegistryStep(cause, account, region, owned, nil)
}

// heldRegistry is what a holder that keeps a registry policy's lease across
// rounds (hubHolder) knows of the policy from its own earlier round: the
// text the policy holds as that round left it, and the registry policy
// scope it read or set. Nobody else of ecr-warden writes the policy while
// the lease is held, so a later round plans on that text instead of reading
// it again, and trusts a V2 scope instead of asking again. Only hand edits
// can land in between, and they can equally land between any read and
// write: ECR has no conditional write.
type heldRegistry struct {
	mu    sync.Mutex
	text  string
	known bool   // text is what the policy holds ("" for no policy)
	scope string // "" unknown
	read  string // the text the last plan started from
}

// current returns the known text once (later calls of the same step, such
// as the narrowing trials after a refused write, read AWS again).
func (h *heldRegistry) current() (string, bool) {
	if h == nil {
		return "", false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.text, h.known
	h.known = false
	return t, ok
}

// planned notes the text a plan started from.
func (h *heldRegistry) planned(text string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.read = text
	h.mu.Unlock()
}

// settle records what the policy holds after the round's result r: the
// written text when it changed, the text read when it did not; anything
// else (refused, failed) leaves it unknown.
func (h *heldRegistry) settle(r apply.Result) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch r.Outcome {
	case apply.Changed:
		h.text, h.known = r.Change.After, true
		if _, ok := r.Change.Detail.(scopeSwitch); ok {
			h.scope = "V2"
		}
	case apply.Unchanged:
		h.text, h.known = h.read, true
	default:
		h.known = false
	}
}

func (h *heldRegistry) knownScope() string {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scope
}

func (h *heldRegistry) setScope(scope string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.scope = scope
	h.mu.Unlock()
}

// heldRegistryStep is registryStep for a holder that remembers the policy
// across rounds of one lease (held may be nil).
func (e *Engine) heldRegistryStep(cause Cause, account, region string, owned func(ctx context.Context, current string) ([]policy.Statement, error), held *heldRegistry) apply.Step {
	client := e.Clients.ECR(account, region)
	reg := inventory.NewRegistry(client, account, region, inventory.RegistryOptions{})
	target := registryResource(e.Decl.Hub.Partition, account, region)
	arn := target.ARN
	filter := e.newPrincipalFilter(cause, target)
	s := step(lease.RegistryKey(account, region), target, cause)
	s.PrincipalWait = e.principalWait()
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		// read (or what this holder's earlier round left)
		current, ok := held.current()
		if !ok {
			var err error
			if current, _, err = reg.RegistryPolicy(ctx); err != nil {
				return apply.Change{}, fmt.Errorf("reading registry policy (%s): %w", arn, err)
			}
		}
		held.planned(current)
		// desired (an account event's starts from what the policy holds:
		// a document policy.Parse refuses, such as one JSON would read
		// ambiguously, is refused, naming it, as the full plan refuses it;
		// an owned statement the model cannot read is passed on, and the
		// plan decides what becomes of it)
		st, err := owned(ctx, current)
		if err != nil {
			if walkFailed(err) {
				return apply.Change{}, fmt.Errorf("planning registry policy (%s): %w", arn, err)
			}
			return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("reading ecr-warden's statements in registry policy (%s): %w", arn, err)}
		}
		st = e.keepExisting(ctx, filter, st)
		// plan
		c, err := e.owner().Document(policy.ECRRegistryPolicy, arn, current, st)
		if err != nil {
			return refused(apply.Change{}, err)
		}
		return e.planScope(ctx, reg, arn, c, held)
	}
	s.Write = func(ctx context.Context, c apply.Change) error {
		// switched prefixes the policy call's error once the scope switch
		// is done: the record of a policy write that fails must not read
		// as if AWS held everything as before.
		switched := ""
		if _, ok := c.Detail.(scopeSwitch); ok {
			if _, err := client.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String(inventory.RegistryPolicyScopeSetting), Value: aws.String("V2")}); err != nil {
				// An answer lost after ECR switched (a dropped
				// connection, retries spent) says nothing of what
				// AWS holds: read the scope again, and go on to the
				// policy under the same lease when it is V2.
				if scope, rerr := reg.RegistryScope(ctx); rerr != nil || scope != "V2" {
					return fmt.Errorf("switching registry policy scope to V2 (%s): %w", arn, err)
				}
			}
			switched = "registry policy scope switched to V2 (done); "
		}
		if c.Op == plan.OpDeleteDocument {
			_, err := client.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{})
			var nf *ecrtypes.RegistryPolicyNotFoundException
			if err != nil && !errors.As(err, &nf) {
				return fmt.Errorf("%sdeleting registry policy (%s): %w", switched, arn, err)
			}
			return nil
		}
		if _, err := client.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(c.After)}); err != nil {
			return fmt.Errorf("%sputting registry policy (%s): %w", switched, arn, err)
		}
		return nil
	}
	s.Reread = apply.DocumentReread(func(ctx context.Context) (string, error) {
		text, _, err := reg.RegistryPolicy(ctx)
		if err != nil {
			return "", fmt.Errorf("reading registry policy (%s): %w", arn, err)
		}
		return text, nil
	})
	return s
}

// planScope checks the registry policy scope when the planned document
// needs V2: refused on a V1 registry the declaration may not switch, a
// switch first when it may.
func (e *Engine) planScope(ctx context.Context, reg *inventory.Registry, arn string, c plan.Change, held *heldRegistry) (apply.Change, error) {
	if c.After == "" || !c.Writes() {
		return apply.FromDocument(c), nil
	}
	doc, err := policy.Parse(c.After)
	if err != nil || !policy.V2Required(doc) {
		return apply.FromDocument(c), nil
	}
	scope := held.knownScope()
	if scope != "V2" {
		var err error
		if scope, err = reg.RegistryScope(ctx); err != nil {
			return apply.Change{}, fmt.Errorf("reading registry policy scope (%s): %w", arn, err)
		}
		held.setScope(scope)
	}
	if scope != "V1" {
		return apply.FromDocument(c), nil
	}
	if !e.Decl.RegistryPolicyScope.AllowSwitchToV2 || e.RevokeOnly {
		return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("registry %s uses registry policy scope V1, which enforces only ReplicateImage, BatchImportUpstreamImage and CreateRepository; the declared statements need V2. Switch the registry to V2 (aws ecr put-account-setting --name REGISTRY_POLICY_SCOPE --value V2) or set registryPolicyScope.allowSwitchToV2 in the declaration", arn)}
	}
	c.Reason += "; switches registry policy scope V1 -> V2 first (allowed by the declaration)"
	// Everything else of the document's change carries over (what a shrunk
	// write withheld, the foreign statements the guard cannot vouch for).
	ch := apply.FromDocument(c)
	ch.Detail = scopeSwitch{c}
	return ch, nil
}
