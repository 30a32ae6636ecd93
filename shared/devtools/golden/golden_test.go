package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for *testing.T so the failure messages Check produces can be asserted.
type recorder struct {
	testing.TB
	errors, fatals []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}

// withUpdate runs f with the -update flag forced to v, restoring the command-line value after.
func withUpdate(t *testing.T, v bool, f func()) {
	t.Helper()
	old := *update
	*update = v
	defer func() { *update = old }()
	f()
}

func TestCheckMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "same.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	withUpdate(t, false, func() { Check(r, path, []byte("{\n  \"a\": 1\n}\n")) })
	if len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("equal content reported: %v %v", r.errors, r.fatals)
	}
}

func TestCheckDiffersNamesFileLineAndCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	withUpdate(t, false, func() { Check(r, path, []byte("{\n  \"a\": 2\n}\n")) })
	if len(r.errors) != 1 || len(r.fatals) != 0 {
		t.Fatalf("want one error, got errors %v fatals %v", r.errors, r.fatals)
	}
	msg := r.errors[0]
	for _, want := range []string{path, "line 2", `got:  "  \"a\": 2"`, `want: "  \"a\": 1"`, "go test ./... -update", "git diff " + path} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestCheckMissingFileTellsHowToCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.golden")
	r := &recorder{}
	withUpdate(t, false, func() { Check(r, path, []byte("x\n")) })
	if len(r.fatals) == 0 || !strings.Contains(r.fatals[0], path) || !strings.Contains(r.fatals[0], "go test ./... -update") {
		t.Fatalf("want a fatal naming %s and the -update command, got %v", path, r.fatals)
	}
}

func TestCheckUpdateWritesCreatingDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "nested", "new.golden")
	r := &recorder{}
	withUpdate(t, true, func() { Check(r, path, []byte("fresh\n")) })
	if len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("update reported: %v %v", r.errors, r.fatals)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "fresh\n" {
		t.Fatalf("golden file after -update = %q, %v; want %q", b, err, "fresh\n")
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		name, got, want string
		say             []string
	}{
		{"extra line", "a\nb\n", "a\n", []string{"line 2", `got:  "b"`, "want: (end of file)", "got 2 lines, golden has 1 lines"}},
		{"missing line", "a\n", "a\nb\n", []string{"line 2", "got:  (end of file)", `want: "b"`}},
		{"changed first line", "x\ny\n", "z\ny\n", []string{"line 1", `got:  "x"`, `want: "z"`}},
		{"final newline only", "a\nb", "a\nb\n", []string{"only the final newline differs"}},
	}
	for _, c := range cases {
		msg := describe([]byte(c.got), []byte(c.want))
		for _, want := range c.say {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: describe lacks %q:\n%s", c.name, want, msg)
			}
		}
	}
}
