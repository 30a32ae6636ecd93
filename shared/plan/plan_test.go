package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

const (
	prefix   = "EcrWarden"
	repoARN  = "arn:aws:ecr:us-east-1:111111111111:repository/shared/app"
	regARN   = "arn:aws:ecr:us-east-1:111111111111:repository/*"
	pubARN   = "arn:aws:ecr-public::111111111111:repository/tools"
	foreignA = `{"Sid":"TeamA","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}`
	foreignB = `{"Effect":"Deny","Principal":"*","Action":"ecr:DeleteRepository","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111111111111"}}}`
)

var pullActions = policy.StringList{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}

func pullStatement(sid string, principals ...string) policy.Statement {
	return policy.Statement{Sid: sid, Effect: "Allow", Principal: &policy.Principal{AWS: principals},
		Action: pullActions, Resource: policy.StringList{"*"}}
}

func orgPull() policy.Statement {
	return policy.Statement{Sid: prefix + "OrgPull", Effect: "Allow", Principal: &policy.Principal{Wildcard: true},
		Action: pullActions, Resource: policy.StringList{"*"},
		Condition: policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {"o-a1b2c3d4e5"}}}}
}

const roleARN = "arn:aws:iam::222222222222:role/ecr-warden-ptc"

func trust(account string) policy.Statement {
	return policy.Statement{Sid: prefix + "PTCTrust", Effect: "Allow",
		Principal: &policy.Principal{Service: policy.StringList{"pullthroughcache.ecr.amazonaws.com"}},
		Action:    policy.StringList{"sts:AssumeRole"},
		Condition: policy.Condition{"StringEquals": {"aws:SourceAccount": {account}}}}
}

func ptcPermissions() policy.Statement {
	return policy.Statement{Sid: prefix + "PTCPermissions", Effect: "Allow", Resource: policy.StringList{"*"},
		Action: policy.StringList{"ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken", "ecr:BatchImportUpstreamImage",
			"ecr:BatchGetImage", "ecr:GetImageCopyStatus", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
			"ecr:CompleteLayerUpload", "ecr:PutImage"}}
}

// urlEncoded is a one-statement document the way IAM's GetRole and
// GetRolePolicy return it.
func urlEncoded(t *testing.T, s policy.Statement) string {
	text, err := (&policy.Document{Version: policy.VersionCurrent, Statements: []policy.Statement{s}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(url.QueryEscape(text), "+", "%20")
}

func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func mustJSON(t *testing.T, s policy.Statement) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenFile compares got with testdata/<name>.golden byte for byte, rewriting it with -update
// (see package golden).
func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

func render(t *testing.T, c Change) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(c.Diff())
	fmt.Fprintf(&b, "added=%v changed=%v removed=%v\n", c.Added, c.Changed, c.Removed)
	b.WriteString("--- after ---\n")
	if c.After == "" {
		b.WriteString("(no document)\n")
	} else {
		d, err := policy.Parse(c.After)
		if err != nil {
			t.Fatalf("after does not parse: %v", err)
		}
		p, err := d.Pretty()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(p + "\n")
	}
	return b.String()
}

func TestDocumentGolden(t *testing.T) {
	hub := pullStatement(prefix+"Pull222", "arn:aws:iam::222222222222:root")
	hubChanged := pullStatement(prefix+"Pull222", "arn:aws:iam::222222222222:root", "arn:aws:iam::444444444444:role/ci")
	cases := []struct {
		name    string
		kind    policy.DocumentKind
		target  string
		current string
		owned   []policy.Statement
		op      Op
	}{
		{"create-repository", policy.ECRRepositoryPolicy, repoARN, "", []policy.Statement{hub}, OpCreate},
		{"create-public", policy.PublicRepositoryPolicy, pubARN, "", []policy.Statement{{Sid: prefix + "Push", Effect: "Allow",
			Principal: &policy.Principal{AWS: policy.StringList{"arn:aws:iam::111111111111:root"}},
			Action:    policy.StringList{"ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage", "ecr-public:InitiateLayerUpload", "ecr-public:UploadLayerPart", "ecr-public:CompleteLayerUpload"}}}, OpCreate},
		{"merge-into-foreign", policy.ECRRegistryPolicy, regARN, doc(foreignA, foreignB), []policy.Statement{orgPull()}, OpUpdate},
		{"update-in-place", policy.ECRRegistryPolicy, regARN, doc(foreignA, mustJSON(t, hub), foreignB), []policy.Statement{hubChanged, orgPull()}, OpUpdate},
		{"delete-owned", policy.ECRRegistryPolicy, regARN, doc(foreignA, mustJSON(t, hub), foreignB), nil, OpDeleteOwned},
		{"delete-document", policy.ECRRepositoryPolicy, repoARN, doc(mustJSON(t, hub)), nil, OpDeleteDocument},
		{"none-equivalent", policy.ECRRepositoryPolicy, repoARN,
			doc(foreignA, `{"Sid":"EcrWardenPull222","Effect":"Allow","Principal":{"AWS":["222222222222"]},"Action":["ecr:getdownloadurlforlayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability"],"Resource":["*"]}`),
			[]policy.Statement{hub}, OpNone},
		{"none-foreign-only", policy.ECRRepositoryPolicy, repoARN, doc(foreignA), nil, OpNone},
		{"create-role-trust", policy.RoleTrustPolicy, roleARN, "", []policy.Statement{trust("222222222222")}, OpCreate},
		// IAM returns role documents URL-encoded; a different account in the
		// confused-deputy condition is an update.
		{"update-role-trust-urlencoded", policy.RoleTrustPolicy, roleARN, urlEncoded(t, trust("333333333333")), []policy.Statement{trust("222222222222")}, OpUpdate},
		{"none-role-permissions-urlencoded", policy.RoleInlinePolicy, roleARN, urlEncoded(t, ptcPermissions()), []policy.Statement{ptcPermissions()}, OpNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := Document(c.kind, c.target, c.current, c.owned, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Op != c.op {
				t.Fatalf("op = %s, want %s (%s)", ch.Op, c.op, ch.Reason)
			}
			goldenFile(t, "document-"+c.name, render(t, ch))
		})
	}
}

// A statement someone wrote by hand with a Sid that happens to start with
// the prefix is ecr-warden's, and removed: the plan says why, names it, and
// says how to keep it, next to the foreign statement it keeps.
func TestPlanSaysWhyAHandWrittenPrefixedStatementIsRemoved(t *testing.T) {
	hand := `{"Sid":"EcrWardenTemp","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage","Resource":"arn:aws:ecr:us-east-1:111111111111:repository/tmp/*"}`
	ch, err := Document(policy.ECRRegistryPolicy, regARN, doc(foreignA, hand), []policy.Statement{orgPull()}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Op != OpUpdate || !slices.Equal(ch.Removed, []string{"EcrWardenTemp"}) {
		t.Fatalf("op %s, removed %v: %s", ch.Op, ch.Removed, ch.Reason)
	}
	want := `removed, since the Sid starts with the sidPrefix "EcrWarden" and the declaration does not render it: EcrWardenTemp ` +
		`(one written by hand under the prefix counts as ecr-warden's too; to keep it, give it a Sid that does not start with "EcrWarden")`
	if !strings.Contains(ch.Reason, want) || !strings.Contains(ch.Reason, "keeping 1 foreign statement(s)") {
		t.Errorf("reason: %s", ch.Reason)
	}
	d := ch.Diff()
	if !strings.Contains(d, "\n  = \"TeamA\"\n") || !strings.Contains(d, "\n  - \"EcrWardenTemp\"\n") {
		t.Errorf("diff:\n%s", d)
	}
	// Nothing removed, nothing said.
	ch, err = Document(policy.ECRRegistryPolicy, regARN, doc(foreignA), []policy.Statement{orgPull()}, prefix)
	if err != nil || strings.Contains(ch.Reason, "removed, since") {
		t.Errorf("a change that removes nothing: %v %s", err, ch.Reason)
	}
}

func TestDocumentKeepsForeignBytes(t *testing.T) {
	// Foreign statements are written back as they were (modulo whitespace),
	// including key order and a boolean condition value.
	odd := `{"Effect":"Allow","Sid":"Odd","Action":"ecr:BatchGetImage","Principal":{"AWS":"333333333333"},"Condition":{"Bool":{"aws:SecureTransport":true}}}`
	ch, err := Document(policy.ECRRepositoryPolicy, repoARN, doc(odd), []policy.Statement{pullStatement(prefix+"X", "222222222222")}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.After, odd) {
		t.Fatalf("foreign statement rewritten:\n%s", ch.After)
	}
}

func TestPublicVersion(t *testing.T) {
	ch, err := Document(policy.PublicRepositoryPolicy, pubARN, "", []policy.Statement{{Sid: prefix + "P", Effect: "Allow",
		Principal: &policy.Principal{AWS: policy.StringList{"111111111111"}}, Action: policy.StringList{"ecr-public:PutImage"}}}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.After, `{"Version":"2008-10-17"`) {
		t.Fatalf("public policy version: %s", ch.After)
	}
	// An existing document keeps its version.
	ch, err = Document(policy.ECRRepositoryPolicy, repoARN, `{"Version":"2008-10-17","Statement":[`+foreignA+`]}`,
		[]policy.Statement{pullStatement(prefix+"X", "222222222222")}, prefix)
	if err != nil || !strings.HasPrefix(ch.After, `{"Version":"2008-10-17"`) {
		t.Fatalf("version not kept: %v %s", err, ch.After)
	}
}

func TestDocumentErrorsNameTarget(t *testing.T) {
	_, err := Document(policy.ECRRepositoryPolicy, repoARN, `{"Statement":[{"Effect":"Allow",`, nil, prefix)
	if err == nil || !strings.Contains(err.Error(), repoARN) || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("malformed current: %v", err)
	}
	public := orgPull()
	public.Condition = nil
	_, err = Document(policy.ECRRegistryPolicy, regARN, "", []policy.Statement{public}, prefix)
	if err == nil || !strings.Contains(err.Error(), regARN) || !strings.Contains(err.Error(), "aws:PrincipalOrgID") {
		t.Fatalf("public grant: %v", err)
	}
	bad := pullStatement(prefix+"Bad", "12345")
	bad.Action = policy.StringList{"ecr:BatchGetImages"}
	_, err = Document(policy.ECRRegistryPolicy, regARN, "", []policy.Statement{bad}, prefix)
	if err == nil || !strings.Contains(err.Error(), `"12345"`) || !strings.Contains(err.Error(), "ecr:BatchGetImages") {
		t.Fatalf("bad principal and action: %v", err)
	}
}

func TestOversizedEnumeration(t *testing.T) {
	// 400 accounts enumerated into one statement: about 13,000 characters.
	var accounts []string
	for i := 0; i < 400; i++ {
		accounts = append(accounts, policy.AccountRootARN("aws", fmt.Sprintf("%012d", 200000000000+i)))
	}
	_, err := Document(policy.ECRRegistryPolicy, regARN, "", []policy.Statement{pullStatement(prefix+"Pull", accounts...)}, prefix)
	var se *policy.SizeError
	if !errors.As(err, &se) {
		t.Fatalf("want a size error, got %v", err)
	}
	if se.Limit != 10240 || se.Size <= 10240 || se.Document != regARN {
		t.Fatalf("size error = %+v", se)
	}
	for _, want := range []string{regARN, fmt.Sprint(se.Size), "10240", "aws:PrincipalOrgPaths"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRulesGolden(t *testing.T) {
	cred := "arn:aws:secretsmanager:us-east-1:222222222222:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
	role := "arn:aws:iam::222222222222:role/ecr-warden-ptc"
	current := []Rule{
		{Prefix: "ecr-public", UpstreamRegistryURL: "public.ecr.aws", UpstreamRegistry: "ecr-public"},
		{Prefix: "docker-hub", UpstreamRegistryURL: "registry-1.docker.io", UpstreamRegistry: "docker-hub", CredentialARN: cred + "-old"},
		{Prefix: "quay", UpstreamRegistryURL: "ghcr.io", UpstreamRegistry: "github-container-registry", CredentialARN: cred},
		{Prefix: "hand-made", UpstreamRegistryURL: "registry.gitlab.com"},
		{Prefix: "old-k8s", UpstreamRegistryURL: "registry.k8s.io", UpstreamRegistry: "k8s"},
	}
	desired := []Rule{
		{Prefix: "ecr-public", UpstreamRegistryURL: "public.ecr.aws", UpstreamRegistry: "ecr-public"},
		{Prefix: "docker-hub", UpstreamRegistryURL: "registry-1.docker.io", UpstreamRegistry: "docker-hub", CredentialARN: cred},
		{Prefix: "quay", UpstreamRegistryURL: "quay.io", UpstreamRegistry: "quay"},
		{Prefix: "hub", UpstreamRegistryURL: "111111111111.dkr.ecr.us-east-1.amazonaws.com", UpstreamRegistry: "ecr", CustomRoleARN: role, UpstreamRepositoryPrefix: "shared"},
	}
	changes := Rules("222222222222/us-east-1", current, desired, []string{"old-k8s", "never-existed"})
	want := map[string]Op{"ecr-public": OpNone, "docker-hub": OpUpdate, "quay": OpConflict, "hub": OpCreate, "old-k8s": OpDelete}
	if len(changes) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(changes), len(want), changes)
	}
	for _, c := range changes {
		if want[c.Prefix] != c.Op {
			t.Errorf("%s: op %s, want %s (%s)", c.Prefix, c.Op, want[c.Prefix], c.Reason)
		}
		if c.Prefix == "hand-made" {
			t.Error("undeclared, unretired rule was touched")
		}
	}
	out, err := json.MarshalIndent(changes, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "rules", string(out)+"\n")
}

func TestDiffMarksEveryStatement(t *testing.T) {
	hub := pullStatement(prefix+"Pull", "222222222222")
	ch, err := Document(policy.ECRRepositoryPolicy, repoARN, doc(foreignA, foreignB, `{"Sid":"EcrWardenGone","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}`),
		[]policy.Statement{hub}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	d := ch.Diff()
	for _, want := range []string{"update ecr-repository-policy " + repoARN, `  = "TeamA"`, "  = (no Sid, #1)", `  + "EcrWardenPull"`, `  - "EcrWardenGone"`} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if fmt.Sprint(ch.Added, ch.Removed, ch.Changed) != "[EcrWardenPull] [EcrWardenGone] []" {
		t.Errorf("sids: %v %v %v", ch.Added, ch.Removed, ch.Changed)
	}
}

func TestDocumentRejectsBadOwned(t *testing.T) {
	for _, owned := range [][]policy.Statement{
		{pullStatement("Other", "222222222222")},
		{pullStatement(prefix+"A", "222222222222"), pullStatement(prefix+"A", "333333333333")},
	} {
		if _, err := Document(policy.ECRRepositoryPolicy, repoARN, "", owned, prefix); err == nil || !strings.Contains(err.Error(), repoARN) {
			t.Errorf("owned %v: err = %v", owned, err)
		}
	}
	if _, err := Document(policy.ECRRepositoryPolicy, repoARN, "", nil, ""); err == nil {
		t.Error("empty prefix accepted")
	}
}

func TestTrustPolicyLimit(t *testing.T) {
	// A trust policy is limited to 2,048 characters without whitespace.
	var principals []string
	for i := 0; i < 60; i++ {
		principals = append(principals, fmt.Sprintf("arn:aws:iam::%012d:root", 300000000000+i))
	}
	st := policy.Statement{Sid: prefix + "Trust", Effect: "Allow", Principal: &policy.Principal{AWS: principals}, Action: policy.StringList{"sts:AssumeRole"}}
	_, err := Document(policy.RoleTrustPolicy, "arn:aws:iam::222222222222:role/ecr-warden-ptc", "", []policy.Statement{st}, prefix)
	var se *policy.SizeError
	if !errors.As(err, &se) || se.Limit != 2048 {
		t.Fatalf("want a 2048 size error, got %v", err)
	}
}

// Statements that share a Sid (ECR does not require Sids to be unique; a
// forged copy of an owned statement shares its Sid) are matched one to one,
// an equivalent one first: the diff never shows a foreign statement as
// changed when the write keeps it byte for byte, and never hides an owned
// duplicate the write removes.
func TestDiffMatchesDuplicateSidsOneToOne(t *testing.T) {
	sharedA := `{"Sid":"Shared","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage"}`
	sharedB := `{"Sid":"Shared","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444444444444:root"},"Action":"ecr:PutImage"}`
	pull := pullStatement(prefix+"Pull", "222222222222")
	ch, err := Document(policy.ECRRepositoryPolicy, repoARN, doc(sharedA, sharedB), []policy.Statement{pull}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.After, sharedA) || !strings.Contains(ch.After, sharedB) {
		t.Fatalf("foreign statements not kept byte for byte:\n%s", ch.After)
	}
	d := ch.Diff()
	if strings.Count(d, `  = "Shared"`) != 2 || strings.Contains(d, `~ "Shared"`) || strings.Contains(d, `- "Shared"`) {
		t.Errorf("the two kept foreign statements named Shared must both read unchanged:\n%s", d)
	}

	// An owned statement and a forged copy under its Sid (granting "*"):
	// the write keeps one, and the diff shows the forged one removed.
	forged := `{"Sid":"EcrWardenPull","Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}`
	for _, order := range [][]string{{mustJSON(t, pull), forged}, {forged, mustJSON(t, pull)}} {
		ch, err := Document(policy.ECRRepositoryPolicy, repoARN, doc(order...), []policy.Statement{pull}, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Op != OpUpdate || strings.Contains(ch.After, `"Principal":"*"`) {
			t.Fatalf("op %s, after %s", ch.Op, ch.After)
		}
		if fmt.Sprint(ch.Removed) != "[EcrWardenPull]" || !strings.Contains(ch.Reason, "removed 1") {
			t.Errorf("the dropped copy must be listed as removed: removed %v, reason %q", ch.Removed, ch.Reason)
		}
		d := ch.Diff()
		if !strings.Contains(d, `  = "EcrWardenPull"`) || !strings.Contains(d, `  - "EcrWardenPull"`) || !strings.Contains(d, `"Principal": "*"`) || strings.Contains(d, `~ "EcrWardenPull"`) {
			t.Errorf("the forged duplicate must show as removed and the kept statement as unchanged:\n%s", d)
		}
	}
}

// An owned statement whose condition spells one key twice in different case
// (IAM compares keys without case and does not document which value it
// tests) is not the statement ecr-warden writes, even where the values
// together are the declared ones: under either reading of the split below
// one account the declaration excludes is let in. It is rewritten as
// declared, and the same split in a foreign statement is reported.
func TestCaseSplitConditionKeyIsNotEquivalent(t *testing.T) {
	want := policy.Statement{Sid: prefix + "Upstream", Effect: "Allow", Principal: &policy.Principal{AWS: policy.StringList{"*"}},
		Action: policy.StringList{"ecr:BatchGetImage"}, Resource: policy.StringList{"*"},
		Condition: policy.Condition{"StringEquals": {"aws:PrincipalOrgID": {"o-a1b2c3d4e5"}},
			"StringNotEquals": {"aws:PrincipalAccount": {"111111111111", "999999999999"}}}}
	split := func(sid string) string {
		return `{"Sid":"` + sid + `","Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"},"StringNotEquals":{"aws:PrincipalAccount":"111111111111","aws:principalaccount":"999999999999"}}}`
	}
	o := Owner{Prefix: prefix, OrgID: "o-a1b2c3d4e5"}
	ch, err := o.Document(policy.ECRRegistryPolicy, regARN, doc(split(prefix+"Upstream")), []policy.Statement{want})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Op != OpUpdate || fmt.Sprint(ch.Changed) != "[EcrWardenUpstream]" || strings.Contains(ch.After, "aws:principalaccount") {
		t.Fatalf("a forged case split must be rewritten as declared: op %s changed %v\n%s", ch.Op, ch.Changed, ch.After)
	}
	ch, err = o.Document(policy.ECRRegistryPolicy, regARN, doc(split("Theirs")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Op != OpNone || len(ch.ForeignUnsafe) != 1 || !strings.Contains(ch.ForeignUnsafe[0], "aws:principalaccount") {
		t.Fatalf("a foreign case split must be kept and reported: op %s, unsafe %q", ch.Op, ch.ForeignUnsafe)
	}
}

// A Sid that only looks like the prefix (another case, a Cyrillic Е) is not
// ecr-warden's: the statement is kept byte for byte, and where the plan
// names it (the diff, a foreign-unsafe report) it reads escaped, so it is
// never mistaken for one of ecr-warden's own. A Sid written with a JSON
// escape that decodes to the prefix is ecr-warden's, as AWS reads it.
func TestLookAlikeSidsAreForeignAndReadEscaped(t *testing.T) {
	cyrillic := `{"Sid":"Еcr` + `WardenPull","Effect":"Allow","Principal":"*","Action":"ecr:*"}`
	lower := `{"Sid":"ecrwardenPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage"}`
	escaped := `{"Sid":"\u0045crWardenGone","Effect":"Allow","Principal":"*","Action":"ecr:*"}`
	pull := pullStatement(prefix+"Pull", "222222222222")
	ch, err := Owner{Prefix: prefix, OrgID: "o-a1b2c3d4e5"}.Document(policy.ECRRepositoryPolicy, repoARN, doc(cyrillic, lower, escaped), []policy.Statement{pull})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.After, cyrillic) || !strings.Contains(ch.After, lower) || strings.Contains(ch.After, "WardenGone") {
		t.Fatalf("look-alikes must be kept byte for byte and the escaped owned Sid removed:\n%s", ch.After)
	}
	if fmt.Sprint(ch.Removed) != "[EcrWardenGone]" {
		t.Errorf("removed %v", ch.Removed)
	}
	if len(ch.ForeignUnsafe) != 1 || !strings.Contains(ch.ForeignUnsafe[0], `Sid "\u0415crWardenPull"`) {
		t.Errorf("the look-alike's report must name its Sid escaped: %q", ch.ForeignUnsafe)
	}
	d := ch.Diff()
	for _, want := range []string{`  = "\u0415crWardenPull"`, `  = "ecrwardenPull"`, `  + "EcrWardenPull"`, `  - "EcrWardenGone"`} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

// The limit is inclusive and counts what is written: a repository policy
// of exactly 10,240 characters (compact, as written, although AWS held it
// indented) is planned, one character more is refused naming both sizes;
// a trust policy likewise at 2,048 characters without whitespace.
func TestSizeLimitBoundary(t *testing.T) {
	pull := pullStatement(prefix+"Pull", "222222222222")
	held := func(n int) string { // indented, as a console writes it
		return "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"" + strings.Repeat("P", n) +
			"\", \"Effect\": \"Deny\", \"Principal\": \"*\", \"Action\": \"ecr:DeleteRepository\"}\n  ]\n}"
	}
	probe, err := Document(policy.ECRRepositoryPolicy, repoARN, held(1), []policy.Statement{pull}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	pad := 10240 - policy.ECRRepositoryPolicy.Size(probe.After) + 1
	at, err := Document(policy.ECRRepositoryPolicy, repoARN, held(pad), []policy.Statement{pull}, prefix)
	if err != nil || len(at.After) != 10240 {
		t.Fatalf("at the limit: size %d, err %v", len(at.After), err)
	}
	_, err = Document(policy.ECRRepositoryPolicy, repoARN, held(pad+1), []policy.Statement{pull}, prefix)
	var se *policy.SizeError
	if !errors.As(err, &se) || se.Size != 10241 || se.Limit != 10240 {
		t.Fatalf("one over the limit: %v", err)
	}

	st := trust("222222222222")
	st.Condition["StringLike"] = map[string]policy.StringList{"aws:SourceArn": {""}}
	probe, err = Document(policy.RoleTrustPolicy, roleARN, "", []policy.Statement{st}, prefix)
	if err != nil {
		t.Fatal(err)
	}
	room := 2048 - policy.RoleTrustPolicy.Size(probe.After)
	st.Condition["StringLike"]["aws:SourceArn"] = policy.StringList{strings.Repeat("a", room)}
	if at, err = Document(policy.RoleTrustPolicy, roleARN, "", []policy.Statement{st}, prefix); err != nil || policy.RoleTrustPolicy.Size(at.After) != 2048 {
		t.Fatalf("trust at the limit: size %d, err %v", policy.RoleTrustPolicy.Size(at.After), err)
	}
	st.Condition["StringLike"]["aws:SourceArn"] = policy.StringList{strings.Repeat("a", room+1)}
	_, err = Document(policy.RoleTrustPolicy, roleARN, "", []policy.Statement{st}, prefix)
	if !errors.As(err, &se) || se.Size != 2049 || se.Limit != 2048 {
		t.Fatalf("trust one over the limit: %v", err)
	}
}
