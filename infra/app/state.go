package app

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
)

// State is the hub's DynamoDB state: the audit trail (what ecr-warden decided and wrote, kept for
// auditors, so it is encrypted, point-in-time recoverable and protected from deletion) and the
// lease table (one writer per policy document; entries expire by TTL).
type State struct {
	constructs.Construct
	Audit awsdynamodb.Table
	Lease awsdynamodb.Table
}

// LeaseKey and LeaseExpiresAt are the lease table's key and TTL attribute (contract.md).
const (
	LeaseKey       = "pk"
	LeaseExpiresAt = "expiresAt"
)

// NewState creates both tables. The schema of the audit table is shared/audit's (same constants),
// so the table the functions write to is the one shared/audit.CreateTable makes locally.
func NewState(scope constructs.Construct, id string, n Names) *State {
	c := constructs.NewConstruct(scope, &id)
	str := func(n string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(n), Type: awsdynamodb.AttributeType_STRING}
	}
	pitr := &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)}
	auditTable := awsdynamodb.NewTable(c, jsii.String("Audit"), &awsdynamodb.TableProps{
		TableName:                        jsii.String(n.Resource("audit")),
		PartitionKey:                     str(audit.AttrPK),
		SortKey:                          str(audit.AttrSK),
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		PointInTimeRecoverySpecification: pitr,
		DeletionProtection:               jsii.Bool(true),
		TimeToLiveAttribute:              jsii.String(audit.AttrExpiresAt),
		RemovalPolicy:                    awscdk.RemovalPolicy_RETAIN,
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
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	return &State{Construct: c, Audit: auditTable, Lease: lease}
}
