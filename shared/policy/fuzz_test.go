package policy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse. Whatever parses must marshal,
// re-parse to the same bytes (Marshal is a fixed point), compare equivalent
// to itself after normalisation, and survive Guard, CheckSize and a merge
// without panicking; a merge must keep every foreign statement's text.
// The seeds below run in every ordinary `go test`.
func FuzzParse(f *testing.F) {
	seeds := []string{
		foreignDoc,
		`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ecr-public:PutImage"}}`,
		`{"Statement":[{"Sid":"EcrWardenX","Effect":"Deny","NotPrincipal":{"AWS":["1","2"]},"NotAction":"ecr:*","NotResource":["a","b"]}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com","CanonicalUser":"x"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":[3600, 1.5e3]},"Null":{"aws:TokenIssueTime":false}}}]}`,
		url.PathEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		`{"Id":"x<&>","Statement":[{"Sid":"\u00e9\"","Effect":"Allow","Action":"ecr:Get*"}]}`,
		`{"Statement":[{"Sid":"EcrWardenUp","Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"1","aws:principalaccount":"2","AWS:PrincipalAccount":["3"]}}}]}`,
		`{"Statement":[{"Sid":"Shared","Effect":"Allow","Action":"ecr:*"},{"Sid":"Shared","Effect":"Deny","Action":"ecr:*"}]}`,
		`{"Statement":[]}`,
		`  {"Statement":null}`,
		`[]`,
		`%zz`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		doc, err := Parse(text)
		if err != nil {
			return
		}
		one, err := doc.Marshal()
		if err != nil {
			t.Fatalf("Marshal after successful Parse: %v", err)
		}
		back, err := Parse(one)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, one)
		}
		two, err := back.Marshal()
		if err != nil || one != two {
			t.Fatalf("Marshal is not a fixed point:\n%s\n%s", one, two)
		}
		if eq, err := DocumentsEquivalent(doc, back); err != nil || !eq {
			t.Fatalf("document not equivalent to its own round trip: %v %v\n%s", eq, err, one)
		}
		if _, err := doc.Pretty(); err != nil {
			t.Fatalf("Pretty: %v", err)
		}
		for _, k := range Kinds {
			_ = Guard(k, doc)
			_ = CheckSize(k, "fuzz", one)
		}
		_ = V2Required(doc)
		_, foreign := Split(doc, "EcrWarden")
		merged, err := Merge(doc, []Statement{{Sid: "EcrWardenFuzz", Effect: "Allow", Action: StringList{"ecr:BatchGetImage"}}}, "EcrWarden")
		if err != nil {
			t.Fatal(err)
		}
		_, after := Split(merged, "EcrWarden")
		if len(after) != len(foreign) {
			t.Fatalf("merge changed the number of foreign statements: %d -> %d", len(foreign), len(after))
		}
		for i := range foreign {
			if string(foreign[i].Raw()) != string(after[i].Raw()) {
				t.Fatalf("merge altered foreign statement %d", i)
			}
		}
		if strings.Contains(one, "\n") {
			t.Fatalf("Marshal output is not compact: %q", one)
		}
	})
}

// FuzzStringList checks the fast StringList decoder against encoding/json
// for every input that encoding/json reads as a string or list of strings.
func FuzzStringList(f *testing.F) {
	for _, s := range []string{`"a"`, `["a","b"]`, `[ "a" , "\u00e9\"" ]`, `"\ud800"`, `["x\\y"]`, `[]`, `[1, true]`, "\"\xff\"", `[ ]`, `["a",["b"]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want any
		if json.Unmarshal([]byte(in), &want) != nil {
			return
		}
		var ref []string
		switch v := want.(type) {
		case string:
			ref = []string{v}
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return
				}
				ref = append(ref, s)
			}
		default:
			return
		}
		var got StringList
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("StringList rejected %q: %v", in, err)
		}
		if len(got) != len(ref) {
			t.Fatalf("%q: got %q, want %q", in, got, ref)
		}
		for i := range ref {
			if got[i] != ref[i] {
				t.Fatalf("%q: got %q, want %q", in, got, ref)
			}
		}
	})
}
