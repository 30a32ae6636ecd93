package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBrokenDeclarationListsEveryProblemWithItsField(t *testing.T) {
	_, err := LoadDeclaration("testdata/broken.json")
	if err == nil {
		t.Fatal("broken declaration accepted")
	}
	for _, want := range brokenDeclarationMessages {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

// brokenDeclarationMessages are the field paths testdata/broken.json gets wrong.
var brokenDeclarationMessages = []string{"hub.accountId", "hub.regions", "hub.partition", "hub.organizationId", "sweep.schedule"}

func TestUnknownFieldIsRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.json")
	if err := os.WriteFile(path, []byte(`{"hub":{"accountId":"111111111111"},"memberRoleNam":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDeclaration(path)
	if err == nil || !strings.Contains(err.Error(), "memberRoleNam") {
		t.Fatalf("unknown field not reported: %v", err)
	}
}

func TestAssetsMustCarryTheSameDeclaration(t *testing.T) {
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	root, err := newAssetRoot(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := d.CheckAssets(AssetCheck{Root: root, Machine: MachineAArch64}); err != nil {
		t.Fatalf("matching assets rejected: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, FnWorker, "declaration.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, FnDrift, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	err = d.CheckAssets(AssetCheck{Root: root, Machine: MachineAArch64})
	if err == nil || !strings.Contains(err.Error(), "worker/declaration.json differs") || !strings.Contains(err.Error(), "drift: no bootstrap") {
		t.Fatalf("stale assets not reported: %v", err)
	}
}

func TestMemberTargetsFollowTheDeclaration(t *testing.T) {
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.MemberTargets("")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "targets", got, MemberTargets{OrganizationalUnitIDs: []string{"ou-ab12-11111111", "ou-ab12-22222222"}})

	d.PullThroughCache.Members.All = true
	got, err = d.MemberTargets("")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "all members -> root from the OU paths", got, MemberTargets{OrganizationalUnitIDs: []string{"r-ab12"}})

	d.Grants = nil // no OU path left to name the root
	d.PullThroughCache.Members.OUs = nil
	if _, err := d.MemberTargets(""); err == nil || !strings.Contains(err.Error(), "organizationRootId") {
		t.Fatalf("unknown root not reported: %v", err)
	}
	got, err = d.MemberTargets("r-zz99")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "all members -> given root", got, MemberTargets{OrganizationalUnitIDs: []string{"r-zz99"}})

	d.PullThroughCache.Members = configMembers([]string{"333333333333", "111111111111"})
	got, _ = d.MemberTargets("")
	mustEqual(t, "listed accounts, hub excluded", got, MemberTargets{Accounts: []string{"333333333333"}})
}
