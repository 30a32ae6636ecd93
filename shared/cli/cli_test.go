package cli

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	// Defines -update, so `go test ./... -update` runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// A mistake in a command line is one message naming it, every flag and how make passes them; -h
// is the full usage. Before, an unknown flag printed "flag provided but not defined" above the
// flag package's usage dump, whose first line named the temporary binary go run built.
func TestParseSaysWhatIsWrongAndWhatToDo(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
		fs.String("declaration", "infra/declaration.json", "the declaration")
		fs.Bool("json", false, "JSON")
		return fs
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-bogus"}, []string{"doctor: flag provided but not defined: -bogus", "its flags: -declaration -json", `make doctor ARGS="..."`}},
		{[]string{"-json=maybe"}, []string{"doctor: invalid boolean value", "-json"}},
		{[]string{"-declaration"}, []string{"flag needs an argument: -declaration"}},
		{[]string{"-json", "extra"}, []string{`doctor: unexpected argument "extra": flags start with -`}},
	} {
		var help strings.Builder
		err := Parse(newFS(), c.args, &help, `make doctor ARGS="..."`)
		var u UsageError
		if !errors.As(err, &u) {
			t.Fatalf("%v: got %v, want a UsageError", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(u.Msg, w) {
				t.Errorf("%v: %q lacks %q", c.args, u.Msg, w)
			}
		}
		if strings.Contains(u.Msg, "\n") || help.Len() > 0 {
			t.Errorf("%v: want one line and no usage dump, got %q and %q", c.args, u.Msg, help.String())
		}
	}
	var help strings.Builder
	if err := Parse(newFS(), []string{"-h"}, &help, ""); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(help.String(), "Usage of doctor:\n") ||
		!strings.Contains(help.String(), "-declaration string") {
		t.Errorf("-h: %v, usage %q", err, help.String())
	}
	if err := Parse(newFS(), []string{"-json", "-declaration", "x.json"}, &help, ""); err != nil {
		t.Errorf("good flags: %v", err)
	}
}

// A declaration path that names no file (mistyped, or DECLARATION= left empty) says how to name one.
func TestMissingFileSaysHowToNameOne(t *testing.T) {
	_, err := os.ReadFile(filepath.Join(t.TempDir(), "nosuch.json"))
	if got := MissingFile(err, "make plan DECLARATION=<file>"); !strings.Contains(got, "nosuch.json") ||
		!strings.HasSuffix(got, "(no such file: name an existing one with make plan DECLARATION=<file>)") {
		t.Errorf("missing file: %q", got)
	}
	other := errors.New("declaration x.json: hub.accountId: want 12 digits")
	if got := MissingFile(other, "make plan DECLARATION=<file>"); got != other.Error() {
		t.Errorf("another error changed: %q", got)
	}
}
