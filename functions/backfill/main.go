// Command backfill is the Lambda function behind the manual backfill and the
// scheduled sweep. Its payload is a backfill request ({"action":"backfill",
// "targets":{...},"dryRun":...}) or the sweep schedule's Scheduled Event. It
// walks the organization once, decides the work units (one account in one
// region each) and then either plans them inline (dry run: the full plan comes
// back in the response and is recorded as planned) or sends one SQS message
// per unit to the worker, so no invocation grows with the organization.
//
// This file is wiring only; the decisions are in handler.go and units.go.
package main

import (
	"time"

	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// spec names the function and every WARDEN_ variable it reads. The lease
// table is among them although the backfill takes no lease: a full run
// remembers there the members it configured (retire.go), and the shared
// setup builds the lease client and refuses an empty name.
var spec = function.Spec{
	Name: trigger.FnBackfill,
	Env:  []string{function.DeclarationFile, function.AuditTable, function.LeaseTable, function.OrgRoleARN, function.WorkQueueURL},
}

func main() {
	function.Run(spec, func(e *function.Env) any { return function.Raw(handlerFor(e).handle) })
}

// handlerFor builds the handler around what lives for the execution
// environment; the fan-out sends with the engine's work queue.
func handlerFor(e *function.Env) *handler {
	return &handler{
		decl:    e.Decl,
		engine:  e.Engine,
		org:     e.Org,
		queue:   e.Engine.Queue,
		log:     e.Log,
		now:     time.Now,
		trail:   e.Trail,
		stale:   e.Trail,
		settler: e.Engine,
		members: e.Leases,
	}
}
