// Command account is the Lambda function that follows accounts through the
// organization: when an account is created (CreateAccountResult SUCCEEDED),
// joins (AccountJoinedOrganization), is vended or updated by Control Tower
// (CreateManagedAccount, UpdateManagedAccount), moves between OUs
// (MoveAccount), or leaves (AccountDepartedOrganization,
// RemoveAccountFromOrganization), it converges that one account's
// pull-through-cache setup and the hub's grants to it through the shared
// reconcile engine, within the one invocation.
//
// This file is wiring only; the decision logic is handler.handle.
package main

import (
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// spec names the function and every WARDEN_ variable it reads.
// Organizations answers only in the management account, where its events
// arrive, so the function reads it through the reader role. A moved
// account's repositories go to the worker through the work queue.
var spec = function.Spec{
	Name: trigger.FnAccount,
	Env:  []string{function.DeclarationFile, function.AuditTable, function.LeaseTable, function.OrgRoleARN, function.WorkQueueURL},
}

func main() {
	function.Run(spec, func(e *function.Env) any { return function.Raw(handlerFor(e).handle) })
}

// handlerFor builds the handler around what lives for the execution
// environment.
func handlerFor(e *function.Env) *handler {
	return &handler{decl: e.Decl, engine: e.Engine, trail: e.Trail, log: e.Log, region: e.AWS.Region}
}
