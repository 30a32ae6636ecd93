package desired

import (
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// Configures must select exactly the members the member StackSet targets:
// PTC members and the registries of grants and public grants.
func TestConfiguresMatchesMemberSelectors(t *testing.T) {
	d, err := config.Parse([]byte(`{
	  "hub": {"accountId": "111111111111", "regions": ["us-east-1"], "organizationId": "o-a1b2c3d4e5", "managementAccountId": "999999999999"},
	  "grants": [{"name": "in-ou", "repositories": ["x/*"], "access": "pull", "principals": {"organization": true},
	              "registries": {"ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"]}}],
	  "pullThroughCache": {"members": {"accounts": ["222222222222"]}, "rules": [{"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws"}]},
	  "publicRepositories": [{"name": "pub", "repositories": ["t/*"], "access": "push", "principals": {"accounts": ["111111111111"]},
	              "registries": {"accounts": ["444444444444"]}}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	root := "o-a1b2c3d4e5/r-ab12/"
	accounts := []Account{
		{ID: "222222222222", Status: "ACTIVE", OUPath: root},                                        // PTC member by id
		{ID: "333333333333", Status: "ACTIVE", OUPath: root + "ou-ab12-11111111/ou-ab12-22222222/"}, // grant registry by OU
		{ID: "444444444444", Status: "ACTIVE", OUPath: root},                                        // public grant registry
		{ID: "555555555555", Status: "ACTIVE", OUPath: root},                                        // nothing
		{ID: "999999999999", Status: "ACTIVE", OUPath: root},                                        // management
	}
	s := New(d, accounts)
	want := map[string]bool{"111111111111": true, "222222222222": true, "333333333333": true, "444444444444": true, "555555555555": false, "999999999999": false}
	for id, w := range want {
		if got := s.Configures(id); got != w {
			t.Errorf("Configures(%s) = %v, want %v", id, got, w)
		}
	}
}

// Enumerated and EnumeratedRepositories say which member documents an
// account event elsewhere changes: those an enumerating grant lives in, by
// registry and (repository placement) by name; condition-mode grants and
// grants that list accounts by id change nothing there.
func TestEnumeratedSelectsTheDocumentsEnumerationsLiveIn(t *testing.T) {
	d, err := config.Parse([]byte(`{
	  "hub": {"accountId": "111111111111", "regions": ["us-east-1"], "organizationId": "o-a1b2c3d4e5", "managementAccountId": "999999999999"},
	  "grants": [
	    {"name": "peers", "repositories": ["peer/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"]},
	     "principalMode": "enumerate", "placement": "repository", "registries": {"ous": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"]}},
	    {"name": "everyone", "repositories": ["all/*"], "access": "pull", "principals": {"organization": true},
	     "registries": {"allMembers": true}},
	    {"name": "listed", "repositories": ["ci/*"], "access": "push", "principals": {"accounts": ["222222222222"]},
	     "principalMode": "enumerate", "registries": {"allMembers": true}}
	  ]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !d.MembersEnumerateAccounts() {
		t.Fatal("MembersEnumerateAccounts = false with an enumerating grant in OU registries")
	}
	root := "o-a1b2c3d4e5/r-ab12/"
	in := Account{ID: "333333333333", Status: "ACTIVE", OUPath: root + "ou-ab12-11111111/"}
	out := Account{ID: "444444444444", Status: "ACTIVE", OUPath: root}
	s := New(d, []Account{in, out})
	if !s.Enumerated(in.ID) || s.Enumerated(out.ID) || s.Enumerated("111111111111") {
		t.Errorf("Enumerated: in OU %v, outside %v, hub %v; want true, false, false", s.Enumerated(in.ID), s.Enumerated(out.ID), s.Enumerated("111111111111"))
	}
	match := s.EnumeratedRepositories(in.ID)
	if match == nil || !match("peer/x") || match("all/x") || match("ci/x") {
		t.Errorf("EnumeratedRepositories(%s) should match peer/* only", in.ID)
	}
	if s.EnumeratedRepositories(out.ID) != nil {
		t.Errorf("EnumeratedRepositories(%s) = a matcher; no enumerating grant lives in its registry", out.ID)
	}
	d.Grants = d.Grants[1:]
	if d.MembersEnumerateAccounts() {
		t.Error("MembersEnumerateAccounts = true with only condition-mode and listed-account grants in member registries")
	}
}
