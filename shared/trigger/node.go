package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// node is a decoded JSON value with the path it was found at, so that every
// rejection can say exactly which field was missing or wrong. Events are
// walked as generic JSON rather than fixed structs because the same field
// may legitimately be absent, null, or in another place depending on the
// detail-type, and hostile input must produce a message, not a panic.
type node struct {
	path string
	v    any // nil when absent or JSON null
	// bad is set when a parent on the path is present but not an object
	// (a string, number or array where CloudTrail has an object): the field
	// cannot be read, and every read of it, or below it, names that parent.
	// Without it a wrong-typed parent read as absent, so an event whose
	// responseElements.repository was a string was accepted on its other
	// fields with the problem unnamed, or rejected for a "missing" field
	// that was never the fault.
	bad error
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	// A second Decode must hit EOF; dec.More is false for a trailing "]" or "}".
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

func (n node) get(key string) node {
	child := node{path: n.path + "." + key}
	switch m := n.v.(type) {
	case map[string]any:
		child.v = m[key]
	case nil:
		child.bad = n.bad
	default:
		child.bad = notObject(n)
	}
	return child
}

// notObject is the problem of n, present but not an object where one is
// wanted; object() and get() word it alike, so the problem is named once.
func notObject(n node) error {
	return &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: is %s, want an object", n.path, typeName(n.v))}
}

func (n node) absent() bool { return n.v == nil }

// object returns the node if it is a JSON object; absent gives (false, nil).
func (n node) object() (bool, error) {
	if n.bad != nil {
		return false, n.bad
	}
	switch n.v.(type) {
	case nil:
		return false, nil
	case map[string]any:
		return true, nil
	}
	return false, notObject(n)
}

func (n node) requireObject() error {
	ok, err := n.object()
	if err != nil {
		return err
	}
	if !ok {
		return &Rejection{Reason: ReasonMissingField, Detail: n.path + ": missing"}
	}
	return nil
}

// optString returns "" for an absent or null value and an error for a non-string.
func (n node) optString() (string, error) {
	if n.bad != nil {
		return "", n.bad
	}
	switch v := n.v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: is %s, want a string", n.path, typeName(n.v))}
}

// Bounds of the strings Parse keeps from an event for the audit trail and
// the log (ids, names, times, the actor). The longest AWS sends is an ARN
// (2,048 characters, IAM's limit), and an EventBridge id is a UUID. Anything
// longer, or with control characters, is not from AWS; kept whole it would
// make even the record of its rejection larger than DynamoDB stores (400 KB
// an item, 2,048 bytes for the key "event/<id>"), so the rejection could
// never be recorded and Lambda would retry the event for nothing.
const (
	maxMetaLen    = 2048
	maxEventIDLen = 256
)

// metaString is optString for a value Parse keeps: at most maxLen bytes,
// no control characters.
func (n node) metaString(maxLen int) (string, error) {
	s, err := n.optString()
	if err != nil {
		return "", err
	}
	if len(s) > maxLen {
		return "", &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: is %d bytes, longer than any value AWS sends (%d)", n.path, len(s), maxLen)}
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return "", &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: %s has a control character at byte %d", n.path, quote(s), i)}
	}
	return s, nil
}

func (n node) requireString() (string, error) {
	s, err := n.optString()
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", &Rejection{Reason: ReasonMissingField, Detail: n.path + ": missing"}
	}
	return s, nil
}

// optBool checks a field that must be a boolean when present (CloudTrail's
// readOnly, managementEvent); absent or null passes.
func (n node) optBool() error {
	if n.bad != nil {
		return n.bad
	}
	switch n.v.(type) {
	case nil, bool:
		return nil
	}
	return &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: is %s, want a boolean", n.path, typeName(n.v))}
}

// optStrings checks a field that must be an array of strings when present
// (the envelope's resources); each element of another type is named, the
// first maxElementsNamed one by one and the rest counted, so a hostile array
// of a million numbers costs a few problems, not a million.
func (n node) optStrings() []error {
	if n.bad != nil {
		return []error{n.bad}
	}
	switch v := n.v.(type) {
	case nil:
		return nil
	case []any:
		var errs []error
		more := 0
		for i, e := range v {
			if _, ok := e.(string); ok {
				continue
			}
			if len(errs) == maxElementsNamed {
				more++
				continue
			}
			errs = append(errs, &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s[%d]: is %s, want a string", n.path, i, typeName(e))})
		}
		if more > 0 {
			errs = append(errs, &Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: %d more elements are not strings", n.path, more)})
		}
		return errs
	}
	return []error{&Rejection{Reason: ReasonInvalidField, Detail: fmt.Sprintf("%s: is %s, want an array of strings", n.path, typeName(n.v))}}
}

// maxElementsNamed bounds the elements of one array optStrings names.
const maxElementsNamed = 3

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// invalid makes the error of a pattern check (checkAccountID, checkRegion,
// ...) an invalid-field rejection; nil stays nil.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &Rejection{Reason: ReasonInvalidField, Detail: err.Error()}
}
