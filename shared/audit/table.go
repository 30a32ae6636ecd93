package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/install"
)

// tableAPI is what CreateTable needs: create, wait until active, enable TTL.
type tableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ tableAPI = (*dynamodb.Client)(nil)

// CreateTable creates the audit table with the schema the Trail expects,
// for local runs and tests (in AWS the CDK stack owns the table and must
// declare the same schema): pk/sk keys, the by-day, by-name and by-pending
// indexes (all projecting every attribute), on-demand billing, and TTL on
// expiresAt. An existing table is left as it is.
func CreateTable(ctx context.Context, db tableAPI, name string) error {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	gsi := func(index, hash string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{s(AttrPK), s(AttrSK), s(AttrDay), s(AttrName), s(AttrPending)},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(IndexByDay, AttrDay), gsi(IndexByName, AttrName), gsi(IndexByPending, AttrPending),
		},
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating audit table %s: %w", name, err)
	}
	if err := waitActive(ctx, db, name); err != nil {
		return err
	}
	if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpiresAt), Enabled: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("enabling TTL on audit table %s: %w", name, err)
	}
	return nil
}

// waitActive polls until the table is ACTIVE (moto is at once; AWS takes
// seconds), bounded by one minute.
func waitActive(ctx context.Context, db tableAPI, name string) error {
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("waiting for table %s to become active: %w", name, err)
	}
	return nil
}

// MissingTableHint is what to do when DynamoDB answers that table does not
// exist: AWS says only "Requested resource not found", which names neither
// the table nor where its name comes from, and a first-day operator meets it
// with a name prefix, a region, WARDEN_AUDIT_TABLE or credentials (another
// account's than the hub's) that are not the installation's.
func MissingTableHint(table string) string {
	return fmt.Sprintf("no audit table %s in this account and region: each hub region's stack (%s<region>) creates "+
		"%s there in the hub account (the declaration's hub.accountId: read it with that account's credentials), "+
		"<namePrefix>-%s with a name prefix; a function reads its name from "+
		"WARDEN_AUDIT_TABLE, which the stack sets; make audit reads WARDEN_AUDIT_TABLE (or -table) in AWS_REGION (or "+
		"-region, or -regions hub for every hub region); after make destroy, the retained table is imported "+
		"(README \"Uninstall / reinstall\")", table, install.HubStackIDPrefix, DefaultTable, DefaultTable)
}

// inTable adds MissingTableHint to err when it is DynamoDB's
// ResourceNotFoundException for the trail's table; any other error is
// returned as it is.
func inTable(table string, err error) error {
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return err
	}
	return fmt.Errorf("%w (%s)", err, MissingTableHint(table))
}
