package policy

import (
	"strings"
	"testing"
)

// Shrink keeps a statement only as far as both what AWS holds and what the
// declaration wants allow it: never a request either side refuses.
func TestShrinkNeverWidens(t *testing.T) {
	st := func(principal *Principal, cond Condition, actions ...string) Statement {
		return Statement{Sid: "EcrWardenX", Effect: "Allow", Principal: principal, Action: actions, Resource: StringList{"*"}, Condition: cond}
	}
	org := func(op, key string, vs ...string) Condition { return Condition{op: {key: vs}} }
	for name, c := range map[string]struct {
		cur, want Statement
		kept      string // the kept statement's encoding, "" when left out
	}{
		"principals intersected": {
			st(&Principal{AWS: StringList{"111111111111", "arn:aws:iam::222222222222:root"}}, nil, "ecr:BatchGetImage"),
			st(&Principal{AWS: StringList{"arn:aws:iam::111111111111:root", "333333333333"}}, nil, "ecr:BatchGetImage"),
			`{"Sid":"EcrWardenX","Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"ecr:BatchGetImage","Resource":"*"}`},
		"wildcard held, list wanted": {
			st(&Principal{Wildcard: true}, org("StringEquals", "aws:PrincipalOrgID", "o-1"), "ecr:BatchGetImage"),
			st(&Principal{AWS: StringList{"111111111111"}}, nil, "ecr:BatchGetImage"),
			`{"Sid":"EcrWardenX","Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`},
		"matching condition values intersected": {
			st(&Principal{Wildcard: true}, org("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-1/r/ou-a/*", "o-1/r/ou-b/*"), "ecr:BatchGetImage"),
			st(&Principal{Wildcard: true}, org("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", "o-1/r/ou-b/*", "o-1/r/ou-c/*"), "ecr:BatchGetImage"),
			`{"Sid":"EcrWardenX","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-1/r/ou-b/*"}}}`},
		"negated condition values united, new condition ANDed": {
			st(&Principal{Wildcard: true}, org("StringNotEquals", "aws:PrincipalAccount", "999999999999"), "ecr:BatchGetImage"),
			st(&Principal{Wildcard: true}, Condition{"StringNotEquals": {"aws:PrincipalAccount": {"111111111111"}}, "StringEquals": {"aws:PrincipalOrgID": {"o-1"}}}, "ecr:BatchGetImage"),
			`{"Sid":"EcrWardenX","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"},"StringNotEquals":{"aws:PrincipalAccount":["999999999999","111111111111"]}}}`},
		"other operator differing: left out": {
			st(&Principal{Wildcard: true}, org("ForAllValues:StringLike", "aws:PrincipalOrgPaths", "a"), "ecr:BatchGetImage"),
			st(&Principal{Wildcard: true}, org("ForAllValues:StringLike", "aws:PrincipalOrgPaths", "b"), "ecr:BatchGetImage"),
			""},
		"held key spelled twice in different case: left out": {
			st(&Principal{Wildcard: true}, Condition{"StringNotEquals": {"aws:PrincipalAccount": {"111111111111"}, "aws:principalaccount": {"999999999999"}}}, "ecr:BatchGetImage"),
			st(&Principal{Wildcard: true}, org("StringNotEquals", "aws:PrincipalAccount", "111111111111", "999999999999"), "ecr:BatchGetImage"),
			""},
		"no action in common: left out": {
			st(&Principal{AWS: StringList{"111111111111"}}, nil, "ecr:PutImage"),
			st(&Principal{AWS: StringList{"111111111111"}}, nil, "ecr:BatchGetImage"),
			""},
	} {
		kept, left := Shrink([]Statement{c.cur}, []Statement{c.want})
		got := ""
		if len(kept) == 1 {
			b, _ := kept[0].MarshalJSON()
			got = string(b)
		}
		if got != c.kept {
			t.Errorf("%s: kept %s\nwant %s", name, got, c.kept)
		}
		if len(left) != 1 || !strings.Contains(left[0], "EcrWardenX") {
			t.Errorf("%s: left %v, want what was not kept named", name, left)
		}
	}
	kept, left := Shrink([]Statement{{Sid: "EcrWardenGone", Effect: "Allow", Principal: &Principal{Wildcard: true}, Action: StringList{"ecr:*"}}}, nil)
	if len(kept) != 0 || len(left) != 0 {
		t.Errorf("a statement no longer declared: kept %v left %v", kept, left)
	}
}
