package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// organizationNow is the organization as a plan of a document that lists
// accounts one by one must see it in region: the walk this execution
// environment keeps when no account event has marked the organization
// changed since it (one read of the generation token, OrgViews), else a new
// walk. notBefore is as in OrgViews.accounts. Without Views (tests, tools)
// it always walks.
func (e *Engine) organizationNow(ctx context.Context, region string, notBefore time.Time) ([]desired.Account, error) {
	walk := func(ctx context.Context) ([]inventory.Account, error) {
		walk, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
		return walk.Accounts, err
	}
	var accounts []inventory.Account
	var err error
	if e.Views != nil {
		accounts, err = e.Views.accounts(ctx, e.log(), region, notBefore, walk)
	} else {
		accounts, err = walk(ctx)
	}
	if err != nil {
		return nil, &walkError{err: err}
	}
	return toDesiredAll(accounts), nil
}

// fromOrganizationNow computes an event's owned statements of a document
// that lists accounts one by one from the organization as it is at each
// call (organizationNow), with self added when set (the document's own
// account, whose place the event already read). The executor plans a
// document once before its lease and again under it (apply.Step.Plan): an
// event that planned under the lease from a walk made before it would undo
// an account event that wrote in between (a departed account's grant back,
// a joined account's gone), as units once did
// (TestUnitDoesNotUndoAnAccountEventSinceItsWalk); with the generation
// token, the second read costs one DynamoDB call while no account event
// has changed the organization. A walk that fails fails the plan (the event
// is retried), it is not a refusal.
func (e *Engine) fromOrganizationNow(region string, self desired.Account, of func(*desired.State) []policy.Statement) func(ctx context.Context) ([]policy.Statement, error) {
	return func(ctx context.Context) ([]policy.Statement, error) {
		accounts, err := e.organizationNow(ctx, region, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("walking the organization for the accounts the document lists: %w", err)
		}
		if self.ID != "" {
			accounts = append([]desired.Account{self}, accounts...)
		}
		return of(desired.New(e.Decl, accounts)), nil
	}
}

// walkError is an owned-statements error that came from reading the
// organization (throttling, a lost connection): the plan fails and is
// retried, where an error reading the document's statements is a refusal.
type walkError struct{ err error }

func (w *walkError) Error() string { return w.err.Error() }
func (w *walkError) Unwrap() error { return w.err }

func walkFailed(err error) bool {
	var w *walkError
	return errors.As(err, &w)
}
