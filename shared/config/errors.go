package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with a declaration: where (a field path such as
// "grants[2].repositories[0]", or "line 3, column 7" for JSON syntax) and what.
type Problem struct {
	Path    string
	Message string
	// Line is where Path is in the declaration file (1-based; for a missing field, the line of
	// the object it belongs in); 0 when not known (Validate of a value, a one-line document).
	Line int
}

// String renders "path: message", or "path (line N): message" when the line is known.
// Path and message are each cut at maxProblemText bytes.
func (p Problem) String() string {
	path, msg := clipText(p.Path), clipText(p.Message)
	if p.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", path, p.Line, msg)
	}
	return path + ": " + msg
}

// maxProblemText bounds a problem's rendered path and message. Messages quote
// the value they refuse, and a declaration may hold a value of megabytes (a
// pasted file, a generated pattern): without a bound, one such value made a
// message as large, which a terminal, a CloudFormation synth error or a CI
// log shows badly or not at all. The longest message the checks write
// themselves (a list of choices) is well under it.
const maxProblemText = 2000

// clipText cuts s at maxProblemText bytes, on a rune boundary, and says how
// much was left out.
func clipText(s string) string {
	if len(s) <= maxProblemText {
		return s
	}
	cut := maxProblemText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d more bytes)", s[:cut], len(s)-cut)
}

// ValidationError carries every problem found in a declaration, in document order, so a user can
// fix them all at once instead of deploying once per mistake.
type ValidationError struct {
	Problems []Problem
}

// Error renders one line per problem: "path: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems accumulates Problems during validation.
type problems struct{ list []Problem }

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func key(path, k string) string { return fmt.Sprintf("%s[%q]", path, k) }
