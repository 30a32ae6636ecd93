package reconcile

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TestNarrowFindsExactlyTheRefusedPrincipals: for every set of refused
// suspects among n (n up to 7), narrowing leaves out exactly the refused ones
// when it can try them all, keeps every other, never makes more than n+1
// writes, and finds one refused principal in at most 2+ceil(log2 n) writes. Every
// write it makes leaves out a superset of the refused principals only if AWS
// accepts it (the model AWS: a document is accepted iff it names no refused
// principal).
func TestNarrowFindsExactlyTheRefusedPrincipals(t *testing.T) {
	for n := 1; n <= 7; n++ {
		suspects := make([]string, n)
		for i := range suspects {
			suspects[i] = fmt.Sprintf("p%d", i)
		}
		for mask := 1; mask < 1<<n; mask++ { // at least one is refused: that is why narrowing runs
			bad := map[string]bool{}
			for i := range n {
				if mask&(1<<i) != 0 {
					bad[suspects[i]] = true
				}
			}
			writes := 0
			got, err := narrow(suspects, func(exclude []string) (verdict, error) {
				writes++
				for _, p := range suspects {
					if bad[p] && !slices.Contains(exclude, p) {
						return refusedForPrincipal, nil
					}
				}
				return accepted, nil
			})
			if err != nil || got.baseRefused {
				t.Fatalf("n=%d bad=%v: %+v %v", n, bad, got, err)
			}
			if writes != got.writes || writes > n+1 {
				t.Errorf("n=%d bad=%v: %d writes (reported %d), bound n+1=%d", n, bad, writes, got.writes, n+1)
			}
			for _, p := range got.kept {
				if bad[p] {
					t.Errorf("n=%d bad=%v: kept refused %s", n, bad, p)
				}
			}
			for _, p := range got.refused {
				if !bad[p] {
					t.Errorf("n=%d bad=%v: left out %s, which AWS accepts", n, bad, p)
				}
			}
			if len(got.kept)+len(got.refused)+len(got.untried) != n {
				t.Errorf("n=%d bad=%v: %+v does not settle every suspect", n, bad, got)
			}
			if len(got.untried) == 0 && len(got.refused) != len(bad) {
				t.Errorf("n=%d bad=%v: refused %v", n, bad, got.refused)
			}
			if len(bad) == 1 {
				if want := 2 + bits.Len(uint(n-1)); writes > want {
					t.Errorf("n=%d one refused (%v): %d writes, want at most 2+ceil(log2 n) = %d", n, bad, writes, want)
				}
				if len(got.untried) != 0 {
					t.Errorf("n=%d one refused: untried %v", n, got.untried)
				}
			}
		}
	}
	// A refusal the suspects do not explain: one write, then it stands.
	writes := 0
	got, err := narrow([]string{"a", "b"}, func([]string) (verdict, error) { writes++; return refusedForPrincipal, nil })
	if err != nil || !got.baseRefused || writes != 1 {
		t.Fatalf("base refused: %+v %v after %d writes", got, err, writes)
	}
}

// outsider is an account outside the organization (the engine cannot read
// its IAM, so its principals are "unconfirmed"); the local AWS knows it once
// it has a role, and refuses documents naming its roles that do not exist.
const outsider = "210987654321"

// narrowDeclaration grants four roles of the outsider pull on the hub's
// registry; "ghost" does not exist.
const narrowDeclaration = `{
  "hub": {"accountId": "123456789012", "regions": ["us-east-1"], "partition": "aws",
          "organizationId": "o-a1b2c3d4e5", "managementAccountId": "999999999999"},
  "memberRoleName": "ecr-warden-execution",
  "sidPrefix": "EcrWarden",
  "grants": [
    {"name": "outside-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry", "registries": {"hub": true},
     "principals": {"roles": ["arn:aws:iam::210987654321:role/auditor", "arn:aws:iam::210987654321:role/builder",
                              "arn:aws:iam::210987654321:role/ghost", "arn:aws:iam::210987654321:role/scanner"]}},
    {"name": "org-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry", "registries": {"hub": true},
     "principals": {"organization": true}}
  ]
}`

func narrowEngine(t *testing.T, counts *inventory.Counts) (*Engine, *audit.Trail) {
	t.Helper()
	e, trail := engineOnLocalAWS(t, counts, narrowDeclaration, func(ctx context.Context) error {
		out, err := localaws.AccountConfig(ctx, server.Config(region), outsider, "any")
		if err != nil {
			return err
		}
		for _, r := range []string{"auditor", "builder", "scanner"} {
			if err := localaws.CreateRole(ctx, out, r); err != nil {
				return err
			}
		}
		return nil
	})
	e.PrincipalWait = time.Nanosecond
	return e, trail
}

// TestNarrowingLeavesOutOnlyTheRefusedPrincipal: the hub registry policy
// names four roles of an account outside the organization, one of which does
// not exist. The local AWS refuses the document, as AWS does; the engine
// narrows the refusal down and writes the document with the three roles that
// exist, leaving out only the missing one, with one principal-missing record
// naming it, in at most n+1 = 5 extra writes. Both write paths: a unit's
// batch (backfill, sweep) and one document (events).
func TestNarrowingLeavesOutOnlyTheRefusedPrincipal(t *testing.T) {
	localaws.Need(t)
	role := func(n string) string { return "arn:aws:iam::" + outsider + ":role/" + n }
	for _, path := range []string{"unit", "event"} {
		t.Run(path, func(t *testing.T) {
			ctx := context.Background()
			var counts inventory.Counts
			e, trail := narrowEngine(t, &counts)
			counts.Reset()
			var (
				rep Report
				err error
			)
			if path == "unit" {
				rep, err = e.Converge(ctx, Cause{}, hubWork())
			} else {
				rep, err = e.Registry(ctx, Cause{}, desired.New(e.Decl, nil), hubAccount, region)
			}
			if err != nil || rep.Changed != 1 || rep.Failed != 0 {
				t.Fatalf("report %+v, error %v: want the registry policy written", rep, err)
			}
			out, err := ecr.NewFromConfig(server.Config(region)).GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
			if err != nil {
				t.Fatal(err)
			}
			text := aws.ToString(out.PolicyText)
			doc, err := policy.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			var named []string
			for _, st := range doc.Statements {
				if st.Principal != nil {
					named = append(named, st.Principal.AWS...)
				}
			}
			for _, n := range []string{"auditor", "builder", "scanner"} {
				if !slices.Contains(named, role(n)) {
					t.Errorf("%s left out, although it exists:\n%s", n, text)
				}
			}
			if slices.Contains(named, role("ghost")) || len(doc.Statements) != 2 {
				t.Errorf("want the org statement and the three existing roles:\n%s", text)
			}
			puts := counts.Get("ECR", "PutRegistryPolicy")
			if puts != 1+4 {
				t.Errorf("%d PutRegistryPolicy calls, want the refused one plus 4 (without the suspects; the first half, accepted; ghost alone, refused; scanner, accepted): at most n+1 = 5", puts)
			}
			recs, err := trail.History(ctx, policy.RegistryARN("aws", region, hubAccount), 50)
			if err != nil {
				t.Fatal(err)
			}
			var missing []audit.Record
			for _, r := range recs {
				if r.Decision == audit.DecisionPrincipalMissing {
					missing = append(missing, r)
				}
			}
			if len(missing) != 1 || !strings.Contains(missing[0].Error, role("ghost")) || !strings.Contains(missing[0].Error, "AWS refuses") {
				t.Fatalf("principal-missing records %+v, want one naming ghost and why", missing)
			}
			t.Logf("%d PutRegistryPolicy calls; %s", puts, missing[0].Error)
		})
	}
}
