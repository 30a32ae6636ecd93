package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Finding 2: a revocation (the declaration no longer grants; ecr-warden
// removes its statement) next to a legitimate foreign statement the guard
// does not understand is not refused. The old planner ran the guard over
// the whole merged document and refused, so the revoked grant stayed in AWS.
func TestRevocationNextToForeignStatementIsNotRefused(t *testing.T) {
	foreign := map[string]string{
		"SourceVpce":       `{"Sid":"VpceOnly","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}`,
		"PrincipalAccount": `{"Sid":"OneAccount","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"333333333333"}}}`,
		"newer action":     `{"Sid":"Newer","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:DescribeSomethingNew2027","Resource":"*"}`,
	}
	for name, f := range foreign {
		t.Run(name, func(t *testing.T) {
			owned := mustJSON(t, orgPull())
			cur := doc(owned, f)
			c, err := Owner{Prefix: prefix, OrgID: "o-a1b2c3d4e5"}.Document(policy.ECRRegistryPolicy, regARN, cur, nil)
			if err != nil {
				t.Fatalf("revocation refused because of a foreign statement: %v", err)
			}
			if c.Op != OpDeleteOwned || strings.Contains(c.After, prefix) || !strings.Contains(c.After, f) {
				t.Fatalf("op %s, after %s: want delete-owned keeping the foreign statement byte for byte", c.Op, c.After)
			}
			if len(c.ForeignUnsafe) != 1 || !strings.Contains(c.ForeignUnsafe[0], "statement 1 (Sid") {
				t.Fatalf("foreign statement not reported by Sid: %q", c.ForeignUnsafe)
			}
			// The package-level Document (no organization id) behaves the same.
			if _, err := Document(policy.ECRRegistryPolicy, regARN, cur, nil, prefix); err != nil {
				t.Fatalf("Document: %v", err)
			}
		})
	}
}

// Finding 3 at the planner: a foreign "*" grant with a condition that lets
// outsiders in is never reported as safe: it is listed in ForeignUnsafe
// (audited foreign-unsafe) with its Sid and why, whatever ecr-warden writes
// next to it.
func TestHostileForeignGrantIsReportedNotCosigned(t *testing.T) {
	conds := []string{
		`{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		`{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`,
		`{"StringLike":{"aws:PrincipalOrgID":"o-*"}}`,
		`{"Null":{"aws:PrincipalOrgID":"false"}}`,
		`{"StringEquals":{"aws:PrincipalOrgID":"o-zzzzzzzzzz"}}`,
	}
	o := Owner{Prefix: prefix, OrgID: "o-a1b2c3d4e5"}
	for _, cond := range conds {
		f := `{"Sid":"Hostile","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":` + cond + `}`
		c, err := o.Document(policy.ECRRegistryPolicy, regARN, doc(f), []policy.Statement{orgPull()})
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if len(c.ForeignUnsafe) != 1 || !strings.Contains(c.ForeignUnsafe[0], `Sid "Hostile"`) || !strings.Contains(c.ForeignUnsafe[0], "confining it to the organization") {
			t.Errorf("%s: ForeignUnsafe = %q, want the statement named with why", cond, c.ForeignUnsafe)
		}
	}
	// ecr-warden's own statements are judged as strictly, and refused.
	own := orgPull()
	own.Condition = policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {"o-zzzzzzzzzz"}}}
	if _, err := o.Document(policy.ECRRegistryPolicy, regARN, "", []policy.Statement{own}); err == nil || !strings.Contains(err.Error(), "another organization") {
		t.Errorf("owned statement confined to another organization: %v", err)
	}
}

// Finding 7: a Deny someone wrote with the reserved Sid prefix is never
// deleted or changed (deleting a Deny silently widens access). The old
// planner treated it as an owned statement and removed it.
//
// Nor does it block the rest of the document: a grant the declaration no
// longer gives is removed beside it (the whole document used to be refused,
// so the revoked account kept pulling), and the Deny is kept byte for byte
// and reported with its Sid named. Only a Deny under a Sid the declaration
// renders refuses the document: writing the declared statement would
// change it.
func TestPrefixedDenyIsKeptAndDoesNotBlockRevocations(t *testing.T) {
	deny := `{"Sid":"EcrWardenBlockDelete","Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository","Resource":"*"}`
	revoked := pullStatement(prefix+"TeamBAccounts", "arn:aws:iam::444444444444:root")
	cur := doc(mustJSON(t, orgPull()), mustJSON(t, revoked), deny)
	c, err := Document(policy.ECRRegistryPolicy, regARN, cur, []policy.Statement{orgPull()}, prefix)
	if err != nil {
		t.Fatalf("prefixed Deny beside a revoked grant: %v; want the revocation written and the Deny kept", err)
	}
	if c.Op != OpUpdate || strings.Contains(c.After, "444444444444") || !strings.Contains(c.After, deny) || !strings.Contains(c.After, `"EcrWardenOrgPull"`) {
		t.Errorf("op %s, after %s; want the revoked grant removed, the declared one and the Deny (byte for byte) kept", c.Op, c.After)
	}
	if !slices.Equal(c.Removed, []string{prefix + "TeamBAccounts"}) {
		t.Errorf("removed %v, want only the revoked grant", c.Removed)
	}
	if len(c.ForeignUnsafe) != 1 || !strings.Contains(c.ForeignUnsafe[0], `"EcrWardenBlockDelete"`) || !strings.Contains(c.ForeignUnsafe[0], "Deny") {
		t.Errorf("ForeignUnsafe = %q, want the kept Deny named", c.ForeignUnsafe)
	}
	// The Deny alone left: the document stays as it is.
	c, err = Document(policy.ECRRegistryPolicy, regARN, c.After, []policy.Statement{orgPull()}, prefix)
	if err != nil || c.Op != OpNone {
		t.Errorf("converged document with a prefixed Deny: op %s, %v; want none", c.Op, err)
	}
	// Nothing of ours wanted: the Deny is what remains.
	c, err = Document(policy.ECRRegistryPolicy, regARN, cur, nil, prefix)
	if err != nil || c.After != doc(deny) {
		t.Errorf("grants revoked beside a prefixed Deny: %v, after %s; want only the Deny", err, c.After)
	}
	// A Deny under a Sid the declaration renders is kept too, and the
	// declared statement under that Sid is left out (a Sid is held once),
	// named in the note; the revoked grant beside it is removed all the
	// same. (This used to refuse the whole document, which kept the revoked
	// grant: TestTruthTableAdversarialHandEdits.)
	taken := strings.Replace(deny, "EcrWardenBlockDelete", "EcrWardenOrgPull", 1)
	c, err = Document(policy.ECRRegistryPolicy, regARN, doc(taken, mustJSON(t, revoked)), []policy.Statement{orgPull()}, prefix)
	if err != nil || c.After != doc(taken) || !slices.Equal(c.Removed, []string{prefix + "TeamBAccounts"}) {
		t.Fatalf("prefixed Deny under a declared Sid beside a revoked grant: %v, removed %v, after %s; want the Deny kept byte for byte and the revoked grant removed", err, c.Removed, c.After)
	}
	if notes := strings.Join(c.ForeignUnsafe, "\n"); !strings.Contains(notes, `"EcrWardenOrgPull"`) || !strings.Contains(notes, "declared statement under it is left out") {
		t.Errorf("ForeignUnsafe %q; want the Deny named and the declared statement it displaces said to be left out", c.ForeignUnsafe)
	}
	if c, err := Document(policy.ECRRegistryPolicy, regARN, c.After, []policy.Statement{orgPull()}, prefix); err != nil || c.Op != OpNone {
		t.Errorf("converged document with a Deny under a declared Sid: op %s, %v; want none", c.Op, err)
	}
	// Two of them under one Sid: refused, naming it (a Sid is written once).
	if _, err := Document(policy.ECRRegistryPolicy, regARN, doc(taken, strings.Replace(taken, "DeleteRepository", "PutImage", 1)), []policy.Statement{orgPull()}, prefix); err == nil || !strings.Contains(err.Error(), `"EcrWardenOrgPull"`) || !strings.Contains(err.Error(), "held twice") {
		t.Fatalf("two prefixed Denies under a declared Sid: %v, want a refusal naming the Sid", err)
	}
	// Renamed out of the prefix, it is a foreign statement and is kept.
	kept := strings.Replace(deny, "EcrWardenBlockDelete", "BlockDelete", 1)
	c, err = Document(policy.ECRRegistryPolicy, regARN, doc(mustJSON(t, orgPull()), kept), nil, prefix)
	if err != nil || !strings.Contains(c.After, kept) {
		t.Fatalf("renamed Deny: %v, after %s", err, c.After)
	}
}

// A statement carrying the Sid prefix that the reader cannot read (here a
// bare account id as Principal, which AWS resource policies accept) used to
// refuse its whole document, so a grant the declaration no longer gives
// stayed beside it (the revoked account kept pulling). Now the rest of the
// document converges beside it and it never keeps a wrong grant: one whose
// Effect reads Allow is removed (removing an Allow only narrows), or
// replaced under a Sid the declaration renders; anything else (a Deny, an
// Effect that does not read Allow) is kept byte for byte. Each is reported
// with its Sid and what was done; foreign statements stay byte for byte.
func TestUnreadablePrefixedStatementDoesNotBlockRevocations(t *testing.T) {
	revoked := pullStatement(prefix+"TeamBAccounts", "arn:aws:iam::444444444444:root")
	const (
		legacy  = `{"Sid":"EcrWardenLegacy","Effect":"Allow","Principal":"666666666666","Action":"ecr:BatchGetImage","Resource":"*"}`
		deny    = `{"Sid":"EcrWardenHold","Effect":"Deny","Principal":"555555555555","Action":"ecr:BatchGetImage","Resource":"*"}`
		unknown = `{"Sid":"EcrWardenOdd","Effect":"deny","Principal":{"AWS":"*"},"Action":"ecr:DeleteRepository","Resource":"*"}`
		foreign = `{"Sid":"Theirs","Effect":"Allow","Principal":"777777777777","Action":"ecr:BatchGetImage","Resource":"*"}`
	)
	cur := doc(mustJSON(t, orgPull()), legacy, mustJSON(t, revoked), deny, foreign, unknown)
	c, err := Document(policy.ECRRegistryPolicy, regARN, cur, []policy.Statement{orgPull()}, prefix)
	if err != nil {
		t.Fatalf("unreadable prefixed statements beside a revoked grant: %v; want the revocation written", err)
	}
	if c.Op != OpUpdate || strings.Contains(c.After, "444444444444") || strings.Contains(c.After, "666666666666") {
		t.Errorf("op %s, after %s; want the revoked grant and the unreadable Allow removed", c.Op, c.After)
	}
	for _, kept := range []string{deny, unknown, foreign, `"EcrWardenOrgPull"`} {
		if !strings.Contains(c.After, kept) {
			t.Errorf("after %s; want %s kept byte for byte", c.After, kept)
		}
	}
	if !slices.Equal(c.Removed, []string{prefix + "Legacy", prefix + "TeamBAccounts"}) {
		t.Errorf("removed %v, want the unreadable Allow and the revoked grant", c.Removed)
	}
	notes := strings.Join(c.ForeignUnsafe, "\n")
	for _, want := range []string{`"EcrWardenLegacy"): carries ecr-warden's Sid prefix but cannot be read`, "so it is removed", legacy,
		`"EcrWardenHold"): carries`, `"EcrWardenOdd"): carries`, "kept as written"} {
		if !strings.Contains(notes, want) {
			t.Errorf("ForeignUnsafe %q does not say %q", c.ForeignUnsafe, want)
		}
	}
	// What is left plans to nothing: dry run and apply agree, and the
	// second plan is a no-op.
	c, err = Document(policy.ECRRegistryPolicy, regARN, c.After, []policy.Statement{orgPull()}, prefix)
	if err != nil || c.Op != OpNone {
		t.Errorf("converged document with kept unreadable statements: op %s, %v; want none", c.Op, err)
	}
	// Nothing of ours wanted: the statements that may deny and the foreign
	// one are what remains (ecr-warden's, kept, where its statements were).
	c, err = Document(policy.ECRRegistryPolicy, regARN, cur, nil, prefix)
	if err != nil || c.After != doc(deny, unknown, foreign) {
		t.Errorf("grants revoked beside unreadable statements: %v, after %s; want the Deny, the foreign and the odd statement", err, c.After)
	}
	// An unreadable Allow under a Sid the declaration renders is replaced
	// by the declared statement, and said so.
	taken := strings.Replace(legacy, "EcrWardenLegacy", "EcrWardenOrgPull", 1)
	c, err = Document(policy.ECRRegistryPolicy, regARN, doc(taken, foreign), []policy.Statement{orgPull()}, prefix)
	if err != nil || c.After != doc(mustJSON(t, orgPull()), foreign) || !slices.Equal(c.Changed, []string{prefix + "OrgPull"}) {
		t.Errorf("unreadable Allow under a declared Sid: %v, changed %v, after %s; want it replaced by the declared statement", err, c.Changed, c.After)
	}
	if notes := strings.Join(c.ForeignUnsafe, "\n"); !strings.Contains(notes, "replaced by the declared statement") || !strings.Contains(notes, taken) {
		t.Errorf("ForeignUnsafe %q; want the replaced statement named with its text", c.ForeignUnsafe)
	}
	// One that may deny under a declared Sid: kept byte for byte, the
	// declared statement under its Sid left out (writing it would remove
	// the held one) and said so, the revoked grant beside it removed. It
	// used to refuse the whole document, which kept the revoked grant.
	for _, held := range []string{deny, unknown} {
		taken := strings.NewReplacer("EcrWardenHold", "EcrWardenOrgPull", "EcrWardenOdd", "EcrWardenOrgPull").Replace(held)
		c, err := Document(policy.ECRRegistryPolicy, regARN, doc(taken, mustJSON(t, revoked)), []policy.Statement{orgPull()}, prefix)
		if err != nil || c.After != doc(taken) {
			t.Errorf("unreadable %s under a declared Sid beside a revoked grant: %v, after %s; want it kept and the revoked grant removed", held, err, c.After)
			continue
		}
		if notes := strings.Join(c.ForeignUnsafe, "\n"); !strings.Contains(notes, `"EcrWardenOrgPull"`) || !strings.Contains(notes, "cannot be read") || !strings.Contains(notes, "declared statement under it is left out") {
			t.Errorf("unreadable %s under a declared Sid: ForeignUnsafe %q; want it named, why, and the declared statement said to be left out", held, c.ForeignUnsafe)
		}
	}
}

// Finding 7: the size error says what takes the space and gives the remedy
// that helps: when foreign statements are the bulk, switching ecr-warden to
// condition mode would not help, and the message says so.
func TestSizeErrorNamesWhatTakesTheSpace(t *testing.T) {
	var foreign []string
	for i := 0; i < 60; i++ {
		foreign = append(foreign, fmt.Sprintf(`{"Sid":"Team%03d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%012d:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":"*"}`, i, 300000000000+i))
	}
	_, err := Document(policy.ECRRegistryPolicy, regARN, doc(foreign...), []policy.Statement{orgPull()}, prefix)
	var se *policy.SizeError
	if !errors.As(err, &se) {
		t.Fatalf("want a size error, got %v", err)
	}
	if se.ForeignCount != 60 || se.OwnedCount != 1 || se.Foreign <= se.Owned {
		t.Fatalf("size error = %+v", se)
	}
	for _, want := range []string{"60 foreign statement(s)", "ecr-warden's 1 statement(s)", "shorten or move them"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "foreign statements take most") && strings.HasSuffix(err.Error(), "enumerating accounts") {
		t.Errorf("error advises only condition mode: %v", err)
	}
}
