package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Diff renders the change for a human: a header line, the reason, then one
// entry per statement: "=" kept unchanged, "+" added, "-" removed, "~"
// changed (with a line diff of the statement's indented JSON). Statements
// are matched by Sid; statements without a Sid by position and text. The
// backfill dry run prints this, and the golden files hold it.
func (c Change) Diff() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", c.Op, c.Kind, c.Target)
	fmt.Fprintf(&b, "  reason: %s\n", c.Reason)
	before := statementsOf(c.Before)
	after := statementsOf(c.After)

	key := func(i int, s policy.Statement) string {
		if s.Sid != "" {
			return "sid:" + s.Sid
		}
		raw, _ := json.Marshal(s)
		return "text:" + string(raw)
	}
	label := func(i int, s policy.Statement) string {
		if s.Sid != "" {
			return fmt.Sprintf("%+q", s.Sid) // a look-alike of an owned Sid reads escaped
		}
		return fmt.Sprintf("(no Sid, #%d)", i)
	}
	// Statements sharing a key (a Sid given twice, identical statements
	// without one) are matched one to one, an equivalent one first, so a
	// statement kept as it is never reads as changed and a duplicate the
	// write drops reads as removed.
	byKey := make(map[string][]int, len(before))
	for i, s := range before {
		k := key(i, s)
		byKey[k] = append(byKey[k], i)
	}
	used := make([]bool, len(before))
	match := func(k string, s policy.Statement) int {
		first := -1
		for _, i := range byKey[k] {
			if used[i] {
				continue
			}
			if policy.StatementsEquivalent(before[i], s) {
				return i
			}
			if first < 0 {
				first = i
			}
		}
		return first
	}
	for i, s := range after {
		j := match(key(i, s), s)
		switch {
		case j < 0:
			fmt.Fprintf(&b, "  + %s\n", label(i, s))
			writeIndented(&b, "      ", statementLines(s))
			continue
		case policy.StatementsEquivalent(before[j], s):
			fmt.Fprintf(&b, "  = %s\n", label(i, s))
		default:
			fmt.Fprintf(&b, "  ~ %s\n", label(i, s))
			for _, l := range lineDiff(statementLines(before[j]), statementLines(s)) {
				fmt.Fprintf(&b, "      %s\n", l)
			}
		}
		used[j] = true
	}
	for i, s := range before {
		if !used[i] {
			fmt.Fprintf(&b, "  - %s\n", label(i, s))
			writeIndented(&b, "      ", statementLines(s))
		}
	}
	return b.String()
}

func statementsOf(text string) []policy.Statement {
	if text == "" {
		return nil
	}
	d, err := policy.Parse(text)
	if err != nil {
		return nil
	}
	return d.Statements
}

func statementLines(s policy.Statement) []string {
	raw, err := json.Marshal(s)
	if err != nil {
		return []string{err.Error()}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return []string{string(raw)}
	}
	return strings.Split(buf.String(), "\n")
}

func writeIndented(b *strings.Builder, indent string, lines []string) {
	for _, l := range lines {
		b.WriteString(indent)
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

// lineDiff is a longest-common-subsequence line diff: common lines are
// prefixed "  ", removed "- ", added "+ ". Statements are a few dozen lines,
// so the quadratic table is cheap.
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, "- "+a[i])
	}
	for ; j < m; j++ {
		out = append(out, "+ "+b[j])
	}
	return out
}
