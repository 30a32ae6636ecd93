package config

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics; it either returns a declaration that validates and survives a
// JSON round trip unchanged, or a *ValidationError whose every problem has a path and a message.
// The seeds (the example declaration and the shapes of the table tests) run on every `go test`.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"hub":{}}`, `{} {}`, `{"hub": {`,
		`{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"}}`,
		`{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},"grants":[{"name":"g","repositories":["x/*"],"access":"pull","principals":{"accounts":["*"]}}]}`,
		`{"hub":{"accountID":1},"grants":[{"principals":{"org":true}}],"sweep":{"schedule":5}}`,
		`{"actionSets":{"scan":["ecr:ListImages","ecr:*"]},"pullThroughCache":{"rules":[{"prefix":"ROOT","upstreamRepositoryPrefix":"x"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Parse error is not a non-empty *ValidationError: %#v", err)
			}
			for _, p := range ve.Problems {
				if p.Path == "" || p.Message == "" {
					t.Fatalf("problem without path or message: %#v", p)
				}
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("parsed declaration does not validate: %v", err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parsing marshalled declaration: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the declaration:\n%+v\n%+v", d, d2)
		}
	})
}
