package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// printer writes the demo's story: headings, short lines and policies laid
// out so a person can read them in a terminal.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

// heading starts a step of the story.
func (p *printer) heading(label, title string) {
	p.printf("\n== %s %s\n", label, title)
}

// line is one indented sentence under a heading.
func (p *printer) line(format string, args ...any) {
	p.printf("   "+format+"\n", args...)
}

// document prints a JSON document under a label, laid out by layoutJSON.
func (p *printer) document(label, text string) {
	if text == "" {
		p.line("%s: (none)", label)
		return
	}
	p.line("%s:", label)
	out, err := layoutJSON(text, 130)
	if err != nil {
		out = text
	}
	for _, l := range strings.Split(out, "\n") {
		p.printf("     %s\n", l)
	}
}

// jsonNode is a decoded JSON value that keeps object keys in document order
// (a policy reads best with Sid first, as it was written).
type jsonNode struct {
	object bool
	array  bool
	keys   []string
	items  []*jsonNode
	scalar string
}

// layoutJSON pretty-prints JSON, keeping any object or array that fits in
// width columns on one line, so a policy statement takes a few lines rather
// than one per string.
func layoutJSON(text string, width int) (string, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	writeNode(&b, n, 0, 0, width)
	return b.String(), nil
}

func decodeNode(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{object: t == '{', array: t == '['}
		for dec.More() {
			if n.object {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, fmt.Sprint(k))
			}
			item, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	default:
		return &jsonNode{scalar: scalarJSON(t)}, nil
	}
}

// scalarJSON encodes a decoded scalar back to JSON without HTML escaping.
func scalarJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // strings, json.Number, bools and nil always encode
	return strings.TrimSuffix(b.String(), "\n")
}

// inline renders n on one line.
func inline(n *jsonNode) string {
	if !n.object && !n.array {
		return n.scalar
	}
	parts := make([]string, len(n.items))
	for i, it := range n.items {
		parts[i] = inline(it)
		if n.object {
			parts[i] = scalarJSON(n.keys[i]) + ": " + parts[i]
		}
	}
	if n.object {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// writeNode writes n at nesting depth, starting at column col (where a key
// may already have been written), breaking it over lines only when it does
// not fit in width.
func writeNode(b *strings.Builder, n *jsonNode, depth, col, width int) {
	one := inline(n)
	if (!n.object && !n.array) || col+len(one) <= width || len(n.items) == 0 {
		b.WriteString(one)
		return
	}
	open, closing := "[", "]"
	if n.object {
		open, closing = "{", "}"
	}
	b.WriteString(open + "\n")
	pad := strings.Repeat("  ", depth+1)
	for i, it := range n.items {
		prefix := pad
		if n.object {
			prefix += scalarJSON(n.keys[i]) + ": "
		}
		b.WriteString(prefix)
		writeNode(b, it, depth+1, len(prefix), width)
		if i < len(n.items)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(strings.Repeat("  ", depth) + closing)
}

// unescape decodes an IAM policy document, which IAM returns URL-encoded.
func unescape(s string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return s, nil
	}
	out, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("decoding an IAM policy document: %w", err)
	}
	return out, nil
}

// sids lists the statement ids of a policy document, in order.
func sids(text string) []string {
	var doc struct {
		Statement []struct{ Sid string }
	}
	if json.Unmarshal([]byte(text), &doc) != nil {
		return nil
	}
	var out []string
	for _, s := range doc.Statement {
		out = append(out, s.Sid)
	}
	return out
}

// statementsMentioning keeps only the statements of a policy document whose
// JSON contains one of the needles, for showing one account's part of a
// large shared document.
func statementsMentioning(text string, needles ...string) string {
	var doc struct {
		Version   string
		Statement []json.RawMessage
	}
	if json.Unmarshal([]byte(text), &doc) != nil {
		return text
	}
	var keep []json.RawMessage
	for _, s := range doc.Statement {
		for _, n := range needles {
			if bytes.Contains(s, []byte(n)) {
				keep = append(keep, s)
				break
			}
		}
	}
	out, err := json.Marshal(struct {
		Version   string
		Statement []json.RawMessage
	}{doc.Version, keep})
	if err != nil {
		return text
	}
	return string(out)
}
