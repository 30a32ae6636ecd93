package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// sidPeersPull is the statement of the peers-pull grant below.
const sidPeersPull = "EcrWardenPeersPullAccounts"

// TestEnumerationInMemberRegistriesFollowsAccountEvents: a grant placed in
// every member registry that enumerates OU A's accounts names each of them
// in each member's registry policy. An account that joins OU A is added to
// every member registry at once (its own included, rendered from the whole
// organization, not from itself alone), and removed from every one when it
// leaves: the other members' documents do not wait for the sweep.
func TestEnumerationInMemberRegistriesFollowsAccountEvents(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	outside := w.createAccount("outsider", w.ouB)
	peer := w.createAccount("peer", w.ouA)
	ouA := w.ouPath(w.ouA)
	w.rewriteDeclaration(func(s string) string {
		return strings.Replace(s, `"grants": [`, `"grants": [{"name": "peers-pull", "repositories": ["peer/*"], "access": "pull",
      "principals": {"ous": ["`+ouA+`"]}, "placement": "registry", "principalMode": "enumerate", "registries": {"allMembers": true}},`, 1)
	})
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", outside))
	w.invoke(fn, w.event("org-account-joined.json", peer))
	for _, m := range []string{outside, peer} {
		if got := w.principals(w.registryPolicy(w.member(m)), sidPeersPull); !equal(got, roots(peer)) {
			t.Fatalf("setup: %s's %s names %v, want %v; policy:\n%s", m, sidPeersPull, got, roots(peer), w.registryPolicy(w.member(m)))
		}
	}

	joiner := w.createAccount("joiner", w.ouA)
	r := w.invoke(fn, w.event("org-account-joined.json", joiner))
	for _, m := range []string{outside, peer, joiner} {
		if got := w.principals(w.registryPolicy(w.member(m)), sidPeersPull); !equal(got, roots(peer, joiner)) {
			t.Errorf("after the join: %s's %s names %v, want %v (report %+v)", m, sidPeersPull, got, roots(peer, joiner), r.Report)
		}
	}

	if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(joiner)}); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	w.invoke(fn, w.event("org-remove-account.json", joiner))
	for _, m := range []string{outside, peer} {
		if got := w.principals(w.registryPolicy(w.member(m)), sidPeersPull); !equal(got, roots(peer)) {
			t.Errorf("after the departure: %s's %s names %v, want only %v", m, sidPeersPull, got, roots(peer))
		}
	}
	for op, n := range proxy.CountsByAccount()[joiner] {
		if strings.HasPrefix(op, "Put") || strings.HasPrefix(op, "Set") || strings.HasPrefix(op, "Delete") {
			t.Errorf("the departure wrote %s %d times in the departed account", op, n)
		}
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
