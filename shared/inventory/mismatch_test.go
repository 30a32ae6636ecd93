package inventory_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// TestMismatches: the declaration's hub ids against the organization the credentials read. Each
// wrong id is one mismatch naming its field, the declared value and the organization's (none for
// a hub account that is not a member: which account is the hub only the operator knows); right
// ids, none.
func TestMismatches(t *testing.T) {
	ctx := context.Background()
	f := fakeaws.New()
	f.Organization("o-a1b2c3d4e5", "999999999999")
	f.Join("111111111111")
	f.Join("222222222222", "workloads")
	org := inventory.NewOrg(f.Organizations(), inventory.OrgOptions{})
	for _, c := range []struct {
		name          string
		org, mgmt, hb string
		want          []inventory.Mismatch
	}{
		{"right", "o-a1b2c3d4e5", "999999999999", "111111111111", nil},
		{"hub in an OU", "o-a1b2c3d4e5", "999999999999", "222222222222", nil},
		{"management mistyped", "o-a1b2c3d4e5", "999999999990", "111111111111",
			[]inventory.Mismatch{{Field: "hub.managementAccountId", Declared: "999999999990", Actual: "999999999999"}}},
		{"another organization", "o-zzzzzzzzzz", "123456789012", "333333333333", []inventory.Mismatch{
			{Field: "hub.organizationId", Declared: "o-zzzzzzzzzz", Actual: "o-a1b2c3d4e5"},
			{Field: "hub.managementAccountId", Declared: "123456789012", Actual: "999999999999"},
			{Field: "hub.accountId", Declared: "333333333333"}}},
	} {
		got, err := org.Mismatches(ctx, c.org, c.mgmt, c.hb)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	want := "hub.accountId 333333333333 is not an active account of the organization"
	if got := (inventory.Mismatch{Field: "hub.accountId", Declared: "333333333333"}).String(); got != want {
		t.Errorf("String: %q, want %q", got, want)
	}
}
