package inventory

import (
	"reflect"
	"slices"
	"testing"
)

// TestOrgAPIIsTheReadActions: OrganizationReadActions, which the CDK app
// grants the organization reader, are exactly the calls of orgAPI, the part
// of the Organizations client the readers use: a call added to orgAPI
// without its action would be refused by the deployed reader.
func TestOrgAPIIsTheReadActions(t *testing.T) {
	api := reflect.TypeOf((*orgAPI)(nil)).Elem()
	var calls []string
	for i := range api.NumMethod() {
		calls = append(calls, "organizations:"+api.Method(i).Name)
	}
	slices.Sort(calls)
	if !slices.Equal(calls, OrganizationReadActions) {
		t.Errorf("orgAPI calls %v, OrganizationReadActions %v: want the same", calls, OrganizationReadActions)
	}
	if !slices.IsSorted(OrganizationReadActions) {
		t.Errorf("OrganizationReadActions %v are not sorted", OrganizationReadActions)
	}
}
