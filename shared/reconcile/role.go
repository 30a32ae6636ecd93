package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The PTC role: the role ECR's pull-through cache assumes in a member to
// cache from the hub. The role is ecr-warden's own (it creates it, with its
// permissions boundary, or takes over the role of that name): its trust
// policy is wholly owned, so a statement without the Sid prefix there is
// removed and audited (anyone it lets assume the role gets ECR push actions
// in the member and the hub's upstream grant); foreign statements in its
// inline permission policy are kept, as the boundary caps what they grant.
// IAM is global: no region.

// PTCRole converges the member's PTC role: created with its trust policy
// when missing, else its trust policy updated; then its inline policy.
func (e *Engine) PTCRole(ctx context.Context, cause Cause, state *desired.State, account string) (Report, error) {
	if _, ok := state.PTCRole(account); !ok {
		return Report{}, nil
	}
	return e.heldDocuments(ctx, cause, state, e.roleLeaseKey(account), func(ctx context.Context) ([]apply.HeldChange, error) {
		return e.ptcRoleDocuments(ctx, cause, state, account), nil
	})
}

// roleLeaseKey is the lease of a member's PTC role: the registry lease of
// the hub's first region, whose function converges the role (IAM is
// global). So an account event holds one lease for the role, the PTC rules
// and the registry policy there, and stores their intents together.
func (e *Engine) roleLeaseKey(account string) string {
	return lease.RegistryKey(account, e.Decl.Hub.Regions[0])
}

// ptcRoleDocuments reads the role once (trust and inline policy) under the
// caller's hold of roleLeaseKey and plans both documents, the role written
// before its policy (waves 0 and 1). A role that cannot be read fails as a
// document, so the documents planned beside it still converge.
func (e *Engine) ptcRoleDocuments(ctx context.Context, cause Cause, state *desired.State, account string) []apply.HeldChange {
	role, ok := state.PTCRole(account)
	if !ok {
		return nil
	}
	client := e.Clients.IAM(account)
	roles := inventory.NewRoles(client, account)
	trust, permission := e.trustStep(cause, client, roles, account, role), e.permissionStep(cause, client, roles, account, role)
	cur, err := roles.Role(ctx, role.Name, role.PolicyName)
	leftOut, err := ptcRoleLeftOut(role, account, cur, err)
	if err != nil {
		return []apply.HeldChange{{Step: trust, Err: fmt.Errorf("reading role (%s): %w", role.ARN, err)}}
	}
	rememberPTCRole(ctx, role.ARN, leftOut)
	if leftOut != nil {
		return []apply.HeldChange{{Step: trust, Err: leftOut}, {Step: permission, Err: leftOut, Wave: 1}}
	}
	tc, terr := e.planTrust(role, cur)
	pc, perr := e.planPermission(role, cur)
	items := []apply.HeldChange{
		{Step: trust, Change: tc, Err: terr},
		{Step: permission, Change: pc, Err: perr, Wave: 1},
	}
	if !cur.Exists {
		// The policy of a role being created needs the role: when IAM
		// refuses the create (a name taken in another case, say), the
		// policy is left out with it instead of being sent to a role of
		// that name that is not there.
		items[1].Needs = []string{trust.Target.ARN}
	}
	return items
}

// ptcRoleLeftOut says why the member's PTC role, read as cur (err: the
// read's error), is left out: a *apply.RefusedError, recorded as refused
// on the role's documents and on every fromHub rule that would name it,
// while the rest of the account converges. nil means the role is
// ecr-warden's to converge (missing, or at the declared ARN); err is a
// read that failed otherwise, which fails the role's documents as before.
//
// Two shapes, one cause. IAM role names are unique per account whatever
// the path, so a role made by hand as role/team/<name> answers GetRole of
// <name>. On the local AWS (no IAM enforcement) the read succeeds with
// that ARN: taking the role over would leave the rules' customRoleArn and
// the hub's aws:PrincipalArn naming role/<name>, which does not exist. In
// AWS the execution role may act on role/<name> only (no path), so the
// read is AccessDenied. That denial is left out instead of failing the
// unit: no retry can change it (a person renames or deletes the role, or
// updates the member stack instance whose execution role policy is older),
// and a failed unit goes to the dead-letter queue every sweep with AWS's
// message alone. The next sweep reads the role again. A refusal of the
// execution role itself (sts:AssumeRole) is not this: it fails every
// document of the account and the unit says what to do (unassumable).
func ptcRoleLeftOut(role desired.Role, account string, cur inventory.RoleState, err error) (leftOut, readErr error) {
	const fix = "delete or rename that role (ecr-warden then creates the declared one at the next sweep), or set pullThroughCache.role.name to a name no member uses"
	switch {
	case err != nil && iamAccessDenied(err):
		return &apply.RefusedError{Err: fmt.Errorf("PTC role %s left out with its policies and the fromHub pull-through-cache rules of account %s: IAM denied reading it (%w). The execution role may read and change only the declared ARN, role/%s without a path, so this is, in practice, a role of that name made by hand under an IAM path (role names are unique per account whatever the path); everything else in the account is converged. Look with aws iam get-role --role-name %s in %s: if it has a path, %s; if it has none, update the account's member stack instance (its execution role policy is older than this version)",
			role.ARN, account, err, role.Name, role.Name, account, fix)}, nil
	case err != nil:
		return nil, err
	case cur.Exists && cur.ARN != "" && cur.ARN != role.ARN:
		return &apply.RefusedError{Err: fmt.Errorf("PTC role %s left out with its policies and the fromHub pull-through-cache rules of account %s: IAM holds the name %s at %s, another path (role names are unique per account whatever the path), so the declared role cannot be created, and ecr-warden does not take that one over: the rules' customRoleArn and the hub's upstream grant (aws:PrincipalArn) name the declared ARN, which it is not. Everything else in the account is converged; %s",
			role.ARN, account, role.Name, cur.ARN, fix)}, nil
	}
	return nil, nil
}

// iamAccessDenied reports whether err is IAM answering AccessDenied to the
// execution role's own call (not STS refusing to let the function assume
// the execution role, which the SDK reports inside the IAM call's error).
func iamAccessDenied(err error) bool {
	var op *smithy.OperationError
	return !awsapi.AssumeRoleDenied(err) && errors.As(err, &op) && op.ServiceID == "IAM" && awsapi.AccessDenied(err)
}

// rememberPTCRole keeps, for the invocation, why the PTC role of ARN arn
// is left out (nil: it is not), for the rules planned after the role.
func rememberPTCRole(ctx context.Context, arn string, leftOut error) {
	if cache := cacheOf(ctx); cache != nil {
		cache.mu.Lock()
		cache.ptcRoles[arn] = leftOut
		cache.mu.Unlock()
	}
}

// ptcRoleRefusal is why a write of a rule naming the account's PTC role is
// refused: the role is left out (ptcRoleLeftOut). It reuses the role's read
// of this invocation, else reads it (one GetRole). Only writes ask, so a
// converged registry costs nothing more. A read that fails otherwise
// refuses nothing: the rule is written as before and AWS decides.
func (e *Engine) ptcRoleRefusal(ctx context.Context, state *desired.State, account string) error {
	role, ok := state.PTCRole(account)
	if !ok {
		return nil
	}
	if cache := cacheOf(ctx); cache != nil {
		cache.mu.Lock()
		leftOut, known := cache.ptcRoles[role.ARN]
		cache.mu.Unlock()
		if known {
			return leftOut
		}
	}
	cur, err := inventory.NewRoles(e.Clients.IAM(account), account).Role(ctx, role.Name)
	leftOut, err := ptcRoleLeftOut(role, account, cur, err)
	if err != nil {
		e.log().InfoContext(ctx, "could not read the PTC role before writing a rule that names it; writing the rule", "role", role.ARN, "error", err.Error())
		return nil
	}
	rememberPTCRole(ctx, role.ARN, leftOut)
	return leftOut
}

// createRoleRefused says why CreateRole of the PTC role failed with err.
// IAM answers EntityAlreadyExists for a name taken in another case (role
// names are unique per account whatever their case and path), while GetRole
// of the declared name, which planned the create, found none: no retry
// changes that, so the role is left out (a *apply.RefusedError: refused
// with its policy and the fromHub rules that need it, the rest of the
// account converged) instead of failing its unit at every sweep. The name
// is read once more to tell that from an SDK retry of this very call whose
// first answer was lost (then the role exists, and the executor reads it
// again and records the write applied). A boundary IAM cannot find gets
// what to check; any other error is returned as AWS answered it.
func (e *Engine) createRoleRefused(ctx context.Context, client iamAPI, role desired.Role, account string, err error) error {
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		_, gerr := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
		var missing *iamtypes.NoSuchEntityException
		if errors.As(gerr, &missing) {
			return &apply.RefusedError{Err: fmt.Errorf("creating role (%s): %w. PTC role %s left out with its policy and the fromHub pull-through-cache rules of account %s: IAM holds a role whose name differs from %s only in case (role names are unique per account whatever their case), which GetRole of %s does not find, so the declared role cannot be created, and ecr-warden does not take that one over. Everything else in the account is converged; find it with aws iam list-roles --query \"Roles[?RoleName.lower(@)=='%s'].Arn\" in %s, then delete or rename it (ecr-warden then creates the declared one at the next sweep), or set pullThroughCache.role.name to a name no member uses",
				role.ARN, err, role.ARN, account, role.Name, role.Name, strings.ToLower(role.Name), account)}
		}
	}
	return fmt.Errorf("creating role (%s): %w%s", role.ARN, err, noBoundaryHint(err, role, account))
}

// noBoundaryHint is what to check when IAM answers NoSuchEntity to a write
// that names the PTC role's permissions boundary (CreateRole,
// PutRolePermissionsBoundary: "Scope ARN: ... does not exist or is not
// attachable"): the member StackSet creates that policy, so its instance in
// the account is missing, failed or still deploying. The write fails (not
// refused): a StackSet still deploying fixes it, and the unit's retry
// writes the role then. "" for any other error.
func noBoundaryHint(err error, role desired.Role, account string) string {
	// By code: CreateRole's API reference lists no NoSuchEntity, so the SDK
	// answers it as a generic API error there, not as the typed exception.
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchEntity" || !strings.Contains(apiErr.ErrorMessage(), role.PermissionsBoundary) {
		return ""
	}
	return fmt.Sprintf(". The member StackSet creates the PTC role's permissions boundary %s; its stack instance for account %s is missing, failed or still deploying (aws cloudformation list-stack-instances --stack-set-name <member stack set> --stack-instance-account %s); the role is written when the unit or event is retried after the instance succeeds",
		role.PermissionsBoundary, account, account)
}

// noRoomHint is what to do when IAM refuses the PTC role's inline policy
// with LimitExceeded: IAM counts a role's inline policies together (10,240
// characters, whitespace not counted), and ecr-warden's own policy is far
// under that, so in practice other inline policies on a role of that name,
// made by hand, leave it too little room. "" for any other error.
func noRoomHint(err error, role desired.Role) string {
	var limit *iamtypes.LimitExceededException
	if !errors.As(err, &limit) {
		return ""
	}
	return fmt.Sprintf(". IAM counts all inline policies of role %s together (10,240 characters, whitespace not counted), and its other inline policies leave %s too little room: move them to managed policies or delete them (aws iam list-role-policies --role-name %s), or set pullThroughCache.role.name to a name no member uses",
		role.Name, role.PolicyName, role.Name)
}

// afterRole moves documents planned beside the PTC role documents role
// (its PTC rules name it) to the waves after the role and its policy. A
// rule written naming the role needs both (apply.HeldChange.Needs): when
// AWS refuses the role's trust or inline policy (its other inline policies
// leave no room under IAM's aggregate, say), the rule is left out with it,
// as it is for a role left out when read (ptcRoleLeftOut), instead of
// being created naming a role that cannot do its work.
func afterRole(role, items []apply.HeldChange) []apply.HeldChange {
	var needs []string
	for _, r := range role {
		needs = append(needs, r.Step.Target.ARN)
	}
	for i := range items {
		items[i].Wave += 2
		if rc, ok := items[i].Change.Detail.(plan.RuleChange); ok && len(role) > 0 && rc.After != nil && rc.After.CustomRoleARN == role[0].Step.Target.ARN {
			items[i].Needs = needs
		}
	}
	return items
}

// planTrust plans the role's trust policy from what the role holds.
func (e *Engine) planTrust(role desired.Role, cur inventory.RoleState) (apply.Change, error) {
	o := e.owner()
	o.Wholly = true
	c, err := o.Document(policy.RoleTrustPolicy, role.ARN, cur.TrustPolicy, role.Trust.Statements)
	if err != nil {
		return refused(apply.Change{}, err)
	}
	ch := apply.FromDocument(c)
	rw := roleWrite{exists: cur.Exists, change: c, boundary: role.PermissionsBoundary,
		boundaryMissing: cur.Exists && cur.PermissionsBoundary != role.PermissionsBoundary}
	ch.Detail = rw
	if rw.boundaryMissing && !ch.Writes() {
		// A role created before it had a boundary (or whose boundary was changed by hand) gets it,
		// even when its trust is as declared: the execution role may change the role only once it
		// carries the boundary.
		ch.Op = plan.OpUpdate
		ch.Reason = "permissions boundary"
	}
	if rw.boundaryMissing {
		was := cur.PermissionsBoundary
		if was == "" {
			was = "none"
		}
		ch.Diff = strings.TrimSpace(ch.Diff + "\n~ permissions boundary: " + was + " -> " + role.PermissionsBoundary)
	}
	return ch, nil
}

// planPermission plans the role's inline permission policy.
func (e *Engine) planPermission(role desired.Role, cur inventory.RoleState) (apply.Change, error) {
	target := role.ARN + "/policy/" + role.PolicyName
	c, err := e.owner().Document(policy.RoleInlinePolicy, target, cur.InlinePolicies[role.PolicyName], role.Permission.Statements)
	return refused(apply.FromDocument(c), err)
}

// roleWrite carries whether the role exists, so the write creates it (with
// its permissions boundary) or sets a missing boundary and updates its trust
// policy.
type roleWrite struct {
	exists          bool
	change          plan.Change
	boundary        string
	boundaryMissing bool
}

func (e *Engine) trustStep(cause Cause, client iamAPI, roles *inventory.Roles, account string, role desired.Role) apply.Step {
	s := step(e.roleLeaseKey(account), audit.Target{ARN: role.ARN, AccountID: account, Kind: KindRoleTrustPolicy, Name: role.Name}, cause)
	s.PrincipalWait = e.principalWait()
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		cur, err := roles.Role(ctx, role.Name)
		if err != nil {
			return apply.Change{}, fmt.Errorf("reading role (%s): %w", role.ARN, err)
		}
		return e.planTrust(role, cur)
	}
	s.Write = func(ctx context.Context, c apply.Change) error {
		rw := c.Detail.(roleWrite)
		if !rw.exists {
			_, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role.Name), AssumeRolePolicyDocument: aws.String(c.After),
				PermissionsBoundary: aws.String(rw.boundary),
				Description:         aws.String("ecr-warden: role ECR pull-through cache assumes to cache images from the hub registry")})
			if err != nil {
				return e.createRoleRefused(ctx, client, role, account, err)
			}
			return nil
		}
		if rw.boundaryMissing {
			// First: the execution role may update the trust only of a role with the boundary.
			if _, err := client.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String(role.Name),
				PermissionsBoundary: aws.String(rw.boundary)}); err != nil {
				return fmt.Errorf("setting permissions boundary (%s): %w%s", role.ARN, err, noBoundaryHint(err, role, account))
			}
			if !rw.change.Writes() {
				return nil
			}
		}
		if c.After == "" {
			return fmt.Errorf("updating trust policy (%s): refusing to leave the role without a trust policy", role.ARN)
		}
		if _, err := client.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role.Name), PolicyDocument: aws.String(c.After)}); err != nil {
			return fmt.Errorf("updating trust policy (%s): %w", role.ARN, err)
		}
		return nil
	}
	s.Reread = func(ctx context.Context, c apply.Change) (apply.Holding, error) {
		cur, err := roles.Role(ctx, role.Name)
		if err != nil {
			return apply.Holding{}, fmt.Errorf("reading role (%s): %w", role.ARN, err)
		}
		h := apply.Compare(cur.TrustPolicy, c)
		if rw, _ := c.Detail.(roleWrite); cur.Exists && cur.PermissionsBoundary != rw.boundary {
			// The change also sets the boundary: a role without it is not
			// what the change writes, and is what it was planned from only
			// if the role existed then.
			h.Holds = apply.HoldsOther
			if rw.exists && apply.Compare(cur.TrustPolicy, apply.Change{Before: c.Before}).Holds == apply.HoldsBefore {
				h.Holds = apply.HoldsBefore
			}
			h.Text = fmt.Sprintf("role %s with permissions boundary %q and trust policy %s", role.Name, cur.PermissionsBoundary, cur.TrustPolicy)
		}
		return h, nil
	}
	return s
}

func (e *Engine) permissionStep(cause Cause, client iamAPI, roles *inventory.Roles, account string, role desired.Role) apply.Step {
	target := role.ARN + "/policy/" + role.PolicyName
	s := step(e.roleLeaseKey(account), audit.Target{ARN: target, AccountID: account, Kind: KindRoleInlinePolicy, Name: role.Name}, cause)
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		cur, err := roles.Role(ctx, role.Name, role.PolicyName)
		if err != nil {
			return apply.Change{}, fmt.Errorf("reading role policy (%s): %w", target, err)
		}
		return e.planPermission(role, cur)
	}
	s.Write = func(ctx context.Context, c apply.Change) error {
		if c.Op == plan.OpDeleteDocument {
			if _, err := client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(role.PolicyName)}); err != nil {
				return fmt.Errorf("deleting role policy (%s): %w", target, err)
			}
			return nil
		}
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(role.PolicyName), PolicyDocument: aws.String(c.After)}); err != nil {
			return fmt.Errorf("putting role policy (%s): %w%s", target, err, noRoomHint(err, role))
		}
		return nil
	}
	s.Reread = apply.DocumentReread(func(ctx context.Context) (string, error) {
		cur, err := roles.Role(ctx, role.Name, role.PolicyName)
		if err != nil {
			return "", fmt.Errorf("reading role policy (%s): %w", target, err)
		}
		return cur.InlinePolicies[role.PolicyName], nil
	})
	return s
}
