package lease

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// attrGeneration (S) is the item's token. It is random, not a counter: an
// item deleted by hand and written again never repeats an older value, so a
// walk can never be taken for newer than it is.
const attrGeneration = "token"

// attrChangedAt (N, Unix seconds) is when an account event last replaced
// the token.
const attrChangedAt = "changedAt"

// Generation is the organization's generation in one lease table.
type Generation struct {
	// Token changes with every account event.
	Token string
	// ChangedAt is when an account event last replaced Token; zero when
	// none has since the item was created.
	ChangedAt time.Time
}

// Generation is the organization's generation token in this table, created
// when missing. It reads with an update that keeps an existing token (the
// table's interface has no GetItem), which is strongly consistent, so a
// caller holding a lease sees every bump made before the lease was taken.
func (l *Leaser) Generation(ctx context.Context) (Generation, error) {
	out, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: GenerationKey}},
		UpdateExpression:          aws.String("SET #g = if_not_exists(#g, :g)"),
		ExpressionAttributeNames:  map[string]string{"#g": attrGeneration},
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": &types.AttributeValueMemberS{Value: token()}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return Generation{}, fmt.Errorf("lease: reading the organization generation (%s) in table %s: %w", GenerationKey, l.table, err)
	}
	g, ok := out.Attributes[attrGeneration].(*types.AttributeValueMemberS)
	if !ok || g.Value == "" {
		return Generation{}, fmt.Errorf("lease: the organization generation (%s) in table %s has no %s string", GenerationKey, l.table, attrGeneration)
	}
	gen := Generation{Token: g.Value}
	if at, ok := out.Attributes[attrChangedAt].(*types.AttributeValueMemberN); ok {
		secs, err := strconv.ParseInt(at.Value, 10, 64)
		if err != nil {
			return Generation{}, fmt.Errorf("lease: the organization generation (%s) in table %s has %s %q, not Unix seconds", GenerationKey, l.table, attrChangedAt, at.Value)
		}
		gen.ChangedAt = time.Unix(secs, 0)
	}
	return gen, nil
}

// BumpGeneration replaces the organization's generation token in this
// table: every walk made before it is no longer current for a later hold.
func (l *Leaser) BumpGeneration(ctx context.Context) error {
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: GenerationKey}},
		UpdateExpression:          aws.String("SET #g = :g, #c = :c"),
		ExpressionAttributeNames:  map[string]string{"#g": attrGeneration, "#c": attrChangedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": &types.AttributeValueMemberS{Value: token()}, ":c": seconds(ceilSecond(l.now()))},
	})
	if err != nil {
		return fmt.Errorf("lease: marking the organization changed (%s) in table %s: %w", GenerationKey, l.table, err)
	}
	return nil
}

// GenerationIn is Generation in region's lease table (the home table for a
// region the stack has none in).
func (r *Regional) GenerationIn(ctx context.Context, region string) (Generation, error) {
	return r.inRegion(region).Generation(ctx)
}

// BumpGenerationIn is BumpGeneration in region's lease table.
func (r *Regional) BumpGenerationIn(ctx context.Context, region string) error {
	return r.inRegion(region).BumpGeneration(ctx)
}

// GenerationIn is Generation: a single table serves every region (tests,
// local tools).
func (l *Leaser) GenerationIn(ctx context.Context, _ string) (Generation, error) {
	return l.Generation(ctx)
}

// BumpGenerationIn is BumpGeneration: a single table serves every region.
func (l *Leaser) BumpGenerationIn(ctx context.Context, _ string) error {
	return l.BumpGeneration(ctx)
}

func (r *Regional) inRegion(region string) *Leaser {
	if l := r.byRegion[region]; l != nil {
		return l
	}
	return r.byRegion[r.home]
}
