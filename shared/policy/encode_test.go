package policy

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
)

// reference encodes v with encoding/json (HTML escaping off), the behaviour
// the hand-written encoder must match byte for byte.
func reference(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	weird := []string{"plain", "quote\"back\\slash", "ctl\x00\x01\x1f\n\r\t\b\f", "html<&>", "bad\xffutf8", "sep\u2028\u2029", "é中🙂", ""}
	for _, s := range weird {
		if got, want := string(appendString(nil, s)), reference(t, s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	r := rand.New(rand.NewSource(1))
	pick := func() StringList {
		n := 1 + r.Intn(3)
		var l StringList
		for i := 0; i < n; i++ {
			l = append(l, weird[r.Intn(len(weird))])
		}
		return l
	}
	for i := 0; i < 300; i++ {
		p := &Principal{AWS: pick(), Service: pick()}
		s := Statement{Sid: weird[r.Intn(len(weird))], Effect: "Allow", Principal: p, Action: pick(), Resource: pick(),
			Condition: Condition{"StringEquals": {weird[r.Intn(len(weird))]: pick(), "k": pick()}, "Bool": {"x": pick()}}}
		got, _ := s.MarshalJSON()
		// The reference encodes single-element lists as strings, like StringList.
		one := func(l StringList) any {
			if len(l) == 1 {
				return l[0]
			}
			return []string(l)
		}
		cond := map[string]map[string]any{}
		for op, kv := range s.Condition {
			cond[op] = map[string]any{}
			for k, v := range kv {
				cond[op][k] = one(v)
			}
		}
		type refStatement struct {
			Sid       string                    `json:"Sid,omitempty"`
			Effect    string                    `json:"Effect"`
			Principal map[string]any            `json:"Principal,omitempty"`
			Action    any                       `json:"Action,omitempty"`
			Resource  any                       `json:"Resource,omitempty"`
			Condition map[string]map[string]any `json:"Condition,omitempty"`
		}
		want := reference(t, refStatement{Sid: s.Sid, Effect: s.Effect,
			Principal: map[string]any{"AWS": one(p.AWS), "Service": one(p.Service)},
			Action:    one(s.Action), Resource: one(s.Resource), Condition: cond})
		if string(got) != want {
			t.Fatalf("statement encoding differs:\n got %s\nwant %s", got, want)
		}
	}
}
