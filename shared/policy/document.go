// Package policy models the IAM-style JSON documents ecr-warden reads and
// writes (ECR registry and repository policies, ECR Public repository
// policies, IAM role trust and inline policies). It parses IAM's JSON quirks,
// builds ARNs per partition, decides when two documents mean the same thing,
// merges ecr-warden's own statements into documents other people also edit
// without touching theirs, and refuses documents that AWS would reject or
// that would be dangerous to write (size, public principals, unknown actions).
//
// The package is pure: no I/O, no AWS calls.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Version strings. IAM and ECR documents use VersionCurrent; the ECR Public
// examples (and documents created by the ECR Public console) use
// VersionLegacy, which is also what IAM assumes when Version is absent.
const (
	VersionCurrent = "2012-10-17"
	VersionLegacy  = "2008-10-17"
)

// Document is one policy document. Statement order is preserved through
// Parse and Marshal because people read these documents and diff them.
type Document struct {
	Version    string      `json:"Version,omitempty"`
	ID         string      `json:"Id,omitempty"`
	Statements []Statement `json:"Statement"`
}

// Statement is one policy statement. A statement that came from Parse keeps
// its original JSON text (raw), and Marshal writes that text back verbatim
// (whitespace compacted): a statement ecr-warden does not own is never
// re-encoded, so a field this model does not know, a number written as a
// number or an unusual key order survive a merge byte for byte.
type Statement struct {
	Sid          string     `json:"Sid,omitempty"`
	Effect       string     `json:"Effect"`
	Principal    *Principal `json:"Principal,omitempty"`
	NotPrincipal *Principal `json:"NotPrincipal,omitempty"`
	Action       StringList `json:"Action,omitempty"`
	NotAction    StringList `json:"NotAction,omitempty"`
	Resource     StringList `json:"Resource,omitempty"`
	NotResource  StringList `json:"NotResource,omitempty"`
	Condition    Condition  `json:"Condition,omitempty"`

	// raw is the statement's original JSON (compacted) when it was parsed
	// from a document; nil for statements built in code.
	raw json.RawMessage
	// unreadable says why Parse could not read the statement into the
	// fields above ("" when it could): see Unreadable.
	unreadable string
}

// Condition maps a condition operator (StringEquals, ForAnyValue:StringLike,
// ...) to condition keys and their values.
type Condition map[string]map[string]StringList

// Raw returns the statement's original JSON text when it was parsed, or nil
// when it was built in code. Callers use it to prove foreign statements are
// preserved.
func (s Statement) Raw() json.RawMessage { return s.raw }

// Unreadable says why this statement, found in a document AWS holds, could
// not be read into the model (a Principal that is a bare account id, an
// unknown principal type, a Sid that is a number, an Effect in another
// case...), or "" when it was read. Such a statement keeps only its Sid (when
// that is a string) and its original text: a foreign one is kept byte for
// byte and reported, never judged or rewritten, so one statement someone
// wrote years ago under rules AWS has since tightened does not stop
// ecr-warden from converging its own statements beside it. One carrying the
// Sid prefix is ecr-warden's, but nothing could say what it grants: when
// it is an Allow (ReadsAsAllow) the planner removes it, or replaces it by
// the declared statement when the declaration renders its Sid; otherwise it
// keeps it as written, or refuses the document when the declaration renders
// its Sid, naming it either way (see plan.Document).
func (s Statement) Unreadable() string { return s.unreadable }

// WithoutRaw returns a copy of the statement that is encoded from its fields
// rather than from its original text (used once a statement is edited).
func (s Statement) WithoutRaw() Statement {
	s.raw = nil
	return s
}

// MarshalJSON writes the original text for parsed statements and a
// deterministic encoding (fixed key order, sorted condition maps) otherwise.
func (s Statement) MarshalJSON() ([]byte, error) {
	if s.raw != nil {
		return s.raw, nil
	}
	return appendStatement(nil, &s), nil
}

// UnmarshalJSON decodes a statement and remembers its original text.
func (s *Statement) UnmarshalJSON(b []byte) error {
	type plain Statement
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Statement(p)
	if !bytes.ContainsAny(b, " \t\r\n") {
		s.raw = bytes.Clone(b)
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	s.raw = buf.Bytes()
	return nil
}

// StringList is IAM's "one string or a list of strings". A one-element list
// is written as a plain string (what AWS itself returns), longer lists as a
// JSON array in the order given, so encoding is deterministic. Booleans and
// numbers (allowed as condition values) decode to their JSON text.
type StringList []string

// MarshalJSON writes a single value as a string and several as an array.
func (l StringList) MarshalJSON() ([]byte, error) {
	return appendStringList(nil, l), nil
}

// UnmarshalJSON accepts a string, a number, a boolean or an array of them.
// encoding/json has already validated b when it calls this, so the common
// shapes (plain strings without escapes) are sliced out directly; anything
// else goes through scalar.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		v, err := scalar(b)
		if err != nil {
			return err
		}
		*l = StringList{v}
		return nil
	}
	out := make(StringList, 0, 4)
	rest := bytes.TrimSpace(b[1 : len(b)-1])
	for len(rest) > 0 {
		end := elementEnd(rest)
		v, err := scalar(rest[:end])
		if err != nil {
			return err
		}
		out = append(out, v)
		rest = bytes.TrimSpace(rest[end:])
		if len(rest) > 0 {
			if rest[0] != ',' {
				return fmt.Errorf("malformed list near %s", firstBytes(rest))
			}
			rest = bytes.TrimSpace(rest[1:])
		}
	}
	*l = out
	return nil
}

// elementEnd returns the length of the first element of a validated JSON
// list body: a string (with escapes) or a bare literal/number; a nested
// object or list is returned whole so scalar can reject it.
func elementEnd(b []byte) int {
	if b[0] == '"' {
		for i := 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return len(b)
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return i
		}
	}
	return len(b)
}

// scalar decodes a JSON string, number or boolean into its string form.
func scalar(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", errors.New("empty value")
	}
	switch b[0] {
	case '"':
		if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
			inner := b[1 : len(b)-1]
			if bytes.IndexByte(inner, '"') < 0 && !hasControl(inner) {
				return string(inner), nil
			}
		}
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	case 't', 'f':
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return "", err
		}
		return strconv.FormatBool(v), nil
	case 'n':
		return "", errors.New("null is not a valid value")
	case '{', '[':
		return "", fmt.Errorf("expected a string, got %s", firstBytes(b))
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return "", err
		}
		return n.String(), nil
	}
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func firstBytes(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

// Principal is a statement's Principal or NotPrincipal: either the wildcard
// "*" or a map of principal types to values.
type Principal struct {
	// Wildcard is true for `"Principal": "*"` (everyone).
	Wildcard      bool       `json:"-"`
	AWS           StringList `json:"AWS,omitempty"`
	CanonicalUser StringList `json:"CanonicalUser,omitempty"`
	Federated     StringList `json:"Federated,omitempty"`
	Service       StringList `json:"Service,omitempty"`
}

// MarshalJSON writes "*" for the wildcard and an object otherwise.
func (p Principal) MarshalJSON() ([]byte, error) {
	return appendPrincipal(nil, &p), nil
}

// UnmarshalJSON accepts "*" or an object with the known principal types;
// any other principal type is an error because nothing can reason about it.
func (p *Principal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "*" {
			return fmt.Errorf("principal %q: a string principal must be \"*\"", s)
		}
		*p = Principal{Wildcard: true}
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("principal %s: a principal is \"*\" or an object of principal types", firstBytes(b))
	}
	var m map[string]StringList
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("principal: %w", err)
	}
	var out Principal
	for k, v := range m {
		switch k {
		case "AWS":
			out.AWS = v
		case "Service":
			out.Service = v
		case "Federated":
			out.Federated = v
		case "CanonicalUser":
			out.CanonicalUser = v
		default:
			return fmt.Errorf("principal type %q is not one of AWS, Service, Federated, CanonicalUser", k)
		}
	}
	*p = out
	return nil
}

// IsPublic reports whether the principal names everyone: "*" or {"AWS": "*"}.
func (p *Principal) IsPublic() bool {
	if p == nil {
		return false
	}
	if p.Wildcard {
		return true
	}
	for _, v := range p.AWS {
		if v == "*" {
			return true
		}
	}
	return false
}

// Parse decodes a policy document. It accepts the URL-encoded form IAM
// returns from GetRolePolicy / GetRole (text starting with "%7B"), a single
// statement object instead of a list, and surrounding whitespace. Empty text
// is an error: "no document" is represented by the caller as "".
func Parse(text string) (*Document, error) {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "%") {
		dec, err := url.PathUnescape(t)
		if err != nil {
			return nil, fmt.Errorf("parsing policy: URL-decoding: %w", err)
		}
		t = strings.TrimSpace(dec)
	}
	if t == "" {
		return nil, errors.New("parsing policy: empty document")
	}
	if strings.HasPrefix(t, "\ufeff") {
		return nil, errors.New("parsing policy: the document starts with a byte order mark (U+FEFF), which JSON does not allow")
	}
	if err := checkStrict(t); err != nil {
		return nil, fmt.Errorf("parsing policy: %w", err)
	}
	var wire struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wire); err != nil {
		msg := typeProblem(err)
		if rest, ok := strings.CutPrefix(msg, "."); ok {
			msg = ": " + rest // a document element: "Version: a JSON number ..."
		}
		return nil, fmt.Errorf("parsing policy%s", msg)
	}
	if dec.More() {
		return nil, errors.New("parsing policy: trailing data after the document")
	}
	if !validVersion(wire.Version) {
		return nil, fmt.Errorf("parsing policy: Version %q is not %s or %s", wire.Version, VersionCurrent, VersionLegacy)
	}
	doc := &Document{Version: wire.Version, ID: wire.ID}
	st := bytes.TrimSpace(wire.Statement)
	switch {
	case len(st) == 0 || bytes.Equal(st, []byte("null")):
		return nil, errors.New("parsing policy: no Statement")
	case st[0] == '{':
		s, err := readStatement(st, "Statement")
		if err != nil {
			return nil, fmt.Errorf("parsing policy: %w", err)
		}
		doc.Statements = []Statement{s}
	case st[0] == '[':
		// Fast path: decode the list in one go. Only when it fails is it
		// decoded item by item, to say which statement is wrong.
		if err := json.Unmarshal(st, &doc.Statements); err == nil {
			for i, s := range doc.Statements {
				if s.Effect != "Allow" && s.Effect != "Deny" {
					doc.Statements[i] = opaque(s.raw, s.Sid, fmt.Sprintf("Statement[%d]: Effect %q must be Allow or Deny", i, s.Effect))
				}
			}
			break
		}
		var items []json.RawMessage
		if err := json.Unmarshal(st, &items); err != nil {
			return nil, fmt.Errorf("parsing policy: Statement: %w", err)
		}
		doc.Statements = make([]Statement, 0, len(items))
		for i, it := range items {
			s, err := readStatement(it, fmt.Sprintf("Statement[%d]", i))
			if err != nil {
				return nil, fmt.Errorf("parsing policy: %w", err)
			}
			doc.Statements = append(doc.Statements, s)
		}
	default:
		return nil, errors.New("parsing policy: Statement must be an object or a list")
	}
	return doc, nil
}

// readStatement decodes one statement of a document. A JSON object that the
// model cannot read (a value of another shape than the grammar's, an Effect
// other than Allow or Deny) is returned unreadable (see
// Statement.Unreadable), keeping its text and its Sid when that is a string;
// anything else in a statement's place is an error. at names the statement
// in messages.
func readStatement(b []byte, at string) (Statement, error) {
	var s Statement
	err := json.Unmarshal(b, &s)
	if err == nil && (s.Effect == "Allow" || s.Effect == "Deny") {
		return s, nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return Statement{}, fmt.Errorf("%s: a statement must be an object", at)
	}
	var sid string
	_ = json.Unmarshal(fields["Sid"], &sid) // a Sid that is not a string is no Sid of anyone's prefix
	why := fmt.Sprintf("%s: Effect %q must be Allow or Deny", at, s.Effect)
	if err != nil {
		why = at + typeProblem(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return Statement{}, fmt.Errorf("%s: %w", at, err)
	}
	return opaque(buf.Bytes(), sid, why), nil
}

// opaque is a statement the model could not read: its text, its Sid and why.
func opaque(raw json.RawMessage, sid, why string) Statement {
	return Statement{Sid: sid, raw: raw, unreadable: why}
}

// ReadsAsAllow reports whether s is an Allow whatever else it says: a
// statement the model read whose Effect is Allow, or one it could not read
// (Statement.Unreadable) whose Effect is nonetheless a string spelling Allow
// in any letter case. Neither can be a Deny under any reading of the rest,
// so removing it can only narrow access; that is what lets the planner
// remove an unreadable statement of ecr-warden's that the declaration no
// longer gives. A missing Effect, one of another JSON type or one reading
// Deny gives false.
func ReadsAsAllow(s Statement) bool {
	if s.unreadable == "" {
		return s.Effect == "Allow"
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(s.raw, &fields) != nil {
		return false
	}
	var effect string
	if json.Unmarshal(fields["Effect"], &effect) != nil {
		return false
	}
	return strings.EqualFold(effect, "Allow")
}

// typeProblem says where a statement (or the document) has a value of the
// wrong JSON type, in the policy's own terms (".Sid: a JSON number where a
// string belongs") rather than encoding/json's ("Go struct field
// plain.Sid of type string"); any other error follows ": " as it is.
func typeProblem(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return ": " + err.Error()
	}
	want := "a " + te.Type.Kind().String()
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Map:
		want = "an object"
	case reflect.Slice:
		want = "a string or a list of strings"
	}
	return fmt.Sprintf(".%s: a JSON %s where %s belongs", te.Field, te.Value, want)
}

// Marshal encodes the document as compact JSON: Version, Id, Statement in
// that order, statements in document order, foreign statements as their
// original text. The same document always gives the same bytes.
func (d *Document) Marshal() (string, error) {
	if d == nil {
		return "", errors.New("marshalling policy: nil document")
	}
	return string(appendDocument(make([]byte, 0, 256+200*len(d.Statements)), d)), nil
}

// Pretty encodes the document indented by two spaces, for humans (dry-run
// output, golden files). It is Marshal's text re-indented, so it means
// exactly what Marshal writes.
func (d *Document) Pretty() (string, error) {
	s, err := d.Marshal()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		return "", fmt.Errorf("indenting policy: %w", err)
	}
	return buf.String(), nil
}

// Clone returns a deep enough copy for merging: the statement slice is new,
// statements are values (their raw text is never mutated).
func (d *Document) Clone() *Document {
	if d == nil {
		return nil
	}
	c := *d
	c.Statements = append([]Statement(nil), d.Statements...)
	return &c
}
