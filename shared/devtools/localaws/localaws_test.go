package localaws

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A fixed port that something already holds is refused before moto starts, saying what to do.
// Before, the holder (here a bare listener; in practice another make emulator) answered the
// readiness check, Start reported ready on it, and make emulator then said only "moto exited on
// its own: exit status 1".
func TestStartOnAPortInUseSaysSo(t *testing.T) {
	Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := Start(context.Background(), Options{Port: port})
	if err == nil {
		s.Stop()
		t.Fatalf("Start on port %d, which a listener holds, succeeded", port)
	}
	for _, want := range []string{"is in use", "EMULATOR_PORT=<port>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestStartResetStop(t *testing.T) {
	Need(t)
	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c := ecr.NewFromConfig(s.Config("us-east-1"))
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a/b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Repositories) != 0 {
		t.Fatalf("after reset: %d repositories, want 0", len(out.Repositories))
	}
}

// TestDynamoDBApart: with DynamoDB apart, one endpoint serves every service;
// DynamoDB's state lives in the second process only, a conditional write
// still refuses a second winner, and Reset wipes both processes.
func TestDynamoDBApart(t *testing.T) {
	Need(t)
	ctx := context.Background()
	s, err := Start(ctx, Options{DynamoDBApart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	cfg := s.Config("us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	put := func() error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"),
			Item:                map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "registry"}},
			ConditionExpression: aws.String("attribute_not_exists(pk)")})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	var lost *dbtypes.ConditionalCheckFailedException
	if err := put(); !errors.As(err, &lost) {
		t.Errorf("second conditional put: %v, want ConditionalCheckFailedException", err)
	}
	if _, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a/b")}); err != nil {
		t.Fatal(err)
	}
	direct := cfg.Copy()
	direct.BaseEndpoint = aws.String(s.motoURL())
	tables, err := dynamodb.NewFromConfig(direct).ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables.TableNames) != 0 {
		t.Errorf("the first process holds tables %v: want DynamoDB only in the second", tables.TableNames)
	}
	// A proxy in front of it counts both services and reaches both processes.
	p := NewServerProxy(s)
	defer p.Close()
	via := p.Config("us-east-1")
	if out, err := dynamodb.NewFromConfig(via).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || len(out.TableNames) != 1 {
		t.Errorf("tables through the proxy: %v (%v), want [leases]", out, err)
	}
	if out, err := ecr.NewFromConfig(via).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(out.Repositories) != 1 {
		t.Errorf("repositories through the proxy: %v (%v), want [a/b]", out, err)
	}
	if c := p.Counts(); c["ListTables"] != 1 || c["DescribeRepositories"] != 1 {
		t.Errorf("proxy counted %v", c)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if out, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || len(out.TableNames) != 0 {
		t.Errorf("after reset: tables %v (%v), want none", out, err)
	}
	if out, err := ecr.NewFromConfig(cfg).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(out.Repositories) != 0 {
		t.Errorf("after reset: repositories %v (%v), want none", out, err)
	}
}

// TestRetriedCallIsAnsweredOnce: a call the harness retries (same call id)
// gets the answer the local AWS already gave, instead of acting twice.
func TestRetriedCallIsAnsweredOnce(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	sameID := func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("fixedCallID", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			in.Request.(*smithyhttp.Request).Header.Set(callIDHeader, "retried-call")
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	}
	c := ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.APIOptions = append(o.APIOptions, sameID) })
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a/once")}); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	// A new call (its own id) acts: the repository exists.
	_, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a/once")})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("a new create of the same name: %v, want RepositoryAlreadyExistsException", err)
	}
}
