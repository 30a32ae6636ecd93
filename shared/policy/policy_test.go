package policy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

const foreignDoc = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "TeamA", "Effect": "Allow", "Principal": {"AWS": "333333333333"},
     "Action": "ecr:BatchGetImage", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": true}}},
    {"Sid": "EcrWardenOld", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
     "Action": ["ecr:BatchGetImage"], "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository", "Resource": "*"}
  ]
}`

func TestParseRoundTripKeepsForeignText(t *testing.T) {
	doc, err := Parse(foreignDoc)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(doc.Statements); got != 3 {
		t.Fatalf("statements = %d, want 3", got)
	}
	if got := doc.Statements[0].Condition["Bool"]["aws:SecureTransport"]; len(got) != 1 || got[0] != "true" {
		t.Fatalf("bool condition decoded as %v", got)
	}
	out, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamA","Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}},{"Sid":"EcrWardenOld","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"],"Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository","Resource":"*"}]}`
	if out != want {
		t.Fatalf("marshal:\n got %s\nwant %s", out, want)
	}
}

func TestParseURLEncoded(t *testing.T) {
	enc := url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	enc = strings.ReplaceAll(enc, "+", "%20")
	doc, err := Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Statements[0].Principal.Service[0] != "pullthroughcache.ecr.amazonaws.com" {
		t.Fatalf("service principal = %v", doc.Statements[0].Principal.Service)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "{", `{"Version":"2012-10-17"}`,
		`{"Statement":[],"Extra":1}`, `{"Statement":"x"}`, `{"Statement":["x"]}`, `{"Statement":[{"Effect":"Allow"},5]}`} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", in)
		}
	}
}

// A document-level value of the wrong JSON type is named by its element, in
// the policy's terms, not encoding/json's Go types; a byte order mark is
// named as such.
func TestParseNamesWrongTypes(t *testing.T) {
	for in, want := range map[string]string{
		`{"Version":20121017,"Statement":[]}`: "parsing policy: Version: a JSON number where a string belongs",
		"\ufeff" + `{"Statement":[]}`:         "parsing policy: the document starts with a byte order mark (U+FEFF), which JSON does not allow",
	} {
		_, err := Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%s):\n got %v\nwant %s", in, err, want)
		}
	}
}

// A statement the model cannot read (a value of another shape than the
// grammar's, an Effect other than Allow or Deny) does not make the document
// unreadable: it is kept as its text and its Sid, and says why, in the
// policy's terms. Someone's statement written years ago under rules AWS has
// since tightened must not stop ecr-warden from converging its own beside it.
func TestParseKeepsUnreadableStatements(t *testing.T) {
	for in, want := range map[string]struct{ sid, why string }{
		`{"Statement":[{"Effect":"Allow"},{"Sid":5,"Effect":"Allow"}]}`:                       {"", "Statement[1].Sid: a JSON number where a string belongs"},
		`{"Statement":{"Sid":true,"Effect":"Allow"}}`:                                         {"", "Statement.Sid: a JSON bool where a string belongs"},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"C","Effect":"Allow","Condition":[]}]}`:      {"C", "Statement[1].Condition: a JSON array where an object belongs"},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"P","Effect":"Allow","Principal":5}]}`:       {"P", `Statement[1]: principal 5: a principal is "*" or an object of principal types`},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"Bare","Effect":"Allow","Principal":"me"}]}`: {"Bare", `Statement[1]: principal "me": a string principal must be "*"`},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"R","Principal":{"Robot":"x"}}]}`:            {"R", `Statement[1]: principal type "Robot" is not one of AWS, Service, Federated, CanonicalUser`},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"M","Effect":"Maybe"}]}`:                     {"M", `Statement[1]: Effect "Maybe" must be Allow or Deny`},
		`{"Statement":[{"Effect":"Allow"},{"Sid":"L", "Effect":"allow"}]}`:                    {"L", `Statement[1]: Effect "allow" must be Allow or Deny`},
	} {
		doc, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%s): %v", in, err)
			continue
		}
		s := doc.Statements[len(doc.Statements)-1]
		if s.Sid != want.sid || s.Unreadable() != want.why {
			t.Errorf("Parse(%s): Sid %q, unreadable %q; want %q, %q", in, s.Sid, s.Unreadable(), want.sid, want.why)
		}
		if raw := string(s.Raw()); !strings.Contains(strings.ReplaceAll(in, " ", ""), raw) {
			t.Errorf("Parse(%s): kept text %s is not the statement's", in, raw)
		}
		if len(doc.Statements) == 2 && doc.Statements[0].Unreadable() != "" {
			t.Errorf("Parse(%s): the readable statement was read as unreadable: %s", in, doc.Statements[0].Unreadable())
		}
	}
}

// ReadsAsAllow is what lets the planner remove an unreadable statement of
// ecr-warden's: true only when no reading could make it a Deny.
func TestReadsAsAllow(t *testing.T) {
	for in, want := range map[string]bool{
		`{"Sid":"A","Effect":"Allow","Principal":"123456789012"}`: true,
		`{"Sid":"A","Effect":"allow","Principal":{"AWS":"*"}}`:    true,
		`{"Sid":"A","Effect":"ALLOW","Principal":{"Robot":"x"}}`:  true,
		`{"Sid":"D","Effect":"Deny","Principal":"123456789012"}`:  false,
		`{"Sid":"D","Effect":"deny","Principal":{"AWS":"*"}}`:     false,
		`{"Sid":"N","Principal":{"AWS":"*"}}`:                     false,
		`{"Sid":"L","Effect":["Allow"],"Principal":{"AWS":"*"}}`:  false,
		`{"Sid":"M","Effect":"Maybe","Principal":{"AWS":"*"}}`:    false,
		`{"Sid":"R","Effect":"Allow","Principal":{"AWS":"*"}}`:    true,
		`{"Sid":"R","Effect":"Deny","Principal":{"AWS":"*"}}`:     false,
	} {
		doc, err := Parse(`{"Statement":[` + in + `]}`)
		if err != nil {
			t.Fatalf("Parse(%s): %v", in, err)
		}
		if got := ReadsAsAllow(doc.Statements[0]); got != want {
			t.Errorf("ReadsAsAllow(%s) = %v, want %v (unreadable: %q)", in, got, want, doc.Statements[0].Unreadable())
		}
	}
}

func TestMergeReplacesOwnedInPlace(t *testing.T) {
	doc, err := Parse(foreignDoc)
	if err != nil {
		t.Fatal(err)
	}
	owned := []Statement{{Sid: "EcrWardenPull", Effect: "Allow", Principal: &Principal{AWS: StringList{"arn:aws:iam::444444444444:root"}},
		Action: StringList{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: StringList{"*"}}}
	m, err := Merge(doc, owned, "EcrWarden")
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range m.Statements {
		sids = append(sids, s.Sid)
	}
	if got := fmt.Sprint(sids); got != "[TeamA EcrWardenPull ]" {
		t.Fatalf("sids = %s", got)
	}
	if string(m.Statements[0].Raw()) != string(doc.Statements[0].Raw()) || string(m.Statements[2].Raw()) != string(doc.Statements[2].Raw()) {
		t.Fatal("foreign statement text changed")
	}
	if _, err := Merge(doc, []Statement{{Sid: "Other", Effect: "Allow"}}, "EcrWarden"); err == nil {
		t.Fatal("merging a statement without the prefix succeeded")
	}
	if _, err := Merge(doc, nil, ""); err == nil {
		t.Fatal("merging with an empty prefix succeeded")
	}
}

func TestEquivalent(t *testing.T) {
	a := `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::210987654321:role/ci"]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"},{"Sid":"B","Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	b := `{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Allow","Principal":{"Service":["pullthroughcache.ecr.amazonaws.com"]},"Action":["sts:assumerole"]},
	  {"Sid":"A","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::210987654321:role/ci","arn:aws:iam::123456789012:root"]},"Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"],"Resource":["*"]}]}`
	eq, err := Equivalent(a, b)
	if err != nil || !eq {
		t.Fatalf("Equivalent = %v, %v; want true", eq, err)
	}
	c := strings.Replace(b, "role/ci", "role/cd", 1)
	if eq, _ := Equivalent(a, c); eq {
		t.Fatal("different role ARNs compared equivalent")
	}
}

func TestCheckSize(t *testing.T) {
	big := `{"Statement":[{"Sid":"x","Effect":"Allow","Action":"` + strings.Repeat("a", 10300) + `"}]}`
	err := CheckSize(ECRRegistryPolicy, "arn:aws:ecr:us-east-1:111111111111:repository/*", big)
	var se *SizeError
	if !errors.As(err, &se) || se.Limit != 10240 || se.Size != len(big) {
		t.Fatalf("CheckSize = %v", err)
	}
	for _, want := range []string{"arn:aws:ecr:us-east-1:111111111111:repository/*", fmt.Sprint(len(big)), "10240", "aws:PrincipalOrgID", "principalMode"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	// IAM does not count whitespace between tokens, but does inside strings.
	if got := RoleTrustPolicy.Size("{ \"a b\" :\n 1 }"); got != 9 {
		t.Fatalf("IAM size = %d, want 9", got)
	}
}

func TestCheckInlineTotal(t *testing.T) {
	half := `{"Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"` + strings.Repeat("r", 5200) + `"}]}`
	if err := CheckSize(RoleInlinePolicy, "one", half); err != nil {
		t.Fatal(err)
	}
	err := CheckInlineTotal("arn:aws:iam::222222222222:role/ecr-warden-ptc", half, half)
	var se *SizeError
	if !errors.As(err, &se) || se.Size != 2*RoleInlinePolicy.Size(half) || !strings.Contains(err.Error(), "role/ecr-warden-ptc (all inline policies)") {
		t.Fatalf("CheckInlineTotal = %v", err)
	}
	if err := CheckInlineTotal("r", half); err != nil {
		t.Fatal(err)
	}
}

// Documents that encoding/json would silently reinterpret are refused with
// the key named, rather than merged: a duplicate Statement key would drop a
// foreign statement from the next write, a lowercase "sid" would be read as
// an owned Sid, trailing data or an unknown Version would be written back
// for AWS to reject.
func TestParseRefusesAmbiguousDocuments(t *testing.T) {
	theirs := `{"Sid":"Theirs","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage"}`
	for _, c := range []struct{ name, text, want string }{
		{"duplicate Statement", `{"Version":"2012-10-17","Statement":[` + theirs + `],"Statement":[]}`, `Statement: key "Statement" appears twice`},
		{"duplicate Effect", `{"Version":"2012-10-17","Statement":[{"Sid":"X","Effect":"Deny","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, `Statement[0].Effect: key "Effect" appears twice`},
		{"duplicate principal type", `{"Version":"2012-10-17","Statement":{"Sid":"X","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root","AWS":"*"},"Action":"ecr:*"}}`, `Statement.Principal.AWS: key "AWS" appears twice`},
		{"lowercase sid", `{"Version":"2012-10-17","Statement":[{"sid":"EcrWardenX","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, `Statement[0].sid: element "sid" must be spelled "Sid"`},
		{"lowercase statement", `{"Version":"2012-10-17","statement":[` + theirs + `]}`, `element "statement" must be spelled "Statement"`},
		{"trailing brace", `{"Version":"2012-10-17","Statement":[` + theirs + `]}}`, "trailing data"},
		{"trailing bracket", `{"Version":"2012-10-17","Statement":[` + theirs + `]}]`, "trailing data"},
		{"unknown version", `{"Version":"2020-01-01","Statement":[` + theirs + `]}`, `Version "2020-01-01" is not 2012-10-17 or 2008-10-17`},
	} {
		if _, err := Parse(c.text); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse error = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	// What stays accepted: a foreign statement whose condition values are
	// booleans and numbers, a missing Version (IAM's legacy default), a
	// statement without Sid, keys that only differ from element names deep
	// inside a condition; each foreign statement is kept byte for byte.
	ok := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"ecr:BatchGetImage","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10},"StringEquals":{"effect":"x"}}}]}`
	doc, err := Parse(ok)
	if err != nil {
		t.Fatalf("Parse(%s): %v", ok, err)
	}
	out, err := doc.Marshal()
	if err != nil || out != ok {
		t.Errorf("Marshal = %s, %v; want the text unchanged", out, err)
	}
}
