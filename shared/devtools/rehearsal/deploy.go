package rehearsal

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// bootstrapVersionParameter is what `cdk bootstrap` leaves in every environment and every
// synthesized template reads (its BootstrapVersion parameter).
const (
	bootstrapVersionParameter = "/cdk-bootstrap/hnb659fds/version"
	bootstrapVersion          = "30"
)

// assetManifest is the part of <stack>.assets.json the rehearsal publishes: files (the template
// and zipped directories) and where each goes.
type assetManifest struct {
	Files map[string]struct {
		Source struct {
			Path      string `json:"path"`
			Packaging string `json:"packaging"`
		} `json:"source"`
		Destinations map[string]struct {
			BucketName string `json:"bucketName"`
			ObjectKey  string `json:"objectKey"`
		} `json:"destinations"`
	} `json:"files"`
}

// bootstrapEnvironment does what `cdk bootstrap` would for the rehearsal: the assets bucket and the
// version parameter in account/region.
func (r *run) bootstrapEnvironment(ctx context.Context, cfg aws.Config, account string) error {
	bucket := fmt.Sprintf("cdk-hnb659fds-assets-%s-%s", account, cfg.Region)
	if err := r.s3(ctx, cfg, http.MethodPut, bucket, "", nil); err != nil {
		return fmt.Errorf("bootstrapping %s/%s: creating bucket %s: %w", account, cfg.Region, bucket, err)
	}
	_, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(bootstrapVersionParameter),
		Value: aws.String(bootstrapVersion), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("bootstrapping %s/%s: version parameter: %w", account, cfg.Region, err)
	}
	return nil
}

// publishAssets uploads every file asset of stack (zipping directories as cdk-assets does) to the
// account's bootstrap bucket.
func (r *run) publishAssets(ctx context.Context, cfg aws.Config, dir, account, stack string) error {
	raw, err := os.ReadFile(filepath.Join(dir, stack+".assets.json"))
	if err != nil {
		return fmt.Errorf("reading the asset manifest of %s: %w", stack, err)
	}
	var m assetManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decoding the asset manifest of %s: %w", stack, err)
	}
	for hash, f := range m.Files {
		src := filepath.Join(dir, f.Source.Path)
		var body []byte
		if f.Source.Packaging == "zip" {
			body, err = zipDir(src)
		} else {
			body, err = os.ReadFile(src)
		}
		if err != nil {
			return fmt.Errorf("packaging asset %s of %s: %w", hash, stack, err)
		}
		for _, d := range f.Destinations {
			bucket := strings.NewReplacer("${AWS::AccountId}", account, "${AWS::Region}", cfg.Region, "${AWS::Partition}", "aws").Replace(d.BucketName)
			if err := r.s3(ctx, cfg, http.MethodPut, bucket, d.ObjectKey, body); err != nil {
				return fmt.Errorf("uploading asset %s of %s to s3://%s/%s: %w", hash, stack, bucket, d.ObjectKey, err)
			}
		}
	}
	return nil
}

// zipDir zips a directory the way Lambda expects it (files at the root, modes kept, so bootstrap
// stays executable).
func zipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name, h.Method = filepath.ToSlash(rel), zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// s3 makes one signed path-style S3 request on the local AWS. The project's pinned SDK has no S3
// client that resolves here, and the rehearsal needs only bucket creation, object upload and
// download, so the request is signed with the SDK's own SigV4 signer (the local AWS picks the
// account from the signature's access key, as AWS does).
func (r *run) s3(ctx context.Context, cfg aws.Config, method, bucket, key string, body []byte) error {
	_, err := r.signed(ctx, cfg, "s3", method, "/"+bucket+"/"+key, body)
	return err
}

// signed sends one SigV4-signed request for service to the local AWS and returns the body of a
// 2xx answer.
func (r *run) signed(ctx context.Context, cfg aws.Config, service, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, service, cfg.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, firstLine(string(out)))
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// deployedStack is one stack the rehearsal created, with what the emulator skipped.
type deployedStack struct {
	Name    string
	Account string
	Region  string
	// Created counts the template's resources the emulator created.
	Created int
	// Skipped lists "<type> <logical id>" for template resources the emulator did not create.
	Skipped []string
}

// createStack creates stack name from its template body as account, waits until it is complete
// and lists the resources of the template the emulator left out.
func (r *run) createStack(ctx context.Context, cfg aws.Config, account, name string, template []byte) (deployedStack, error) {
	cfn := cloudformation.NewFromConfig(cfg)
	_, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(string(template)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam},
	})
	if err != nil {
		return deployedStack{}, fmt.Errorf("creating stack %s in %s/%s: %w", name, account, cfg.Region, err)
	}
	ds := deployedStack{Name: name, Account: account, Region: cfg.Region}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
		if err != nil {
			return ds, fmt.Errorf("describing stack %s: %w", name, err)
		}
		st := out.Stacks[0]
		if st.StackStatus == cfntypes.StackStatusCreateComplete {
			break
		}
		if !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") || time.Now().After(deadline) {
			return ds, fmt.Errorf("stack %s in %s/%s: %s %s", name, account, cfg.Region, st.StackStatus, aws.ToString(st.StackStatusReason))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := r.disableEventSourceMappings(ctx, cfg); err != nil {
		return ds, fmt.Errorf("stack %s: %w", name, err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type      string `json:"Type"`
			Condition string `json:"Condition"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(template, &tmpl); err != nil {
		return ds, fmt.Errorf("decoding the template of %s: %w", name, err)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(name)})
	if err != nil {
		return ds, fmt.Errorf("listing the resources of %s: %w", name, err)
	}
	got := map[string]bool{}
	for _, sr := range res.StackResources {
		got[aws.ToString(sr.LogicalResourceId)] = true
	}
	for id, tr := range tmpl.Resources {
		switch {
		case got[id]:
			ds.Created++
		case tr.Condition != "":
			// Left out by its condition (e.g. the execution role outside the primary region): as in AWS.
		default:
			ds.Skipped = append(ds.Skipped, tr.Type+" "+id)
		}
	}
	sort.Strings(ds.Skipped)
	return ds, nil
}

// deleteStack deletes stack name and waits until it is gone.
func (r *run) deleteStack(ctx context.Context, cfg aws.Config, name string) error {
	cfn := cloudformation.NewFromConfig(cfg)
	if _, err := cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(name)}); err != nil {
		return fmt.Errorf("deleting stack %s: %w", name, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
		if err != nil || len(out.Stacks) == 0 || out.Stacks[0].StackStatus == cfntypes.StackStatusDeleteComplete {
			return nil // moto answers ValidationError for a deleted stack, as AWS does
		}
		if st := out.Stacks[0].StackStatus; !strings.HasSuffix(string(st), "_IN_PROGRESS") || time.Now().After(deadline) {
			return fmt.Errorf("deleting stack %s: %s %s", name, st, aws.ToString(out.Stacks[0].StackStatusReason))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// disableEventSourceMappings turns off the local AWS's own SQS event source
// mappings of the account and region: the rehearsal is the event source
// mapping (localrun.Drain delivers the work queue to the deployed worker),
// while the emulator's receives every queued message on each send, cannot
// invoke the function, and so counts receives toward the dead-letter
// queue's limit (five sends after a message dead-lettered it).
func (r *run) disableEventSourceMappings(ctx context.Context, cfg aws.Config) error {
	raw, err := r.signed(ctx, cfg, "lambda", http.MethodGet, "/2015-03-31/event-source-mappings/", nil)
	if err != nil {
		return fmt.Errorf("listing event source mappings: %w", err)
	}
	var list struct {
		EventSourceMappings []struct {
			UUID  string `json:"UUID"`
			State string `json:"State"`
		} `json:"EventSourceMappings"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decoding the event source mappings: %w", err)
	}
	for _, m := range list.EventSourceMappings {
		if _, err := r.signed(ctx, cfg, "lambda", http.MethodPut, "/2015-03-31/event-source-mappings/"+m.UUID, []byte(`{"Enabled":false}`)); err != nil {
			return fmt.Errorf("disabling event source mapping %s: %w", m.UUID, err)
		}
	}
	return nil
}
