package app

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/install"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// State is the hub's DynamoDB state: the audit trail (what ecr-warden decided and wrote, kept for
// auditors, so it is encrypted, point-in-time recoverable and protected from deletion) and the
// lease table (one writer per policy document; entries expire by TTL).
type State struct {
	constructs.Construct
	Audit awsdynamodb.Table
	Lease awsdynamodb.Table
}

// LeaseKey and LeaseExpiresAt are the lease table's key and TTL attribute: shared/lease's, the
// attributes the functions write (a lapsed lease is free anyway, so TTL may delete it).
const (
	LeaseKey       = lease.AttrPK
	LeaseExpiresAt = lease.AttrExpiresAt
)

// NewState creates both tables of region's hub stack. The schema of the audit table is
// shared/audit's (same constants), so the table the functions write to is the one
// shared/audit.CreateTable makes locally.
func NewState(scope constructs.Construct, id string, d *Declaration, region string) *State {
	n := d.Names
	c := constructs.NewConstruct(scope, &id)
	str := func(n string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(n), Type: awsdynamodb.AttributeType_STRING}
	}
	pitr := &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)}
	auditTable := awsdynamodb.NewTable(c, jsii.String("Audit"), &awsdynamodb.TableProps{
		TableName:                        jsii.String(n.Resource(install.AuditTable)),
		PartitionKey:                     str(audit.AttrPK),
		SortKey:                          str(audit.AttrSK),
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		PointInTimeRecoverySpecification: pitr,
		DeletionProtection:               jsii.Bool(true),
		TimeToLiveAttribute:              jsii.String(audit.AttrExpiresAt),
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
		ResourcePolicy:                   awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: auditGuard(d, region)}),
	})
	for _, ix := range []struct{ name, hash string }{
		{audit.IndexByDay, audit.AttrDay}, {audit.IndexByName, audit.AttrName}, {audit.IndexByPending, audit.AttrPending},
	} {
		auditTable.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.name),
			PartitionKey:   str(ix.hash),
			SortKey:        str(audit.AttrSK),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	lease := awsdynamodb.NewTable(c, jsii.String("Lease"), &awsdynamodb.TableProps{
		TableName:                        jsii.String(n.Resource("lease")),
		PartitionKey:                     str(LeaseKey),
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		PointInTimeRecoverySpecification: pitr,
		TimeToLiveAttribute:              jsii.String(LeaseExpiresAt),
		// Leases live seconds; losing the table loses nothing, so it may be replaced freely.
		RemovalPolicy:  awscdk.RemovalPolicy_DESTROY,
		ResourcePolicy: awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: leaseGuard(d, region)}),
	})
	return &State{Construct: c, Audit: auditTable, Lease: lease}
}

// Table item writes (TransactWriteItems is authorized as the actions it carries): what
// ecr-warden's functions call on the audit table (WriteAudit, CompleteAudit) and on the lease table
// (Lease), and the deletes, with their PartiQL forms.
var (
	itemWriteActions  = []string{"dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	itemDeleteActions = []string{"dynamodb:DeleteItem", "dynamodb:PartiQLDelete"}
)

// tableARN is the ARN of the table named what (Names.Resource) in region.
func tableARN(d *Declaration, region, what string) string {
	return fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", d.Hub.Partition, region, d.Hub.AccountID, d.Names.Resource(what))
}

// functionRoles are the ARNs of the function roles, in regions, whose Access does what uses says.
func functionRoles(d *Declaration, regions []string, uses func(Access) bool) []string {
	var out []string
	for _, region := range regions {
		for _, fn := range FunctionNames {
			if uses(FunctionAccess[fn]) {
				out = append(out, RoleARN(d.Hub.Partition, d.Hub.AccountID, d.Names.FunctionRole(fn, region)))
			}
		}
	}
	return out
}

// denyAllBut denies actions on resource to every principal, or, with allowed, to every principal
// but those roles: an explicit Deny in a resource policy (a queue's, a table's) holds whatever a
// principal's own identity policy allows (sqs:* or dynamodb:* on *, common for applications and
// operators of the hub account). One builder for every guard, so they cannot differ in how they
// name the roles they let through.
func denyAllBut(sid, resource string, actions, allowed []string) awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings(actions...),
		Resources:  jsii.Strings(resource),
	}
	if len(allowed) > 0 {
		props.Conditions = &map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": allowed}}
	}
	return awsiam.NewPolicyStatement(props)
}

// auditGuard is the audit table's resource policy: the trail is the evidence of what ecr-warden
// decided and wrote, so nobody but this region's functions that record decisions may write an item,
// and nobody at all may delete one (a record is never deleted; TTL expiry is DynamoDB's own). Reads
// stay with identity policies (make audit, the functions' ReadAudit).
func auditGuard(d *Declaration, region string) *[]awsiam.PolicyStatement {
	table := tableARN(d, region, "audit")
	return &[]awsiam.PolicyStatement{
		denyAllBut("OnlyEcrWardenRecords", table, itemWriteActions,
			functionRoles(d, []string{region}, func(a Access) bool { return a.WriteAudit || a.CompleteAudit })),
		denyAllBut("NobodyDeletesRecords", table, itemDeleteActions, nil),
	}
}

// leaseGuard is the lease table's resource policy: nobody but the functions that take leases, in
// every hub region (lease.Regional: a document's lease is taken in its region's table), and the
// backfill, which remembers there the members its full runs configured, may write or delete an
// item (a principal that rewrote that set could keep a member's retirement from ever running). Besides the leases, the table holds the hub registry policy's mailbox, whose
// entries ("account X is a member at OU path P") the next lease holder writes into the hub's grants
// as they are: any principal of the hub account allowed dynamodb:UpdateItem could otherwise post an
// account outside the organization there.
func leaseGuard(d *Declaration, region string) *[]awsiam.PolicyStatement {
	return &[]awsiam.PolicyStatement{
		denyAllBut("OnlyEcrWardenTakesLeases", tableARN(d, region, "lease"), sortedCopy(slices.Concat(itemDeleteActions, itemWriteActions)),
			functionRoles(d, d.Hub.Regions, func(a Access) bool { return a.Lease || a.RememberMembers })),
	}
}
