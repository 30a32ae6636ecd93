package app

import (
	"fmt"
	"regexp"

	"github.com/ecr-warden/ecr-warden/shared/install"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Names are the physical names of one installation. The member execution role and the organization
// reader trust the hub functions by role ARN (aws:PrincipalArn), and those trust policies live in
// other accounts where no CloudFormation reference can reach, so the function roles, the bus and
// the reader role get names that can be computed from the declaration and the prefix alone.
//
// Prefix (context namePrefix) makes every physical name and stack id of an installation its own,
// so two installations (staging beside production, or a reinstall beside a retained audit table)
// coexist in the same accounts. The zero value is the default installation: today's names.
type Names struct {
	// Prefix is "" (default names) or a short lowercase word such as "staging".
	Prefix string
}

// namePrefixPattern keeps every derived name within IAM's 64 characters and CloudFormation's and
// EventBridge's character sets.
var namePrefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// maxNamePrefix bounds the prefix so the longest role name (<prefix>-ecr-warden-repository-ap-southeast-2) fits.
const maxNamePrefix = 20

// Validate reports a prefix that would make an invalid or over-long name.
func (n Names) Validate() error {
	if n.Prefix == "" {
		return nil
	}
	if len(n.Prefix) > maxNamePrefix || !namePrefixPattern.MatchString(n.Prefix) {
		return fmt.Errorf("context %s: %q must be lowercase letters and digits, words joined by single hyphens, starting with a letter, at most %d characters",
			CtxNamePrefix, n.Prefix, maxNamePrefix)
	}
	return nil
}

// Base starts every physical name: "ecr-warden", or "<prefix>-ecr-warden".
func (n Names) Base() string {
	if n.Prefix == "" {
		return install.Base
	}
	return n.Prefix + "-" + install.Base
}

// Resource is the physical name <base>-<what> (tables, queues, rules, alarms).
func (n Names) Resource(what string) string { return n.Base() + "-" + what }

// StackID is the stack id (and CloudFormation stack name) of a stack whose default id is id.
func (n Names) StackID(id string) string {
	if n.Prefix == "" {
		return id
	}
	return n.Prefix + "-" + id
}

// Bus is the hub's custom event bus that members and the management account forward to.
func (n Names) Bus() string { return n.Base() }

// OrgReaderRole is the read-only role in the management account the hub functions assume.
func (n Names) OrgReaderRole() string { return n.Resource(install.OrgReaderRole) }

// StackSet is the service-managed StackSet that puts the execution role into members.
func (n Names) StackSet() string { return n.Resource("members") }

// SweepRule is the schedule rule of the sweep (events/scheduled-sweep.json carries the default).
func (n Names) SweepRule() string { return n.Resource("sweep") }

// Function is the Lambda function name of fn (regional, so the same in every hub region).
func (n Names) Function(fn string) string { return n.Resource(fn) }

// FunctionRole is the IAM role name of fn in region. IAM is global and every hub region has its own
// copy of each function, so the region is part of the name.
func (n Names) FunctionRole(fn, region string) string {
	return fmt.Sprintf("%s-%s-%s", n.Base(), fn, region)
}

// LogGroup is the log group of fn; Lambda writes to /aws/lambda/<function name> by default and the
// explicit group keeps that convention so operators find it where they expect.
func (n Names) LogGroup(fn string) string { return "/aws/lambda/" + n.Function(fn) }

// BusARN is the ARN of the hub bus in region.
func (n Names) BusARN(partition, region, account string) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:event-bus/%s", partition, region, account, n.Bus())
}

// Function names, as in functions/<name>: trigger's, the one list the route table, each function's
// main and the declaration's reservedConcurrency also use.
const (
	FnRepository = trigger.FnRepository
	FnAccount    = trigger.FnAccount
	FnBackfill   = trigger.FnBackfill
	FnWorker     = trigger.FnWorker
	FnDrift      = trigger.FnDrift
)

// FunctionNames lists every Lambda function of the hub, in a stable order (trigger.Functions).
var FunctionNames = trigger.Functions

// RoleARN is the ARN of role name in account.
func RoleARN(partition, account, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, name)
}
