package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

func roots(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = policy.AccountRootARN("aws", fmt.Sprintf("%012d", 200000000000+from+i))
	}
	return out
}

// A document whose declared form is over the size limit is still written
// shrunk: a grant no longer declared is removed and a departed account
// leaves the enumeration, while the accounts that would grow it are left
// out (named in Withheld) and the foreign statement stays byte for byte.
// Without anything to remove, it is refused as a whole, as before.
func TestOverLimitDocumentIsWrittenOnlyShrunk(t *testing.T) {
	held := roots(0, 290) // fits, with the revoked statement and the foreign one
	revoked := pullStatement(prefix+"RevokeMe", "arn:aws:iam::444455556666:root")
	revoked.Action = policy.StringList{"ecr:PutImage"}
	current := doc(mustJSON(t, pullStatement(prefix+"Apps", held...)), mustJSON(t, revoked), foreignA)
	if err := policy.CheckSize(policy.ECRRegistryPolicy, regARN, current); err != nil {
		t.Fatalf("the current document must fit: %v", err)
	}
	// Declared: account 0 departed, 40 joined, RevokeMe deleted.
	want := []policy.Statement{pullStatement(prefix+"Apps", roots(1, 329)...)}
	c, err := Owner{Prefix: prefix}.Document(policy.ECRRegistryPolicy, regARN, current, want)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if c.Op != OpUpdate || c.Withheld == "" {
		t.Fatalf("op %s, withheld %q: want an update with what was left out", c.Op, c.Withheld)
	}
	if strings.Contains(c.After, "RevokeMe") || strings.Contains(c.After, held[0]) {
		t.Errorf("the revoked statement or the departed account is still written:\n%s", c.After)
	}
	for _, a := range held[1:] {
		if !strings.Contains(c.After, a) {
			t.Fatalf("account %s still declared was removed", a)
		}
	}
	if strings.Contains(c.After, roots(290, 1)[0]) {
		t.Errorf("an account that would grow the document was added")
	}
	if !strings.Contains(c.After, foreignA) {
		t.Errorf("foreign statement not kept byte for byte:\n%s", c.After)
	}
	for _, w := range []string{"over the 10240-character limit", "statement EcrWardenApps: 40 principal(s) not added", roots(290, 1)[0]} {
		if !strings.Contains(c.Withheld, w) {
			t.Errorf("withheld %q does not say %q", c.Withheld, w)
		}
	}
	if len(c.Removed) != 1 || c.Removed[0] != prefix+"RevokeMe" || len(c.Changed) != 1 {
		t.Errorf("removed %v changed %v", c.Removed, c.Changed)
	}

	// Only growth: refused whole.
	_, err = Owner{Prefix: prefix}.Document(policy.ECRRegistryPolicy, regARN, doc(mustJSON(t, pullStatement(prefix+"Apps", held...))),
		[]policy.Statement{pullStatement(prefix+"Apps", roots(0, 330)...)})
	if err == nil || !strings.Contains(err.Error(), "over the 10240-character limit") {
		t.Errorf("growth alone over the limit: err = %v, want the size refusal", err)
	}
}

// In a run that applies revocations only, a document is written shrunk
// even when its declared form fits: nothing is added or widened.
func TestShrinkOnlyAddsNothing(t *testing.T) {
	current := doc(mustJSON(t, pullStatement(prefix+"Apps", roots(0, 3)...)))
	wide := pullStatement(prefix+"Apps", roots(1, 5)...)
	wide.Action = append(policy.StringList{"ecr:PutImage"}, pullActions...)
	c, err := Owner{Prefix: prefix, ShrinkOnly: true}.Document(policy.ECRRegistryPolicy, regARN, current,
		[]policy.Statement{wide, pullStatement(prefix+"New", roots(9, 1)...)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Parse(c.After)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Statements) != 1 || len(got.Statements[0].Principal.AWS) != 2 || strings.Contains(c.After, "PutImage") {
		t.Errorf("shrunk document %s: want only accounts 1 and 2 with the pull actions", c.After)
	}
	for _, w := range []string{"revocations only", "statement EcrWardenNew not added", "3 principal(s) not added", "action(s) not added (ecr:PutImage)"} {
		if !strings.Contains(c.Withheld, w) {
			t.Errorf("withheld %q does not say %q", c.Withheld, w)
		}
	}
}

// A Sid AWS holds twice (the owned statement and a hand-made copy under its
// Sid) shrinks to one statement: the revocation (account 0) is written, not
// refused for a duplicate Sid, and the growth (account 3) is left out.
func TestShrinkOfADuplicatedSidWritesItOnce(t *testing.T) {
	declared := pullStatement(prefix+"Apps", roots(1, 3)...)
	copyWithMore := pullStatement(prefix+"Apps", roots(0, 3)...)
	current := doc(mustJSON(t, copyWithMore), mustJSON(t, pullStatement(prefix+"Apps", roots(0, 3)...)), foreignA)
	c, err := Owner{Prefix: prefix, ShrinkOnly: true}.Document(policy.ECRRegistryPolicy, regARN, current, []policy.Statement{declared})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	got, err := policy.Parse(c.After)
	if err != nil {
		t.Fatal(err)
	}
	if c.Op != OpUpdate || len(got.Statements) != 2 || strings.Contains(c.After, roots(0, 1)[0]) || strings.Contains(c.After, roots(3, 1)[0]) || !strings.Contains(c.After, foreignA) {
		t.Errorf("op %s: want the Sid once, without the revoked account or the new one, and the foreign statement kept:\n%s", c.Op, c.After)
	}
	if !strings.Contains(c.Withheld, "1 principal(s) not added") {
		t.Errorf("withheld %q does not name the account left out", c.Withheld)
	}
}
