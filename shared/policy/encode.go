package policy

import (
	"slices"
	"unicode/utf8"
)

// The hand-written encoder below produces exactly what encoding/json would
// (without HTML escaping) for these types, in a fixed key order. It exists
// because plans run for every repository of every account on each sweep,
// and reflection-based encoding dominated that cost.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// with HTML escaping off (control characters, invalid UTF-8 as U+FFFD,
// U+2028 and U+2029).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendStringList(b []byte, l StringList) []byte {
	if len(l) == 1 {
		return appendString(b, l[0])
	}
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

func appendPrincipal(b []byte, p *Principal) []byte {
	if p.Wildcard {
		return append(b, `"*"`...)
	}
	b = append(b, '{')
	first := true
	field := func(name string, l StringList) {
		if len(l) == 0 {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, name)
		b = append(b, ':')
		b = appendStringList(b, l)
	}
	field("AWS", p.AWS)
	field("CanonicalUser", p.CanonicalUser)
	field("Federated", p.Federated)
	field("Service", p.Service)
	return append(b, '}')
}

func appendCondition(b []byte, c Condition) []byte {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	b = append(b, '{')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, op)
		b = append(b, ':')
		kv := c[op]
		if kv == nil {
			b = append(b, "null"...)
			continue
		}
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for j, k := range keys {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if kv[k] == nil {
				b = append(b, "null"...)
			} else {
				b = appendStringList(b, kv[k])
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendStatement encodes s from its fields (ignoring any original text).
func appendStatement(b []byte, s *Statement) []byte {
	b = append(b, '{')
	if s.Sid != "" {
		b = append(b, `"Sid":`...)
		b = appendString(b, s.Sid)
		b = append(b, ',')
	}
	b = append(b, `"Effect":`...)
	b = appendString(b, s.Effect)
	if s.Principal != nil {
		b = append(b, `,"Principal":`...)
		b = appendPrincipal(b, s.Principal)
	}
	if s.NotPrincipal != nil {
		b = append(b, `,"NotPrincipal":`...)
		b = appendPrincipal(b, s.NotPrincipal)
	}
	lists := [...]struct {
		name string
		l    StringList
	}{{`,"Action":`, s.Action}, {`,"NotAction":`, s.NotAction}, {`,"Resource":`, s.Resource}, {`,"NotResource":`, s.NotResource}}
	for _, f := range lists {
		if len(f.l) > 0 {
			b = append(b, f.name...)
			b = appendStringList(b, f.l)
		}
	}
	if len(s.Condition) > 0 {
		b = append(b, `,"Condition":`...)
		b = appendCondition(b, s.Condition)
	}
	return append(b, '}')
}

// appendDocument encodes the document: Version, Id, Statement, with parsed
// statements written as their original (compacted) text.
func appendDocument(b []byte, d *Document) []byte {
	b = append(b, '{')
	sep := false
	if d.Version != "" {
		b = append(b, `"Version":`...)
		b = appendString(b, d.Version)
		sep = true
	}
	if d.ID != "" {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"Id":`...)
		b = appendString(b, d.ID)
		sep = true
	}
	if sep {
		b = append(b, ',')
	}
	b = append(b, `"Statement":[`...)
	for i := range d.Statements {
		if i > 0 {
			b = append(b, ',')
		}
		if raw := d.Statements[i].raw; raw != nil {
			b = append(b, raw...)
		} else {
			b = appendStatement(b, &d.Statements[i])
		}
	}
	return append(b, ']', '}')
}
