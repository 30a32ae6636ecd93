package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tableAPI is what CreateTable needs: create, wait until active, enable TTL.
type tableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ tableAPI = (*dynamodb.Client)(nil)

// CreateTables creates the lease table in cfg's region and in each of
// regions, for local runs whose declaration names several hub regions: each
// hub region's stack has its own lease table, and a function takes a
// document's lease in its own region's table (Regional).
func CreateTables(ctx context.Context, cfg aws.Config, name string, regions []string) error {
	all := append([]string{cfg.Region}, regions...)
	slices.Sort(all)
	for _, r := range slices.Compact(all) {
		if err := CreateTable(ctx, dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.Region = r }), name); err != nil {
			return fmt.Errorf("in %s: %w", r, err)
		}
	}
	return nil
}

// CreateTable creates the lease table for local runs and tests (in AWS the
// CDK stack owns it with the same schema): key AttrPK (S) only, on-demand
// billing, TTL on AttrExpiresAt. An existing table is left as it is.
func CreateTable(ctx context.Context, db tableAPI, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating lease table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("waiting for lease table %s to become active: %w", name, err)
	}
	if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpiresAt), Enabled: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("enabling TTL on lease table %s: %w", name, err)
	}
	return nil
}
