package plan

import "testing"

func TestRulesEdges(t *testing.T) {
	reg := "222222222222/us-east-1"
	cases := []struct {
		name          string
		current, want Rule
		op            Op
	}{
		{"url spelled differently", Rule{Prefix: "q", UpstreamRegistryURL: "Quay.io/"}, Rule{Prefix: "q", UpstreamRegistryURL: "https://quay.io"}, OpNone},
		{"registry type left to ECR", Rule{Prefix: "q", UpstreamRegistryURL: "quay.io", UpstreamRegistry: "quay"}, Rule{Prefix: "q", UpstreamRegistryURL: "quay.io"}, OpNone},
		{"ROOT upstream prefix means none", Rule{Prefix: "h", UpstreamRegistryURL: "111111111111.dkr.ecr.us-east-1.amazonaws.com", UpstreamRepositoryPrefix: "ROOT"}, Rule{Prefix: "h", UpstreamRegistryURL: "111111111111.dkr.ecr.us-east-1.amazonaws.com"}, OpNone},
		{"upstream prefix differs", Rule{Prefix: "h", UpstreamRegistryURL: "x", UpstreamRepositoryPrefix: "a"}, Rule{Prefix: "h", UpstreamRegistryURL: "x", UpstreamRepositoryPrefix: "b"}, OpConflict},
		{"registry type differs", Rule{Prefix: "h", UpstreamRegistryURL: "x", UpstreamRegistry: "quay"}, Rule{Prefix: "h", UpstreamRegistryURL: "x", UpstreamRegistry: "k8s"}, OpConflict},
		{"role changes in place", Rule{Prefix: "h", UpstreamRegistryURL: "x", CustomRoleARN: "a"}, Rule{Prefix: "h", UpstreamRegistryURL: "x", CustomRoleARN: "b"}, OpUpdate},
		// UpdatePullThroughCacheRule cannot clear a field, and with neither
		// field AWS refuses the call: never planned as an update.
		{"credential removed", Rule{Prefix: "h", UpstreamRegistryURL: "x", CredentialARN: "a"}, Rule{Prefix: "h", UpstreamRegistryURL: "x"}, OpConflict},
		{"role removed", Rule{Prefix: "h", UpstreamRegistryURL: "x", CustomRoleARN: "a"}, Rule{Prefix: "h", UpstreamRegistryURL: "x"}, OpConflict},
		{"credential changes in place", Rule{Prefix: "h", UpstreamRegistryURL: "x", CredentialARN: "a-111111"}, Rule{Prefix: "h", UpstreamRegistryURL: "x", CredentialARN: "a-222222"}, OpUpdate},
	}
	for _, c := range cases {
		got := Rules(reg, []Rule{c.current}, []Rule{c.want}, nil)
		if len(got) != 1 || got[0].Op != c.op {
			t.Errorf("%s: %+v, want op %s", c.name, got, c.op)
			continue
		}
		if c.op == OpConflict && got[0].After != nil {
			t.Errorf("%s: a conflict must not carry an After rule", c.name)
		}
		if got[0].Writes() != (c.op == OpUpdate) {
			t.Errorf("%s: Writes() = %v", c.name, got[0].Writes())
		}
	}
	// Declared and retired at once: declared wins; undeclared rules stay.
	got := Rules(reg, []Rule{{Prefix: "a", UpstreamRegistryURL: "quay.io"}, {Prefix: "b", UpstreamRegistryURL: "quay.io"}},
		[]Rule{{Prefix: "a", UpstreamRegistryURL: "quay.io"}, {Prefix: "a", UpstreamRegistryURL: "ghcr.io"}}, []string{"a"})
	if len(got) != 1 || got[0].Op != OpNone {
		t.Fatalf("declared+retired: %+v", got)
	}
	if got := Rules(reg, nil, nil, []string{"gone"}); len(got) != 0 {
		t.Fatalf("retired prefix with no rule: %+v", got)
	}
}

// An audit record's rule text reads back as the rule it was made from.
func TestParseRuleReadsString(t *testing.T) {
	for _, r := range []*Rule{
		nil,
		{Prefix: "hub", UpstreamRegistryURL: "111111111111.dkr.ecr.us-east-1.amazonaws.com", UpstreamRegistry: "ecr",
			UpstreamRepositoryPrefix: "shared", CustomRoleARN: "arn:aws:iam::222222222222:role/ecr-warden-ptc"},
		{Prefix: "docker-hub", UpstreamRegistryURL: "registry-1.docker.io", CredentialARN: "arn:aws:secretsmanager:us-east-1:2:secret:ecr-pullthroughcache/docker-hub-AbCdEf"},
	} {
		got, ok := ParseRule(r.String())
		if !ok || !SameRule(got, r) || got.String() != r.String() {
			t.Errorf("ParseRule(%q) = %v, %v; want the rule back", r.String(), got, ok)
		}
	}
	if _, ok := ParseRule("not a rule"); ok {
		t.Error("ParseRule accepted text String does not make")
	}
}
