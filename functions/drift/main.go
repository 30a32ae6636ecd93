// Command drift is the Lambda function that reacts to hand edits of the
// documents ecr-warden manages: repository and registry policies, pull-through
// cache rules, the PTC role's trust and inline policies, and ECR Public
// repository policies. Each CloudTrail event re-converges just the resource it
// names, so foreign statements added by hand stay and owned statements removed
// or changed by hand come back, with the audit trail naming who changed them.
// ecr-warden's own writes (recognised by the acting role) are recorded and
// never trigger another write, so the function cannot loop.
//
// This file is wiring only; the decisions are in handler.go.
package main

import (
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// spec names the function and every WARDEN_ variable it reads.
var spec = function.Spec{
	Name: trigger.FnDrift,
	Env:  []string{function.DeclarationFile, function.AuditTable, function.LeaseTable, function.OrgRoleARN, function.SelfRoleNames, function.WorkQueueURL},
}

func main() {
	function.Run(spec, func(e *function.Env) any { return function.Raw(handlerFor(e).handle) })
}

// handlerFor builds the handler around what lives for the execution
// environment, plus the role names whose writes are ecr-warden's own.
func handlerFor(e *function.Env) *handler {
	engine := *e.Engine
	engine.Self = trigger.SelfWriters{Partition: e.Decl.Hub.Partition, HubAccount: e.Decl.Hub.AccountID,
		HubRoles: hubRoles(e.Spec.Var(function.SelfRoleNames)), MemberRole: e.Decl.MemberRoleName}
	return &handler{decl: e.Decl, engine: &engine, trail: e.Trail, log: e.Log, region: e.AWS.Region}
}

// hubRoles are the hub functions' own role names from
// WARDEN_SELF_ROLE_NAMES (a comma list); their sessions are ecr-warden only
// in the hub account, the member execution role's only in the account an
// event is about (trigger.SelfWriters).
func hubRoles(env string) []string {
	var out []string
	for _, n := range strings.Split(env, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
