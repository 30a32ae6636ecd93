package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootstrapChecks: each way a bootstrap can be wrong is refused with a message naming the file
// and the fix; every function's problems are reported together.
func TestBootstrapChecks(t *testing.T) {
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	root, err := newAssetRoot(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	bin := func(fn string) string { return filepath.Join(root, fn, "bootstrap") }
	if err := os.Chmod(bin(FnRepository), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin(FnAccount), elfHeader(MachineX8664), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin(FnWorker), []byte("#!/bin/sh\necho not a binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = d.CheckAssets(AssetCheck{Root: root, Machine: MachineAArch64})
	if err == nil {
		t.Fatal("broken bootstraps accepted")
	}
	for _, want := range []string{
		bin(FnRepository) + " is not executable (mode -rw-r--r--)",
		bin(FnAccount) + " is built for x86-64 (GOARCH=amd64), but the function runs on arm64 (GOARCH=arm64)",
		bin(FnWorker) + ` is not a Linux executable: no ELF header (starts with "#!/b")`,
		"run `make build DECLARATION=" + testDecl + "`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), bin(FnDrift)) || strings.Contains(err.Error(), bin(FnBackfill)) {
		t.Errorf("good bootstraps reported:\n%v", err)
	}
}

// TestStaleBootstrapIsRefused: a bootstrap older than a source file of its function is stale; one
// older only than another function's sources is not.
func TestStaleBootstrapIsRefused(t *testing.T) {
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	root, err := newAssetRoot(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := newestSources(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range FunctionNames {
		s := src[fn]
		if !strings.HasSuffix(s.path, ".go") && !strings.HasSuffix(s.path, "go.mod") && !strings.HasSuffix(s.path, "go.sum") {
			t.Fatalf("%s: newest source %q", fn, s.path)
		}
		// Built after the newest source: fine.
		if err := os.Chtimes(filepath.Join(root, fn, "bootstrap"), s.mod.Add(time.Second), s.mod.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.CheckAssets(AssetCheck{Root: root, Machine: MachineAArch64, SourceRoot: repo}); err != nil {
		t.Fatalf("fresh bootstraps refused: %v", err)
	}
	old := src[FnDrift].mod.Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(root, FnDrift, "bootstrap"), old, old); err != nil {
		t.Fatal(err)
	}
	err = d.CheckAssets(AssetCheck{Root: root, Machine: MachineAArch64, SourceRoot: repo})
	want := filepath.Join(root, FnDrift, "bootstrap") + " is stale: " + src[FnDrift].path + " changed after it was built"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("stale bootstrap not reported as %q: %v", want, err)
	}
}
