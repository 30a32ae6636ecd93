// Package cli parses the command lines of the operator's tools (make audit, doctor, plan, invoke,
// demo, emulator, backfill LOCAL=1, bench) the same way: a mistake is one message that says what
// is wrong and what to do, not the flag package's usage dump, which lists every flag and leaves
// the reader to find the one that matters.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// UsageError is a mistake in the command line: the tools exit 2 with its message.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Parse parses args into fs. -h and -help print fs's full usage to help and return
// flag.ErrHelp. Any other mistake (an unknown flag, a bad value, a stray argument) returns a
// UsageError naming it, the flags fs has, and how to pass them: make, when not empty, is how
// the make target takes flags (e.g. `make audit ARGS="-json"`).
func Parse(fs *flag.FlagSet, args []string, help io.Writer, make string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		// Not fs.Usage: flag.CommandLine's names os.Args[0], the temporary binary of go run.
		fs.SetOutput(help)
		fmt.Fprintf(help, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return err
	}
	how := "-h describes each"
	if make != "" {
		how += "; through make: " + make
	}
	if err != nil {
		return UsageError{fmt.Sprintf("%s: %v (its flags: %s; %s)", fs.Name(), err, names(fs), how)}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Sprintf("%s: unexpected argument %q: flags start with - (its flags: %s; %s)", fs.Name(), fs.Arg(0), names(fs), how)}
	}
	return nil
}

// Main is Parse for a command's own flag.CommandLine, named name (not the temporary binary path
// go run gives os.Args[0]): on a mistake it prints the message to stderr and exits 2 (0 after -h).
func Main(name string, args []string, make string) {
	fs := flag.CommandLine
	fs.Init(name, flag.ContinueOnError)
	if err := Parse(fs, args, os.Stderr, make); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// MissingFile adds to a tool's message what to do when err is a file that does not exist (a
// mistyped or empty DECLARATION=): how names the variable or flag that takes the file.
func MissingFile(err error, how string) string {
	if errors.Is(err, fs.ErrNotExist) {
		return err.Error() + " (no such file: name an existing one with " + how + ")"
	}
	return err.Error()
}

func names(fs *flag.FlagSet) string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, "-"+f.Name) })
	return strings.Join(out, " ")
}
