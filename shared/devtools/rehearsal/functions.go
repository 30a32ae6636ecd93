package rehearsal

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
)

// FunctionConfig is the part of a deployed function's configuration (lambda:GetFunctionConfiguration)
// the rehearsal runs it with.
type FunctionConfig struct {
	FunctionName  string
	Role          string
	Handler       string
	Runtime       string
	Timeout       int
	MemorySize    int
	Architectures []string
	Environment   struct {
		Variables map[string]string
	}
}

// taskRoot is where Lambda unpacks the code; the functions' environment names files under it.
const taskRoot = "/var/task"

// deployed is the running copies of the deployed functions.
type deployed struct {
	inst map[string]*lambdalocal.Instance
	cfg  map[string]FunctionConfig
}

func (d *deployed) close() {
	for _, i := range d.inst {
		i.Close()
	}
}

// startFunctions reads each deployed function's configuration back from the local AWS, downloads
// its code (the asset the stack deployed) and starts that bootstrap under the local Lambda runtime
// with exactly the configured environment (the task root mapped to where the code was unpacked)
// and with credentials of exactly the configured role.
func (r *run) startFunctions(ctx context.Context, rep *Report) (*deployed, error) {
	hub, err := r.config(ctx, r.org.Hub)
	if err != nil {
		return nil, err
	}
	code, err := r.functionCode()
	if err != nil {
		return nil, err
	}
	d := &deployed{inst: map[string]*lambdalocal.Instance{}, cfg: map[string]FunctionConfig{}}
	for _, fn := range functions {
		name := "ecr-warden-" + fn
		raw, err := r.signed(ctx, hub, "lambda", http.MethodGet, "/2015-03-31/functions/"+name+"/configuration", nil)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("reading the configuration of %s: %w", name, err)
		}
		var fc FunctionConfig
		if err := json.Unmarshal(raw, &fc); err != nil {
			d.close()
			return nil, fmt.Errorf("decoding the configuration of %s: %w", name, err)
		}
		rep.Functions[name] = fc
		dir := filepath.Join(r.dir, "task", fn)
		key := fmt.Sprintf("cdk-hnb659fds-assets-%s-%s/%s", r.org.Hub, Region, code[name])
		zipped, err := r.signed(ctx, hub, "s3", http.MethodGet, "/"+key, nil)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("downloading the code of %s (s3://%s): %w", name, key, err)
		}
		if err := unzip(zipped, dir); err != nil {
			d.close()
			return nil, fmt.Errorf("unpacking the code of %s: %w", name, err)
		}
		env := map[string]string{}
		for k, v := range fc.Environment.Variables {
			if strings.HasPrefix(v, taskRoot+"/") {
				v = filepath.Join(dir, strings.TrimPrefix(v, taskRoot+"/"))
			}
			env[k] = v
		}
		creds, err := sts.NewFromConfig(hub).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(fc.Role), RoleSessionName: aws.String(name)})
		if err != nil {
			d.close()
			return nil, fmt.Errorf("assuming the role of %s (%s): %w", name, fc.Role, err)
		}
		env["AWS_ACCESS_KEY_ID"] = aws.ToString(creds.Credentials.AccessKeyId)
		env["AWS_SECRET_ACCESS_KEY"] = aws.ToString(creds.Credentials.SecretAccessKey)
		env["AWS_SESSION_TOKEN"] = aws.ToString(creds.Credentials.SessionToken)
		env["AWS_ENDPOINT_URL"] = r.srv.URL
		env["AWS_MAX_ATTEMPTS"] = "2"
		inst, err := lambdalocal.Start(ctx, lambdalocal.Function{Name: name, Binary: filepath.Join(dir, fc.Handler), Env: env,
			Region: Region, AccountID: r.org.Hub, MemoryMB: fc.MemorySize, Timeout: time.Duration(fc.Timeout) * time.Second,
			InitTimeout: 2 * time.Minute})
		if err != nil {
			d.close()
			return nil, err
		}
		d.inst[fn], d.cfg[fn] = inst, fc
		r.printf("running deployed %s (%s, %s, role %s) with its %d environment variables\n", name, fc.Runtime,
			strings.Join(fc.Architectures, ","), fc.Role, len(fc.Environment.Variables))
	}
	return d, nil
}

// functionCode maps each function name to the S3 key of its code in the synthesized hub template.
func (r *run) functionCode() (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(r.out, "EcrWarden-Hub-"+Region+".template.json"))
	if err != nil {
		return nil, err
	}
	var t struct {
		Resources map[string]struct {
			Type       string `json:"Type"`
			Properties struct {
				FunctionName any
				Code         struct{ S3Key string }
			} `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, res := range t.Resources {
		if name, ok := res.Properties.FunctionName.(string); ok && res.Type == "AWS::Lambda::Function" {
			out[name] = res.Properties.Code.S3Key
		}
	}
	return out, nil
}

// unzip writes a Lambda code zip into dir, modes kept.
func unzip(data []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(path, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("zip entry %q leaves the task root", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
		if err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
