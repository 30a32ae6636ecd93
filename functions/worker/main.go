// Command worker is the Lambda function that consumes the backfill's work
// queue: each SQS message is one unit (one account in one region, with the
// part of the organization its documents depend on), converged fully by the
// shared reconcile engine. Failed units are reported as batch item failures,
// so SQS retries only them and dead-letters a unit that keeps failing while
// the rest of the run completes.
//
// This file is wiring only; the decisions are in handler.go.
package main

import (
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// spec names the function and every WARDEN_ variable it reads. The backfill
// walked the organization once and every unit carries what it needs; the
// worker reads the organization (WARDEN_ORG_ROLE_ARN) for a member unit's
// own account (reconcile.Engine.VerifyUnits: its units come from outside
// the process) and again whole for a unit whose accounts are older than
// reconcile.WorkFreshFor, a retry or a redrive that must not grant an
// account that left since. It sends to its own queue
// (WARDEN_WORK_QUEUE_URL) the rest of a unit that stopped before its
// deadline (reconcile.Engine.UnitReserve).
var spec = function.Spec{
	Name: trigger.FnWorker,
	Env:  []string{function.DeclarationFile, function.AuditTable, function.LeaseTable, function.OrgRoleARN, function.WorkQueueURL},
}

func main() {
	function.Run(spec, func(e *function.Env) any { return lambdaHandler(handlerFor(e)) })
}

// handlerFor builds the handler around what lives for the execution
// environment.
func handlerFor(e *function.Env) *handler {
	engine := *e.Engine
	engine.UnitReserve = reconcile.DefaultUnitReserve // a unit resumes rather than run out of time
	engine.VerifyUnits = true                         // a unit's entry for its own account is read from the organization
	engine.CountsOnly = true                          // the log line and summary record carry counts: no diff per write held
	return &handler{decl: e.Decl, engine: &engine, queue: e.Engine.Queue, trail: e.Trail, log: e.Log}
}
