package lambdalocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// builds memoises BuildHost per package and output directory, so the tests
// of one binary build each function once however many of them ask.
var builds sync.Map // buildKey -> *build

type buildKey struct{ pkg, outDir string }

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildHost builds the Lambda package pkg (an import path such as
// github.com/ecr-warden/ecr-warden/functions/repository, or a directory
// relative to the working directory such as ./functions/repository) for this
// host, with the flags `make build` uses for Lambda (-tags lambda.norpc
// -trimpath -ldflags='-s -w', CGO_ENABLED=0), into outDir/<name>/bootstrap,
// where name is the package's last path element. Lambda runs arm64 but this
// host may not, so local runs use a host build of the same source.
//
// Within one process the result is cached per (pkg, outDir); call it from
// TestMain, or from each test, at the cost of one build.
func BuildHost(ctx context.Context, pkg, outDir string) (string, error) {
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return "", fmt.Errorf("building %s: output directory (%s): %w", pkg, outDir, err)
	}
	v, _ := builds.LoadOrStore(buildKey{pkg, absOut}, &build{})
	b := v.(*build)
	b.once.Do(func() { b.path, b.err = buildHost(ctx, pkg, absOut) })
	return b.path, b.err
}

func buildHost(ctx context.Context, pkg, outDir string) (string, error) {
	name := path.Base(pkg)
	if strings.HasPrefix(pkg, ".") || filepath.IsAbs(pkg) {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			return "", fmt.Errorf("building %s: %w", pkg, err)
		}
		name = filepath.Base(abs)
	}
	out := filepath.Join(outDir, name, "bootstrap")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("building %s: creating %s: %w", pkg, filepath.Dir(out), err)
	}
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s for the host (%s): %w\n%s", pkg, strings.Join(cmd.Args, " "), err, output.String())
	}
	return out, nil
}

// ModuleRoot is the nearest directory at or above the working directory that
// holds go.mod: where BuildHost's package paths and the project's files
// (events/, infra/declaration.json) are found when a tool runs from the checkout.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the module root: no go.mod at or above the working directory (run from the ecr-warden checkout)")
		}
		dir = parent
	}
}
