package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	ecrpublictypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"

	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// seedEvent makes the local AWS agree with a CreateRepository event before
// it is replayed: the event says the repository exists, but on a fresh
// emulator nothing created it, and the function would wait for it (as it
// does for ECR's asynchronous creation) and then fail. The repository is
// created in the event's account (moto switches account on assumed-role
// keys), with the tags the request carried, unless it already exists.
// Any other event is delivered as it is, and so is an event the function
// will reject (unparseable, a failed call, a region the declaration does
// not configure): replaying it must create nothing.
func seedEvent(ctx context.Context, endpoint, region string, event []byte, decl *wconfig.Declaration, stderr io.Writer) error {
	t, err := trigger.Parse(event)
	if err != nil || t.Trigger.EventName != "CreateRepository" {
		return nil
	}
	if decl != nil {
		if err := t.CheckRegion(decl.Hub.Regions); err != nil {
			fmt.Fprintf(stderr, "invoke: the event will be rejected (%v); creating nothing for it\n", err)
			return nil
		}
	}
	key, secret, token := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	if key == "" || secret == "" {
		key, secret, token = localAccessKey, localSecretKey, ""
	}
	cfg := aws.Config{
		Region:       t.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		BaseEndpoint: aws.String(endpoint),
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	// Whoever the caller is, act in the event's account (moto switches
	// account on assumed-role keys).
	if cfg, err = localaws.AccountConfig(ctx, cfg, t.AccountID, "ecr-warden-invoke"); err != nil {
		return err
	}
	switch t.Kind {
	case trigger.KindRepository:
		in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(t.Repository)}
		for _, tag := range requestTags(event) {
			in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)})
		}
		_, err = ecr.NewFromConfig(cfg).CreateRepository(ctx, in)
		var exists *ecrtypes.RepositoryAlreadyExistsException
		if errors.As(err, &exists) {
			return nil
		}
	case trigger.KindPublicRepository:
		_, err = ecrpublic.NewFromConfig(cfg).CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(t.Repository)})
		var exists *ecrpublictypes.RepositoryAlreadyExistsException
		if errors.As(err, &exists) {
			return nil
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating %s, which the event says was created: %w", t, err)
	}
	fmt.Fprintf(stderr, "invoke: local AWS: created %s, as the event says it was\n", t)
	return nil
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// requestTags reads detail.requestParameters.tags of a CloudTrail
// CreateRepository event; anything unreadable means no tags.
func requestTags(event []byte) []tag {
	var ev struct {
		Detail struct {
			RequestParameters struct {
				Tags []tag `json:"tags"`
			} `json:"requestParameters"`
		} `json:"detail"`
	}
	if json.Unmarshal(event, &ev) != nil {
		return nil
	}
	return ev.Detail.RequestParameters.Tags
}
