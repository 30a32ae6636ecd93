package reconcile

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// foreignShapes are statements an organization's repositories hold on the
// first day, written by hand over the years: every shape the grammar allows,
// and shapes ecr-warden's model cannot read (a Principal that is a bare
// account id, an Effect in lower case, a Sid that is a number), which AWS
// holds (its validator was laxer once, or is laxer than its grammar: see
// README "Unverified"). unsafe is a fragment of the foreign-unsafe record
// each must get ("" for none).
var foreignShapes = []struct{ name, statement, unsafe string }{
	{"not-principal", `{"Sid":"DenyAllButCi","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:PutImage"}`, ""},
	{"not-action", `{"Sid":"NoDelete","Effect":"Deny","Principal":{"AWS":"*"},"NotAction":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`, ""},
	{"star-vpce", `{"Sid":"FromVpce","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-0abc"}}}`, `Sid "FromVpce"): grants to everyone`},
	{"account-id", `{"Sid":"Legacy","Effect":"Allow","Principal":{"AWS":"` + fTeamB + `"},"Action":"ecr:BatchGetImage"}`, ""},
	{"service", `{"Sid":"LambdaPull","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringLike":{"aws:sourceArn":"arn:aws:lambda:us-east-1:` + fTeamA + `:function:*"}}}`, ""},
	{"federated", `{"Sid":"GithubOidc","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::` + fTeamA + `:oidc-provider/token.actions.githubusercontent.com"},"Action":"ecr:BatchGetImage"}`, ""},
	{"no-sid", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage"}`, ""},
	{"bare-principal", `{"Sid":"Bare","Effect":"Allow","Principal":"` + fTeamB + `","Action":"ecr:BatchGetImage"}`, `Sid "Bare"): ecr-warden cannot read it (Statement[0]: principal "` + fTeamB + `": a string principal must be "*")`},
	{"lower-effect", `{"Sid":"Lower","Effect":"allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage"}`, `Sid "Lower"): ecr-warden cannot read it (Statement[0]: Effect "allow" must be Allow or Deny)`},
	{"number-sid", `{"Sid":7,"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage"}`, `statement 0: ecr-warden cannot read it (Statement[0].Sid: a JSON number where a string belongs)`},
}

// A backfill on the first day: every repository holds someone's statement,
// of every shape. Each gets ecr-warden's grant beside it, the foreign
// statement stays byte for byte, and the ones ecr-warden cannot vouch for or
// cannot read are recorded foreign-unsafe with why. A statement ecr-warden
// cannot read never blocks the document it sits in (before, the unit
// refused the whole document as malformed). Nor does one that carries the
// Sid prefix (it used to refuse its document): an Allow the declaration
// does not render is removed beside the declared grant, and recorded with
// its text.
func TestForeignStatementsOfEveryShapeAreKept(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["`+fTeamB+`"]}, "registries": {"allMembers": true}}]`)
	docOf := func(statement string) string { return `{"Version":"2012-10-17","Statement":[` + statement + `]}` }
	for _, s := range foreignShapes {
		w.aws.CreateRepository(fTeamA, fRegion, "apps/"+s.name, nil)
		w.aws.SetRepositoryPolicy(fTeamA, fRegion, "apps/"+s.name, docOf(s.statement))
	}
	w.aws.CreateRepository(fTeamA, fRegion, "apps/unreadable-owned", nil)
	w.aws.SetRepositoryPolicy(fTeamA, fRegion, "apps/unreadable-owned", docOf(`{"Sid":"EcrWardenOld","Effect":"Allow","Principal":"`+fTeamB+`","Action":"ecr:BatchGetImage"}`))

	u := Work{RunID: "backfill-1", Account: fTeamA, Region: fRegion,
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err != nil {
		t.Fatalf("unit: %v", err)
	}
	unsafe := map[string]string{}
	refused := map[string]string{}
	for _, r := range w.records(t) {
		switch r.Decision {
		case audit.DecisionForeignUnsafe:
			unsafe[r.Target.ARN] = r.Error
		case audit.DecisionRefused:
			refused[r.Target.ARN] = r.Error
		}
	}
	for _, s := range foreignShapes {
		name := "apps/" + s.name
		got := w.aws.RepositoryPolicy(fTeamA, fRegion, name)
		hasAll(t, "policy of "+name, got, s.statement, `"Sid":"EcrWardenAppsPull`, "arn:aws:iam::"+fTeamB+":root")
		arn := repositoryResource("aws", fTeamA, fRegion, name).ARN
		switch {
		case s.unsafe == "" && unsafe[arn] != "":
			t.Errorf("%s: foreign-unsafe %q, want none", name, unsafe[arn])
		case s.unsafe != "":
			hasAll(t, "foreign-unsafe record of "+name, unsafe[arn], s.unsafe)
		}
	}
	owned := repositoryResource("aws", fTeamA, fRegion, "apps/unreadable-owned").ARN
	got := w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/unreadable-owned")
	hasNone(t, "policy of apps/unreadable-owned", got, `"Sid":"EcrWardenOld"`)
	hasAll(t, "policy of apps/unreadable-owned", got, `"Sid":"EcrWardenAppsPull`)
	hasAll(t, "foreign-unsafe record of apps/unreadable-owned", unsafe[owned], `Sid "EcrWardenOld"`, "carries ecr-warden's Sid prefix but cannot be read", `a string principal must be "*"`, "so it is removed", `"Principal":"`+fTeamB+`"`)
	if rep.Changed != len(foreignShapes)+1 || rep.Refused != 0 || len(refused) != 0 {
		t.Errorf("report %+v, refused %v: want %d changed and none refused", rep, refused, len(foreignShapes)+1)
	}
}

// A repository policy holding, beside ecr-warden's grant to an account the
// declaration no longer names, a statement carrying the Sid prefix that
// ecr-warden cannot read (a Deny whose Principal is a bare account id,
// which AWS resource policies accept): the revoked account used to keep
// pulling, because the unreadable statement refused the whole document.
// Now the revoked grant is removed, the unreadable Deny is kept byte for
// byte (removing it could widen access) and recorded with its Sid, the
// foreign statement stays as written, the dry run plans exactly what the
// run then writes, and the next run writes nothing.
func TestUnreadablePrefixedStatementDoesNotKeepARevokedGrant(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["`+fTeamB+`"]}, "registries": {"allMembers": true}}]`)
	const (
		revoked = `{"Sid":"EcrWardenRetiredPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`
		hold    = `{"Sid":"EcrWardenHold","Effect":"Deny","Principal":"777788889999","Action":"ecr:BatchGetImage"}`
		theirs  = `{"Sid":"Theirs","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamA + `:root"},"Action":"ecr:PutImage"}`
	)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/svc", nil)
	w.aws.SetRepositoryPolicy(fTeamA, fRegion, "apps/svc", `{"Version":"2012-10-17","Statement":[`+revoked+`,`+hold+`,`+theirs+`]}`)
	arn := repositoryResource("aws", fTeamA, fRegion, "apps/svc").ARN
	unit := func(run string, dry bool) Report {
		t.Helper()
		u := Work{RunID: run, Account: fTeamA, Region: fRegion, DryRun: dry,
			Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
		rep, err := w.engine.Converge(ctx, u.Cause(), u)
		if err != nil {
			t.Fatalf("unit %s: %v", run, err)
		}
		return rep
	}
	after := func(dry bool, d audit.Decision) (string, string) {
		var doc, unsafe string
		for _, r := range w.records(t) {
			if r.Target.ARN != arn || r.DryRun != dry {
				continue
			}
			switch r.Decision {
			case d:
				doc = r.After
			case audit.DecisionForeignUnsafe:
				unsafe += r.Error
			}
		}
		return doc, unsafe
	}

	unit("dry", true)
	planned, _ := after(true, audit.DecisionPlanned)
	if rep := unit("apply", false); rep.Refused != 0 {
		t.Fatalf("report %+v: want nothing refused", rep)
	}
	got := w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/svc")
	hasNone(t, "policy of apps/svc", got, "444455556666")
	hasAll(t, "policy of apps/svc", got, hold, theirs, "arn:aws:iam::"+fTeamB+":root")
	applied, unsafe := after(false, audit.DecisionApplied)
	if applied != got || planned != got {
		t.Errorf("dry run planned\n%s\nthe run recorded\n%s\nAWS holds\n%s\nwant all three the same", planned, applied, got)
	}
	hasAll(t, "foreign-unsafe record of apps/svc", unsafe, `Sid "EcrWardenHold"`, "cannot be read", "kept as written")
	writes := len(w.aws.Writes())
	if rep := unit("again", false); rep.Changed != 0 || len(w.aws.Writes()) != writes {
		t.Errorf("second run: report %+v, writes %v; want none", rep, w.aws.Writes()[writes:])
	}
}

// A member registry policy that someone filled almost to ECR's 10,240
// characters: adding the declared grant would pass the limit, so that one
// document is refused, named with its size and what takes the space, and
// left as AWS holds it; the PTC role and rules and every repository of the
// unit are converged.
func TestFullRegistryPolicyIsRefusedAloneOnTheFirstDay(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, piecesDeclaration)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
	var roots []string
	for i := range 300 {
		roots = append(roots, `"arn:aws:iam::`+strconv.Itoa(400000000000+i)+`:root"`)
	}
	full := `{"Version":"2012-10-17","Statement":[{"Sid":"Partners","Effect":"Allow","Principal":{"AWS":[` + strings.Join(roots, ",") + `]},"Action":"ecr:BatchImportUpstreamImage","Resource":"*"}]}`
	if n := len(full); n < 9800 || n > 10240 {
		t.Fatalf("seed policy is %d characters, want just under the limit", n)
	}
	w.aws.SetRegistryPolicy(fTeamA, fRegion, full)
	u := Work{RunID: "backfill-1", Account: fTeamA, Region: fRegion, Role: true,
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err != nil {
		t.Fatalf("unit: %v (a refusal is not a failure: nothing to retry)", err)
	}
	if got := w.aws.RegistryPolicy(fTeamA, fRegion); got != full {
		t.Errorf("registry policy changed:\n%s", got)
	}
	hasAll(t, "repository policy of apps/a", w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
	if _, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); !ok {
		t.Errorf("PTC role not created; writes %v", w.aws.Writes())
	}
	registry := registryResource("aws", fTeamA, fRegion).ARN
	var refusal string
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionRefused && r.Target.ARN == registry {
			refusal = r.Error
		}
	}
	hasAll(t, "refusal of the registry policy", refusal, registry, "10240", "foreign")
	if rep.Refused != 1 || rep.Failed != 0 {
		t.Errorf("report %+v: want the registry policy alone refused", rep)
	}
}

// A member that has not enabled an opt-in hub region: AWS refuses the
// execution role's credentials there (UnrecognizedClientException, "The
// security token included in the request is invalid"). Its unit in that
// region is left out with a summary naming the region, the account and the
// fix, and is acknowledged instead of retried into the dead-letter queue at
// every sweep; the other member's unit converges.
func TestMemberRegionNotEnabledIsLeftOutNotRetried(t *testing.T) {
	ctx := context.Background()
	const optIn = "af-south-1" // an opt-in region
	w := newWorldIn(t, []string{optIn}, piecesDeclaration)
	for _, a := range []string{fTeamA, fTeamB} {
		w.aws.CreateRepository(a, optIn, "apps/a", nil)
	}
	accounts := refusedCredentials(t, w, optIn)
	for _, a := range []string{fTeamA, fTeamB} {
		u := Work{RunID: "sweep-1", Sweep: true, Account: a, Region: optIn, Accounts: accounts, Role: true}
		if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
			t.Errorf("unit of %s: %v, want it settled (a retry cannot enable the region)", a, err)
		}
	}
	hasAll(t, "repository policy of the other member", w.aws.RepositoryPolicy(fTeamB, optIn, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
	for _, wr := range w.aws.Writes() {
		if strings.Contains(wr, fTeamA+"/") {
			t.Errorf("wrote in the member without the region: %s", wr)
		}
	}
	var summary string
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary && r.Target.AccountID == fTeamA {
			summary = r.Error
		}
	}
	hasAll(t, "summary of the member's unit", summary, "left out: region "+optIn+" is not enabled in account "+fTeamA, "enable-region", "UnrecognizedClientException")
}

// The same refusal in a region every account has enabled is not the
// region's (awsapi.EnabledByDefault): the unit fails, to be retried and, if
// it goes on, dead-lettered with AWS's answer, instead of being settled as
// left out at every sweep.
func TestRefusedCredentialsInADefaultRegionFailTheUnit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, piecesDeclaration)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
	accounts := refusedCredentials(t, w, fRegion)
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: accounts, Role: true}
	if _, err := w.engine.Converge(ctx, u.Cause(), u); err == nil || !strings.Contains(err.Error(), "UnrecognizedClientException") {
		t.Errorf("unit in %s: %v, want it failed with AWS's answer (%s is enabled in every account)", fRegion, err, fRegion)
	}
}

// A member's unit in an opt-in hub region it has not enabled is left out
// also when it converges the member's (global) PTC role first, as a unit
// that carries the role but is not in the primary region does: the role's
// documents were read, the registry's were not, and only the registry's
// answer decides.
func TestRegionNotEnabledAfterTheRoleIsLeftOut(t *testing.T) {
	ctx := context.Background()
	const optIn = "af-south-1"
	w := newWorldIn(t, []string{fRegion, optIn}, piecesDeclaration)
	w.engine.Region = ""
	accounts := refusedCredentials(t, w, optIn)
	u := Work{RunID: "backfill-1", Account: fTeamA, Region: optIn, Accounts: accounts, Role: true}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err != nil {
		t.Fatalf("unit: %v, want it left out (a retry cannot enable the region)", err)
	}
	if rep.Examined == 0 {
		t.Errorf("report %+v: the PTC role was not converged first, so the test shows nothing", rep)
	}
}

// refusedCredentials makes fTeamA's ECR in region refuse the execution
// role's credentials as AWS does in a region the account has not enabled,
// and returns the organization as a backfill's unit carries it.
func refusedCredentials(t *testing.T, w *world, region string) []desired.Account {
	t.Helper()
	w.aws.Fail(func(c fakeaws.Call) error {
		if c.Account == fTeamA && c.Region == region && c.Service == "ECR" {
			return fakeaws.APIError("UnrecognizedClientException", "The security token included in the request is invalid.")
		}
		return nil
	})
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return toDesiredAll(walk.Accounts)
}
