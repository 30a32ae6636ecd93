package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"

	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// Replaying a CreateRepository sample on a fresh local AWS first creates the
// repository it names, in its account and with its tags; a second replay
// finds it and creates nothing; other events seed nothing.
func TestSeedEventCreatesTheRepository(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	if err := srv.Reset(); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile("../../../../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var log bytes.Buffer
	for range 2 {
		for _, ev := range []string{"ecr-create-repository-api-member.json", "ecr-public-create-repository.json", "unrelated-s3-put-object.json", "ecr-create-repository-failed.json"} {
			if err := seedEvent(ctx, srv.URL, "us-east-1", read(ev), nil, &log); err != nil {
				t.Fatalf("%s: %v", ev, err)
			}
		}
	}
	if n := strings.Count(log.String(), "local AWS: created"); n != 2 {
		t.Errorf("created %d repositories, want 2 (then none on the replay):\n%s", n, log.String())
	}

	member, err := localaws.AccountConfig(ctx, srv.Config("us-east-1"), "222222222222", "ecr-warden-invoke")
	if err != nil {
		t.Fatal(err)
	}
	repos, err := ecr.NewFromConfig(member).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team-a/app"}})
	if err != nil {
		t.Fatalf("team-a/app not created in 222222222222: %v", err)
	}
	tags, err := ecr.NewFromConfig(member).ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: repos.Repositories[0].RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "share" || aws.ToString(tags.Tags[0].Value) != "org" {
		t.Errorf("tags = %+v, want share=org from the event's request", tags.Tags)
	}
	// An event the function will reject (its region is not declared)
	// creates nothing.
	decl, err := wconfig.Load("../../../../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	log.Reset()
	other := strings.ReplaceAll(string(read("ecr-create-repository-api-member.json")), "us-east-1", "ap-south-1")
	if err := seedEvent(ctx, srv.URL, "us-east-1", []byte(other), decl, &log); err != nil || !strings.Contains(log.String(), "creating nothing") {
		t.Fatalf("rejected event: %v\n%s", err, log.String())
	}
	south := member.Copy()
	south.Region = "ap-south-1"
	if out, err := ecr.NewFromConfig(south).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(out.Repositories) != 0 {
		t.Fatalf("a to-be-rejected event created %v (%v)", out, err)
	}
	hub, err := localaws.AccountConfig(ctx, srv.Config("us-east-1"), "111111111111", "ecr-warden-invoke")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ecrpublic.NewFromConfig(hub).DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{RepositoryNames: []string{"tools/scanner"}}); err != nil {
		t.Errorf("public tools/scanner not created in 111111111111: %v", err)
	}
}
