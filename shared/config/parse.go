package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Load reads, parses, defaults and validates the declaration at path.
func Load(path string) (*Declaration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading declaration (%s): %w", path, err)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("declaration %s:\n%w", path, err)
	}
	return d, nil
}

// Parse decodes a declaration, applies defaults and validates it. Any problem, whether JSON syntax,
// an unknown field, a wrong type or a semantic rule, is returned as a *ValidationError listing every
// problem found with its location, so a user fixes them all in one pass.
func Parse(data []byte) (*Declaration, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ValidationError{Problems: []Problem{{Path: "(document)", Message: "the declaration is empty; expected a JSON object"}}}
	}
	// First pass: generic decode to find syntax errors with their line and column.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, &ValidationError{Problems: []Problem{syntaxProblem(data, err)}}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		off := end + int64(len(data[end:])-len(bytes.TrimLeft(data[end:], " \t\r\n")))
		return nil, &ValidationError{Problems: []Problem{{Path: location(data, off), Message: "unexpected data after the declaration object"}}}
	}
	if raw == nil {
		return nil, &ValidationError{Problems: []Problem{{Path: "(document)", Message: "the declaration is null; expected a JSON object"}}}
	}
	// A key given twice would silently keep the last value (encoding/json does); a reviewer reading
	// the first would approve something else. Report every duplicate with its path.
	if dups := DuplicateKeys(data); len(dups) > 0 {
		return nil, &ValidationError{Problems: dups}
	}
	// Second pass: every unknown field and wrongly typed value, with its field path.
	var shape shapeChecker
	shape.check("", raw, reflect.TypeFor[Declaration]())
	if len(shape.problems) > 0 {
		return nil, &ValidationError{Problems: shape.problems}
	}
	// The shape is known to match, so the strict decode only fails on things the checker does not
	// model (it should not); report those too rather than trusting the checker blindly.
	var d Declaration
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&d); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Path: "(document)", Message: err.Error()}}}
	}
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func syntaxProblem(data []byte, err error) Problem {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; point at it, not after it.
		return Problem{Path: location(data, se.Offset-1), Message: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Problem{Path: location(data, int64(len(data))), Message: "invalid JSON: the document ends before the object is complete"}
	}
	return Problem{Path: "(document)", Message: "invalid JSON: " + err.Error()}
}

// location renders a byte offset as "line L, column C" (1-based) for syntax errors.
func location(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// shapeChecker walks a generically decoded document against the Go type it must fill, reporting
// unknown fields (json's DisallowUnknownFields stops at the first and names no path) and values of
// the wrong JSON type, each with its field path.
type shapeChecker struct{ problems []Problem }

func (c *shapeChecker) add(path, format string, args ...any) {
	if path == "" {
		path = "(document)"
	}
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *shapeChecker) check(path string, v any, t reflect.Type) {
	if v == nil { // null leaves the field at its zero value, which defaults then fill
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.check(path, v, t.Elem())
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, not %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				c.add(joinField(path, k), "unknown field %q%s", k, suggest(k, fields))
				continue
			}
			c.check(joinField(path, k), obj[k], f.Type)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			c.add(path, "must be an array, not %s", jsonKind(v))
			return
		}
		for i, e := range arr {
			c.check(path+"["+strconv.Itoa(i)+"]", e, t.Elem())
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, not %s", jsonKind(v))
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.check(path+"["+strconv.Quote(k)+"]", obj[k], t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			c.add(path, "must be a string, not %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.add(path, "must be true or false, not %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			c.add(path, "must be an integer, not %s", jsonKind(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			c.add(path, "must be an integer, not %s", n)
		}
	}
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number (" + x.String() + ")"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonFields maps the exact JSON names of a struct's exported fields to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// suggest names the field the user probably meant: a case-insensitive match, since encoding/json
// would silently accept "AccountId" for "accountId" and we prefer one spelling.
func suggest(k string, fields map[string]reflect.StructField) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return "; known fields: " + strings.Join(names, ", ")
}

// MaxDepth is how deeply objects and arrays may nest in the JSON that
// DuplicateKeys walks: the declaration (about 5 levels: grants[].principals.ous[]),
// a backfill payload (3) and an EventBridge event (real CloudTrail events stay
// under 10). Deeper input is refused rather than walked: nothing real is that
// deep, and the walk's cost must not grow with what a sender chooses to nest.
const MaxDepth = 64

// TooDeep is the message of the Problem DuplicateKeys reports for input nested
// deeper than MaxDepth (its path is where the limit was passed).
var TooDeep = fmt.Sprintf("nests objects and arrays more than %d levels deep; nothing ecr-warden reads is deeper, so the input is refused unread", MaxDepth)

// DuplicateKeys walks a (syntactically valid) JSON document and reports each
// object key that appears more than once, with its field path. encoding/json
// keeps the last value silently, so the declaration, the backfill payload and
// events all refuse such input instead of guessing which value was meant.
//
// Input nested deeper than MaxDepth is reported as one TooDeep problem and not
// walked further. The walk keeps a stack of the keys and indexes above the
// current value and builds a path string only for a problem it reports, so its
// memory is linear in the input (a path per level would keep every ancestor's
// full path alive: quadratic in the depth).
func DuplicateKeys(data []byte) []Problem {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []Problem
	var stack []pathSegment
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		if len(stack) >= MaxDepth {
			out = append(out, Problem{Path: pathOf(stack), Message: TooDeep})
			return errTooDeep
		}
		switch d {
		case '[':
			for i := 0; dec.More(); i++ {
				stack = append(stack, pathSegment{index: i})
				err := walk()
				stack = stack[:len(stack)-1]
				if err != nil {
					return err
				}
			}
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				stack = append(stack, pathSegment{key: k, isKey: true})
				if seen[k] {
					out = append(out, Problem{Path: pathOf(stack), Message: "appears more than once in the same object; only one value can be meant"})
				}
				seen[k] = true
				err = walk()
				stack = stack[:len(stack)-1]
				if err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	if err := walk(); err != nil && !errors.Is(err, errTooDeep) {
		return nil // syntax problems are reported by the first pass
	}
	return out
}

// errTooDeep stops DuplicateKeys' walk at MaxDepth.
var errTooDeep = errors.New("too deep")

// pathSegment is one step of DuplicateKeys' path: an object key or an array index.
type pathSegment struct {
	key   string
	index int
	isKey bool
}

// pathOf renders a path as the field paths of Problem: a.b[2].c.
func pathOf(stack []pathSegment) string {
	var b strings.Builder
	for i, s := range stack {
		switch {
		case !s.isKey:
			fmt.Fprintf(&b, "[%d]", s.index)
		case i == 0:
			b.WriteString(s.key)
		default:
			b.WriteString(".")
			b.WriteString(s.key)
		}
	}
	return b.String()
}
