package app

import "fmt"

// Fixed names. The member execution role and the organization reader trust the hub functions by
// role ARN (aws:PrincipalArn), and those trust policies live in other accounts where no CloudFormation
// reference can reach, so the function roles, the bus and the reader role get names that can be
// computed from the declaration alone.
const (
	// BusName is the hub's custom event bus that members and the management account forward to.
	BusName = "ecr-warden"
	// OrgReaderRoleName is the read-only role in the management account the hub functions assume.
	OrgReaderRoleName = "ecr-warden-organization-reader"
	// StackSetName is the service-managed StackSet that puts the execution role into members.
	StackSetName = "ecr-warden-members"
	// SweepRuleName is the schedule rule of the sweep (events/scheduled-sweep.json carries it).
	SweepRuleName = "ecr-warden-sweep"
	// namePrefix starts every physical name this app sets.
	namePrefix = "ecr-warden"
)

// Function names, as in functions/<name>.
const (
	FnRepository = "repository"
	FnAccount    = "account"
	FnBackfill   = "backfill"
	FnWorker     = "worker"
	FnDrift      = "drift"
)

// FunctionNames lists every Lambda function of the hub, in a stable order.
var FunctionNames = []string{FnRepository, FnAccount, FnBackfill, FnWorker, FnDrift}

// FunctionName is the Lambda function name of fn (regional, so the same in every hub region).
func FunctionName(fn string) string { return namePrefix + "-" + fn }

// FunctionRoleName is the IAM role name of fn in region. IAM is global and every hub region has its
// own copy of each function, so the region is part of the name.
func FunctionRoleName(fn, region string) string {
	return fmt.Sprintf("%s-%s-%s", namePrefix, fn, region)
}

// RoleARN is the ARN of role name in account.
func RoleARN(partition, account, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, name)
}

// BusARN is the ARN of the hub bus in region.
func BusARN(partition, region, account string) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:event-bus/%s", partition, region, account, BusName)
}

// LogGroupName is the log group of fn; Lambda writes to /aws/lambda/<function name> by default and
// the explicit group keeps that convention so operators find it where they expect.
func LogGroupName(fn string) string { return "/aws/lambda/" + FunctionName(fn) }
