// Command repository is the Lambda function that keeps repository policies as
// declared the moment a repository appears: it receives CreateRepository
// events (ECR private, by API call or created by ECR itself; ECR Public),
// in the hub or forwarded from members, and converges that one repository's
// policy through the shared reconcile engine. Tag changes (TagResource,
// UntagResource) re-converge the repository the same way, so tag-based grants
// follow at once; hand edits of its policy are drift's (trigger.Routes).
//
// This file is wiring only; the decision logic is handler.handle.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The runtime must hand the handler raw bytes (see handler.Invoke).
var _ lambda.Handler = (*handler)(nil)

// spec names the function and every WARDEN_ variable it reads. It reads the
// organization for OU-scoped grants, so it declares the reader role.
var spec = function.Spec{
	Name: trigger.FnRepository,
	Env:  []string{function.DeclarationFile, function.AuditTable, function.LeaseTable, function.OrgRoleARN},
}

func main() {
	function.Run(spec, func(e *function.Env) any { return handlerFor(e) })
}

// handlerFor builds the handler around what lives for the execution
// environment.
func handlerFor(e *function.Env) *handler {
	return &handler{decl: e.Decl, engine: e.Engine, trail: e.Trail, log: e.Log, region: e.AWS.Region}
}
