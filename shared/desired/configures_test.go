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
