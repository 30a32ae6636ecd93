package policy

import (
	"fmt"
	"strings"
)

// Owned reports whether a statement with this Sid belongs to ecr-warden:
// its Sid starts with the configured prefix. An empty prefix owns nothing,
// so a misconfiguration can never claim every statement.
func Owned(sid, prefix string) bool {
	return prefix != "" && strings.HasPrefix(sid, prefix)
}

// Merge returns current with its owned statements replaced by owned.
//
// Foreign statements (Sid without the prefix) are kept exactly: same order,
// same original JSON text. The owned statements are placed where the first
// owned statement of current was, or appended when current had none. The
// Version and Id of current are kept; a nil current yields a new document
// with VersionCurrent. Every statement in owned must carry the prefix and
// Sids must be unique, otherwise a later merge could not find them again.
func Merge(current *Document, owned []Statement, prefix string) (*Document, error) {
	if err := CheckOwned(owned, prefix); err != nil {
		return nil, fmt.Errorf("merging policy: %w", err)
	}
	out := &Document{Version: VersionCurrent}
	if current != nil {
		out.Version, out.ID = current.Version, current.ID
	}
	var existing []Statement
	if current != nil {
		existing = current.Statements
	}
	out.Statements = make([]Statement, 0, len(existing)+len(owned))
	inserted := false
	for _, s := range existing {
		if Owned(s.Sid, prefix) {
			if !inserted {
				out.Statements = append(out.Statements, owned...)
				inserted = true
			}
			continue
		}
		out.Statements = append(out.Statements, s)
	}
	if !inserted {
		out.Statements = append(out.Statements, owned...)
	}
	return out, nil
}

// Split returns the owned and foreign statements of doc, each in document
// order.
func Split(doc *Document, prefix string) (owned, foreign []Statement) {
	if doc == nil {
		return nil, nil
	}
	for _, s := range doc.Statements {
		if Owned(s.Sid, prefix) {
			owned = append(owned, s)
		} else {
			foreign = append(foreign, s)
		}
	}
	return owned, foreign
}

// OwnedOf returns the owned statements of a document's text ("" holds
// none): what an incremental update starts from. A statement carrying the
// prefix that the model cannot read (Statement.Unreadable) is among them
// with its Sid and text only: the planner decides what becomes of it, so
// that it never blocks the rest of its document (it used to be refused
// here, which kept every revocation in that document waiting).
func OwnedOf(text, prefix string) ([]Statement, error) {
	if text == "" {
		return nil, nil
	}
	doc, err := Parse(text)
	if err != nil {
		return nil, err
	}
	owned, _ := Split(doc, prefix)
	return owned, nil
}

// CheckOwned verifies that statements can be owned: a non-empty prefix,
// every Sid carrying it, no Sid twice. Merge and the plan rely on Sids to
// find ecr-warden's statements again on the next run.
func CheckOwned(owned []Statement, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("empty Sid prefix")
	}
	seen := make(map[string]bool, len(owned))
	for i, s := range owned {
		if !Owned(s.Sid, prefix) {
			return fmt.Errorf("owned statement %d has Sid %q without the prefix %q", i, s.Sid, prefix)
		}
		if seen[s.Sid] {
			return fmt.Errorf("duplicate owned Sid %q", s.Sid)
		}
		seen[s.Sid] = true
	}
	return nil
}
