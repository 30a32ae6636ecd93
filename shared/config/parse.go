package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"reflect"
	"slices"
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
	// the first would approve something else. Report every duplicate with its path, together with
	// the problems elsewhere (below, like a wrongly typed value: what validation finds under a
	// duplicated key is left out, since which of its values is meant is the user's to say). Input
	// nested too deeply is refused unread.
	dups := DuplicateKeys(data)
	for _, p := range dups {
		if p.Message == TooDeep {
			return nil, &ValidationError{Problems: []Problem{p}}
		}
	}
	// Second pass: every unknown field and wrongly typed value, with its field path. The checker
	// takes each such value out of raw, so what is left can still be validated: a typo in one field
	// does not hide a missing or invalid value in another, and the user fixes them all in one pass.
	if _, ok := raw.(map[string]any); !ok {
		return nil, &ValidationError{Problems: append(dups, Problem{Path: "(document)", Message: "must be an object, not " + jsonKind(raw)})}
	}
	shape := shapeChecker{problems: dups}
	for _, p := range dups {
		shape.duplicated = append(shape.duplicated, p.Path)
	}
	shape.check("", raw, reflect.TypeFor[Declaration]())
	rest := data
	if len(shape.problems) > len(dups) {
		var err error
		if rest, err = json.Marshal(raw); err != nil {
			return nil, &ValidationError{Problems: shape.problems}
		}
	}
	// What is left matches the shape, so the strict decode only fails on things the checker does
	// not model (it should not); report those too rather than trusting the checker blindly.
	var d Declaration
	strict := json.NewDecoder(bytes.NewReader(rest))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&d); err != nil {
		return nil, &ValidationError{Problems: append(shape.problems, Problem{Path: "(document)", Message: err.Error()})}
	}
	dropEmpty(reflect.ValueOf(&d).Elem())
	d.ApplyDefaults()
	all := shape.problems
	for _, p := range explicitlyEmpty(raw.(map[string]any)) {
		if !shape.covers(p.Path) { // {"hub": false, "acounts": [...]}: the typo is the problem
			all = append(all, p)
		}
	}
	if err := d.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		for _, p := range ve.Problems {
			if !shape.covers(p.Path) {
				all = append(all, p)
			}
		}
	}
	if len(all) == 0 {
		return &d, nil
	}
	locate(data, all)
	return nil, &ValidationError{Problems: all}
}

// dropEmpty sets every empty list or map of an omitempty field to nil, as an omitted one is:
// "grants": [] and no grants are one declaration, and marshalling it (which leaves both out)
// then gives back the same value (FuzzParse's round trip found the difference).
func dropEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			dropEmpty(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			dropEmpty(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f, field := v.Type().Field(i), v.Field(i)
			if !f.IsExported() {
				continue
			}
			if k := field.Kind(); (k == reflect.Slice || k == reflect.Map) && field.Len() == 0 && strings.Contains(f.Tag.Get("json"), ",omitempty") {
				field.SetZero()
				continue
			}
			dropEmpty(field)
		}
	}
}

// explicitlyEmpty reports the selectors a declaration writes out but selects nothing with:
// ApplyDefaults gives an omitted (zero) one its default, which would turn "registries":
// {"hub": false} into the hub and "statementPrincipals": {"accountRoot": false} into the
// account root, granting where the declaration says not to. Only the written document tells
// omitted from written; raw is it, after the shape check (wrongly typed values are gone).
func explicitlyEmpty(raw map[string]any) []Problem {
	var out []Problem
	written := func(v any) (map[string]any, bool) {
		obj, ok := v.(map[string]any)
		return obj, ok && len(obj) > 0
	}
	selects := func(obj map[string]any, flags ...string) bool {
		for _, f := range flags {
			if obj[f] == true {
				return true
			}
		}
		for _, l := range []string{"ous", "accounts", "roleNames"} {
			if arr, ok := obj[l].([]any); ok && len(arr) > 0 {
				return true
			}
		}
		return false
	}
	for _, list := range []string{"grants", "publicRepositories"} {
		arr, _ := raw[list].([]any)
		for i, g := range arr {
			obj, _ := g.(map[string]any)
			if r, ok := written(obj["registries"]); ok && !selects(r, "hub", "allMembers") {
				out = append(out, Problem{Path: idx(list, i) + ".registries", Message: "selects no registry: set hub: true, allMembers: true, ous or accounts, or leave registries out for the hub only (an empty selection is not taken as the hub)"})
			}
		}
	}
	if ptc, ok := raw["pullThroughCache"].(map[string]any); ok {
		if sp, ok := written(ptc["statementPrincipals"]); ok && !selects(sp, "accountRoot") {
			out = append(out, Problem{Path: "pullThroughCache.statementPrincipals", Message: "names no principal: set accountRoot: true or roleNames, or leave statementPrincipals out for the account root (an empty selection is not taken as the account root)"})
		}
	}
	return out
}

// locate sets each problem's Line to where its field path is in a declaration of more than one
// line (the nearest enclosing field for a missing one), and orders the problems by line, so they
// read in document order and an editor can jump to each. Syntax problems carry their line in
// their path already; a one-line document gets no lines (they would all say 1).
func locate(data []byte, ps []Problem) {
	if bytes.Count(bytes.TrimSpace(data), []byte("\n")) == 0 {
		return
	}
	lines := fieldLines(data)
	for i := range ps {
		segs, ok := splitPath(ps[i].Path)
		for ; ok && len(segs) > 0; segs = segs[:len(segs)-1] {
			if l, found := lines[strings.Join(segs, "\x00")]; found {
				ps[i].Line = l
				break
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

// fieldLines maps every field path of a (syntactically valid) JSON document, as splitPath's
// segments joined by NUL, to the 1-based line its key (or, in an array, its value) starts on.
func fieldLines(data []byte) map[string]int {
	out := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// lineOf counts the newlines from where it last counted: offsets only grow during the walk,
	// so the whole walk reads data once (counting from the start for every key made a 10,000-grant
	// declaration with one problem take seconds).
	counted, line := 0, 1
	lineOf := func(off int) int {
		if off > counted {
			line += bytes.Count(data[counted:off], []byte("\n"))
			counted = off
		}
		return line
	}
	lineAt := func() int { return lineOf(int(dec.InputOffset())) }
	var stack []string
	var walk func(depth int) error
	walk = func(depth int) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok || depth >= MaxDepth {
			return nil
		}
		switch d {
		case '[':
			for i := 0; dec.More(); i++ {
				stack = append(stack, "#"+strconv.Itoa(i))
				// The decoder's offset is after the previous token ([ or the previous element);
				// the element starts after the separator and the white space.
				off := int(dec.InputOffset())
				for off < len(data) && strings.IndexByte(", \t\r\n", data[off]) >= 0 {
					off++
				}
				out[strings.Join(stack, "\x00")] = lineOf(off)
				err := walk(depth + 1)
				stack = stack[:len(stack)-1]
				if err != nil {
					return err
				}
			}
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				stack = append(stack, k)
				if _, seen := out[strings.Join(stack, "\x00")]; !seen {
					out[strings.Join(stack, "\x00")] = lineAt()
				}
				err = walk(depth + 1)
				stack = stack[:len(stack)-1]
				if err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	_ = walk(0)
	return out
}

// splitPath reads a Problem path (a.b[2].c["key"]) into the segments fieldLines keys by: field
// names and map keys as themselves, indexes as #N. ok is false for a path that is no field path
// ("(document)", "line 3, column 7").
func splitPath(p string) ([]string, bool) {
	var segs []string
	for i := 0; i < len(p); {
		switch {
		case p[i] == '.':
			i++
		case p[i] == '[' && i+1 < len(p) && p[i+1] == '"':
			end := i + 2
			for end < len(p) && p[end] != '"' {
				if p[end] == '\\' {
					end++
				}
				end++
			}
			k, err := strconv.Unquote(p[i+1 : min(end+1, len(p))])
			if err != nil || end+1 >= len(p) || p[end+1] != ']' {
				return nil, false
			}
			segs = append(segs, k)
			i = end + 2
		case p[i] == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, false
			}
			n := p[i+1 : i+end]
			if _, err := strconv.Atoi(n); err != nil {
				return nil, false
			}
			segs = append(segs, "#"+n)
			i += end + 1
		default:
			end := strings.IndexAny(p[i:], ".[")
			if end < 0 {
				end = len(p) - i
			}
			name := p[i : i+end]
			if strings.ContainsAny(name, " (),") {
				return nil, false
			}
			segs = append(segs, name)
			i += end
		}
	}
	return segs, len(segs) > 0
}

func syntaxProblem(data []byte, err error) Problem {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; point at it, not after it.
		msg := "invalid JSON: " + se.Error() + syntaxHint(data, se)
		return Problem{Path: location(data, se.Offset-1), Message: msg}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Problem{Path: location(data, int64(len(data))), Message: "invalid JSON: the document ends before the object is complete"}
	}
	return Problem{Path: "(document)", Message: "invalid JSON: " + err.Error()}
}

// syntaxHint names the usual cause of a JSON syntax error, or "": a missing comma, and what
// people bring from elsewhere: the comments of the README's example (which shows them only to
// explain the fields), a trailing comma, single quotes, a byte order mark, YAML.
func syntaxHint(data []byte, se *json.SyntaxError) string {
	msg := se.Error()
	off := int(se.Offset) - 1
	var at byte
	if off >= 0 && off < len(data) {
		at = data[off]
	}
	before := bytes.TrimRight(data[:max(off, 0)], " \t\r\n")
	switch {
	case strings.Contains(msg, "after object key:value pair") || strings.Contains(msg, "after array element"):
		return " (is a comma missing before it?)" // the usual cause, at the end of the value before
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) && off == 0:
		return " (the file starts with a UTF-8 byte order mark; save it without one)"
	case at == '/':
		return " (JSON has no comments; the README's example shows them only to explain the fields)"
	case (at == '}' || at == ']') && bytes.HasSuffix(before, []byte(",")):
		return " (JSON allows no comma after the last member or element)"
	case at == '\'':
		return " (JSON strings take double quotes)"
	case len(bytes.TrimSpace(data[:max(off, 0)])) == 0 && (at >= 'a' && at <= 'z' || at >= 'A' && at <= 'Z' || at == '-'):
		return " (the declaration is JSON; YAML is not read)"
	}
	return ""
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
//
// check removes what it reports from the document (an unknown field, a wrongly typed value; an
// array element is set to null, so later indexes keep their paths), so that the rest can be
// validated; covered then tells which validation problems those removals explain.
type shapeChecker struct {
	problems []Problem
	// meant holds the fields a did-you-mean named: their "required" problem is the same mistake.
	meant []string
	// duplicated holds the keys given twice in one object (DuplicateKeys): what the kept value
	// holds is not reported, as which value is meant is unknown, but the object holding it is.
	duplicated []string
}

func (c *shapeChecker) add(path, format string, args ...any) {
	if path == "" {
		path = "(document)"
	}
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// covers reports whether a validation problem at path is explained by a problem the checker
// reported: it is at or under a removed value, at the object that held it (a grant "names no
// principal" once its wrongly typed "organization" is gone), or at the field a did-you-mean names.
func (c *shapeChecker) covers(path string) bool {
	under := func(p string) bool {
		return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
	}
	for _, p := range c.problems {
		if under(p.Path) || (path == parentPath(p.Path) && !slices.Contains(c.duplicated, p.Path)) {
			return true
		}
	}
	for _, p := range append(c.meant, c.duplicated...) {
		if under(p) {
			return true
		}
	}
	return false
}

// parentPath is the path of the object or array holding path's value ("a.b[2]" for "a.b[2].c").
func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i > 0 {
		return path[:i]
	}
	return ""
}

// check reports whether v has type t's JSON shape at its own level (what is wrong inside it is
// reported and removed by the recursion); the caller removes a v that does not.
func (c *shapeChecker) check(path string, v any, t reflect.Type) bool {
	if v == nil { // null leaves the field at its zero value, which defaults then fill
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(path, v, t.Elem())
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, not %s", jsonKind(v))
			return false
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
				hint, meant := suggest(k, fields)
				c.add(joinField(path, k), "unknown field %q%s", k, hint)
				if meant != "" {
					if _, given := obj[meant]; !given {
						c.meant = append(c.meant, joinField(path, meant))
					}
				}
				delete(obj, k)
				continue
			}
			if !c.check(joinField(path, k), obj[k], f.Type) {
				delete(obj, k)
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			c.add(path, "must be an array, not %s", jsonKind(v))
			return false
		}
		for i, e := range arr {
			if !c.check(path+"["+strconv.Itoa(i)+"]", e, t.Elem()) {
				arr[i] = nil
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object, not %s", jsonKind(v))
			return false
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !c.check(path+"["+strconv.Quote(k)+"]", obj[k], t.Elem()) {
				delete(obj, k)
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			hint := ""
			if n, isNumber := v.(json.Number); isNumber && isAccountField(path) {
				hint = fmt.Sprintf("; write \"%s\" (an account id is 12 digits in quotes: as a number its leading zeros are lost%s)", n, map[bool]string{true: ", and this one has " + strconv.Itoa(len(n)) + " digits", false: ""}[len(n) != 12])
			}
			c.add(path, "must be a string, not %s%s", jsonKind(v), hint)
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.add(path, "must be true or false, not %s", jsonKind(v))
			return false
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			c.add(path, "must be an integer, not %s", jsonKind(v))
			return false
		}
		if _, err := n.Int64(); err != nil {
			if _, isInt := new(big.Int).SetString(n.String(), 10); isInt {
				c.add(path, "the number %s is too large (past 2^63)", n) // an integer, but past int64
			} else {
				c.add(path, "must be an integer, not %s", n)
			}
			return false
		}
	}
	return true
}

// isAccountField reports whether path is a field that holds an account id (hub.accountId,
// hub.managementAccountId, an element of an accounts list).
func isAccountField(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	return strings.HasSuffix(last, "ccountId") || strings.HasPrefix(last, "accounts[")
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

// suggest names the field the user probably meant, and returns it: a case-insensitive match
// (encoding/json would silently accept "AccountId" for "accountId" and we prefer one spelling),
// else the closest name within two edits ("acess", "principalMod"); with neither it lists the
// known fields.
func suggest(k string, fields map[string]reflect.StructField) (hint, meant string) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	if best := Closest(k, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best), best
	}
	return "; known fields: " + strings.Join(names, ", "), ""
}

// Closest is the word of known that got was probably meant to be: the same word in another case;
// else the one word it begins (at least 3 letters: "org" for "organization"); else the nearest
// within two edits and a third of its length ("acess", "prefx"; ties go to the first in known);
// else "".
func Closest(got string, known []string) string {
	lower := strings.ToLower(got)
	starts := ""
	for _, k := range known {
		if strings.EqualFold(k, got) {
			return k
		}
		if len(got) >= 3 && strings.HasPrefix(strings.ToLower(k), lower) {
			if starts != "" {
				starts = "-" // more than one
			} else {
				starts = k
			}
		}
	}
	if starts != "" && starts != "-" {
		return starts
	}
	best, bestDist := "", min(2, max(1, len(got)/3))+1
	for _, k := range known {
		if d := EditDistance(lower, strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between two short words: the
// did-you-mean of every unknown field, in a declaration or a backfill payload.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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

// pathOf renders a path as the field paths of Problem: a.b[2].c. A key that
// is empty or holds . [ ] " is quoted, a["x.y"], so a path is never empty and
// reads back (splitPath) as the same segments.
func pathOf(stack []pathSegment) string {
	var b strings.Builder
	for i, s := range stack {
		switch {
		case !s.isKey:
			fmt.Fprintf(&b, "[%d]", s.index)
		case s.key == "" || strings.ContainsAny(s.key, `.[]"`):
			fmt.Fprintf(&b, "[%s]", strconv.Quote(s.key))
		case i == 0:
			b.WriteString(s.key)
		default:
			b.WriteString(".")
			b.WriteString(s.key)
		}
	}
	return b.String()
}
