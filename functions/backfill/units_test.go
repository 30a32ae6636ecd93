package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The example declaration's organization: hub 111111111111, management
// 999999999999, members in ou-ab12-11111111 (one of them nested in
// ou-ab12-22222222) and one at the root.
const (
	orgPath   = "o-a1b2c3d4e5/r-ab12/"
	ouWork    = "ou-ab12-11111111"
	ouNested  = "ou-ab12-22222222"
	exampleHb = "111111111111"
)

func exampleDecl(t *testing.T) *config.Declaration {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func exampleWalk() inventory.WalkResult {
	return inventory.WalkResult{
		Accounts: []inventory.Account{
			{ID: exampleHb, Status: "ACTIVE", OUPath: orgPath},
			{ID: "222222222222", Status: "ACTIVE", OUPath: orgPath + ouWork + "/"},
			{ID: "333333333333", Status: "ACTIVE", OUPath: orgPath + ouWork + "/" + ouNested + "/"},
			{ID: "444444444444", Status: "ACTIVE", OUPath: orgPath},
			{ID: "999999999999", Status: "ACTIVE", OUPath: orgPath},
		},
		Skipped: []inventory.Account{{ID: "555555555555", Status: "SUSPENDED", OUPath: orgPath + ouWork + "/"}},
	}
}

func units(sel selection) []string {
	var out []string
	for _, u := range sel.Units {
		s := u.Account + "/" + u.Region
		if u.Role {
			s += "+role"
		}
		out = append(out, s)
	}
	return out
}

func TestSelectUnits(t *testing.T) {
	d := exampleDecl(t)
	cases := []struct {
		name    string
		targets trigger.BackfillTargets
		units   []string
		skipped []string
		missing []string
		err     string
	}{
		{name: "all", targets: trigger.BackfillTargets{All: true},
			units: []string{"111111111111/us-east-1", "111111111111/eu-west-1",
				"222222222222/us-east-1+role", "222222222222/eu-west-1",
				"333333333333/us-east-1+role", "333333333333/eu-west-1",
				"444444444444/us-east-1+role", "444444444444/eu-west-1"},
			skipped: []string{"999999999999", "555555555555"}},
		{name: "one OU includes nested OUs, not the hub", targets: trigger.BackfillTargets{OUs: []string{ouWork}, Regions: []string{"eu-west-1"}},
			units:   []string{"222222222222/eu-west-1+role", "333333333333/eu-west-1+role"},
			skipped: []string{"555555555555"}},
		{name: "accounts and the hub by id", targets: trigger.BackfillTargets{Accounts: []string{"444444444444", exampleHb, "777777777777"}},
			units:   []string{"111111111111/us-east-1", "111111111111/eu-west-1", "444444444444/us-east-1+role", "444444444444/eu-west-1"},
			missing: []string{"777777777777"}},
		{name: "an OU with no accounts", targets: trigger.BackfillTargets{OUs: []string{"ou-ab12-99999999"}}, missing: []string{"ou-ab12-99999999"}},
		{name: "undeclared region", targets: trigger.BackfillTargets{Regions: []string{"ap-south-1"}}, err: `targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions [us-east-1 eu-west-1]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel, err := selectUnits(d, trigger.BackfillRequest{Action: "backfill", Targets: c.targets}, "run-1", exampleWalk())
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := units(sel); !slices.Equal(got, c.units) {
				t.Errorf("units %v\nwant  %v", got, c.units)
			}
			var sk []string
			for _, s := range sel.Skipped {
				sk = append(sk, s.Account)
			}
			if !slices.Equal(sk, c.skipped) {
				t.Errorf("skipped %v, want %v", sel.Skipped, c.skipped)
			}
			if !slices.Equal(sel.Missing, c.missing) {
				t.Errorf("missing %v, want %v", sel.Missing, c.missing)
			}
		})
	}
}

// TestUnitContext: the example declaration enumerates, so every unit carries
// the whole organization; a declaration that does not enumerate sends
// members only themselves, and their documents are the same as with the
// whole organization (the reason the smaller message is safe).
func TestUnitContext(t *testing.T) {
	d := exampleDecl(t)
	sel, err := selectUnits(d, trigger.BackfillRequest{Action: "backfill", Targets: trigger.BackfillTargets{All: true}}, "r", exampleWalk())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range sel.Units {
		if len(u.Accounts) != 5 {
			t.Errorf("%s/%s: %d accounts, want the whole organization (5 active)", u.Account, u.Region, len(u.Accounts))
		}
	}

	cd := conditionDecl(t, nil)
	if enumerates(cd) {
		t.Fatal("condition-only declaration reported as enumerating")
	}
	sel, err = selectUnits(cd, trigger.BackfillRequest{Action: "backfill", Targets: trigger.BackfillTargets{All: true}}, "r", exampleWalk())
	if err != nil {
		t.Fatal(err)
	}
	full := desired.New(cd, wholeExampleOrg())
	for _, u := range sel.Units {
		if u.Account == cd.Hub.AccountID {
			if len(u.Accounts) != 5 {
				t.Errorf("hub unit: %d accounts, want 5", len(u.Accounts))
			}
			continue
		}
		if len(u.Accounts) != 1 || u.Accounts[0].ID != u.Account {
			t.Fatalf("member unit %s carries %v", u.Account, u.Accounts)
		}
		self := desired.New(cd, u.Accounts)
		same := func(what string, a, b any) {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Errorf("%s of %s/%s differs with only the member:\n%s\nwhole organization:\n%s", what, u.Account, u.Region, jb, ja)
			}
		}
		same("registry statements", full.RegistryStatements(u.Account, u.Region), self.RegistryStatements(u.Account, u.Region))
		same("PTC rules", full.PTCRules(u.Account, u.Region), self.PTCRules(u.Account, u.Region))
		fr, _ := full.PTCRole(u.Account)
		sr, _ := self.PTCRole(u.Account)
		same("PTC role", fr, sr)
		for _, name := range []string{"shared/x", "team-a/app", "apps/web", "other"} {
			repo := desired.Repository{Account: u.Account, Region: u.Region, Name: name, Tags: map[string]string{"share": "org"}}
			same(fmt.Sprintf("repository %s statements", name), full.RepositoryStatements(repo), self.RepositoryStatements(repo))
		}
	}
}

// A declaration whose hub documents list no accounts (condition mode, no
// fromHub rule) ships the hub unit without the organization: only the
// accounts its grants name, and the hub's documents render the same from
// them as from the whole organization. (The whole organization passes
// SQS's 256 KiB message limit, even compressed, at about
// workqueue.FitAccounts accounts.)
func TestHubUnitCarriesTheOrganizationOnlyWhenItsDocumentsListAccounts(t *testing.T) {
	cd := conditionDecl(t, func(raw map[string]any) { delete(raw, "pullThroughCache") })
	if orgDependent(cd) {
		t.Fatal("a condition-only declaration without fromHub rules reported as depending on the organization")
	}
	sel, err := selectUnits(cd, trigger.BackfillRequest{Action: "backfill", Targets: trigger.BackfillTargets{All: true}}, "r", exampleWalk())
	if err != nil {
		t.Fatal(err)
	}
	whole := wholeExampleOrg()
	full := desired.New(cd, whole)
	hubUnits := 0
	for _, u := range sel.Units {
		if u.Account != cd.Hub.AccountID {
			continue
		}
		hubUnits++
		if len(u.Accounts) >= len(whole) {
			t.Errorf("hub unit %s carries %d accounts, the whole organization", u.Region, len(u.Accounts))
		}
		self := desired.New(cd, u.Accounts)
		ja, _ := json.Marshal(full.RegistryStatements(u.Account, u.Region))
		jb, _ := json.Marshal(self.RegistryStatements(u.Account, u.Region))
		if string(ja) != string(jb) {
			t.Errorf("hub registry statements in %s differ with the unit's accounts:\n%s\nwhole organization:\n%s", u.Region, jb, ja)
		}
		for _, name := range []string{"shared/base", "apps/web", "team-a/api", "platform/tools"} {
			repo := desired.Repository{Account: u.Account, Region: u.Region, Name: name}
			ja, _ := json.Marshal(full.RepositoryStatements(repo))
			jb, _ := json.Marshal(self.RepositoryStatements(repo))
			if string(ja) != string(jb) {
				t.Errorf("hub repository %s statements in %s differ with the unit's accounts:\n%s\nwhole organization:\n%s", name, u.Region, jb, ja)
			}
		}
	}
	if hubUnits == 0 {
		t.Fatal("no hub unit")
	}
}

// conditionDecl is the example declaration with every grant in condition
// mode, changed further by edit (on its JSON) when set.
func conditionDecl(t *testing.T, edit func(raw map[string]any)) *config.Declaration {
	t.Helper()
	var raw map[string]any
	b, _ := os.ReadFile("../../infra/declaration.json")
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, g := range raw["grants"].([]any) {
		g.(map[string]any)["principalMode"] = "condition"
	}
	if edit != nil {
		edit(raw)
	}
	b, _ = json.Marshal(raw)
	cd, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return cd
}

// wholeExampleOrg is exampleWalk's accounts as the desired state takes them.
func wholeExampleOrg() []desired.Account {
	var whole []desired.Account
	for _, a := range exampleWalk().Accounts {
		whole = append(whole, desired.Account{ID: a.ID, Status: a.Status, OUPath: a.OUPath})
	}
	return whole
}
