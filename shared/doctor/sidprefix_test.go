package doctor

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The statements of a hub registry policy that show an installation whose
// Sid prefix overlaps this one's: a longer prefix this one's starts (its
// statements are this installation's to remove), a shorter one that starts
// this one's (it removes this one's), and a Sid under this prefix that the
// declaration does not render (whose, the document cannot say). Foreign
// statements, this installation's own, another installation whose prefix
// shares only a beginning (WardenProd beside WardenStage), and Denies are
// not reported.
func TestOverlaps(t *testing.T) {
	doc := func(sids ...string) *policy.Document {
		var sts []string
		for _, sid := range sids {
			effect := "Allow"
			if strings.HasPrefix(sid, "deny:") {
				sid, effect = strings.TrimPrefix(sid, "deny:"), "Deny"
			}
			sts = append(sts, `{"Sid":"`+sid+`","Effect":"`+effect+`","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"ecr:BatchGetImage","Resource":"*"}`)
		}
		var d policy.Document
		if err := json.Unmarshal([]byte(`{"Version":"2012-10-17","Statement":[`+strings.Join(sts, ",")+`]}`), &d); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	declared := []string{"EcrWardenSecurityScanRoles", "EcrWardenOrgPullOrg"}
	for _, c := range []struct {
		name, prefix string
		declared     []string
		sids         []string
		want         []overlap
	}{
		{"own and foreign statements", "EcrWarden", declared,
			[]string{"EcrWardenSecurityScanRoles", "TeamReplication", "AllowPull", "deny:EcrWardenStagingOrgPullOrg"}, nil},
		{"a longer prefix mirroring a declared grant", "EcrWarden", declared,
			[]string{"EcrWardenOrgPullOrg", "EcrWardenStagingOrgPullOrg"},
			[]overlap{{Sid: "EcrWardenStagingOrgPullOrg", Other: "EcrWardenStaging", Twin: "EcrWardenOrgPullOrg", Longer: true}}},
		{"a shorter prefix starting this one's", "EcrWardenStage", []string{"EcrWardenStageOrgPullOrg"},
			[]string{"EcrWardenOrgPullOrg", "EcrWardenStageOrgPullOrg"},
			[]overlap{{Sid: "EcrWardenOrgPullOrg", Other: "EcrWarden", Twin: "EcrWardenStageOrgPullOrg"}}},
		{"an undeclared Sid under this prefix", "EcrWarden", declared,
			[]string{"EcrWardenTeamBPushAccounts"}, []overlap{{Sid: "EcrWardenTeamBPushAccounts"}}},
		{"prefixes that share only a beginning", "WardenStage", []string{"WardenStageOrgPullOrg"},
			[]string{"WardenStageOrgPullOrg", "WardenProdOrgPullOrg"}, nil},
		{"a shorter candidate below the shortest valid prefix", "EcrWarden", declared,
			[]string{"EcrOrgPullOrg"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := overlaps(c.prefix, c.declared, doc(c.sids...))
			if !slices.Equal(got, c.want) {
				t.Errorf("overlaps = %+v\nwant       %+v", got, c.want)
			}
			for _, o := range got {
				if s := o.String(); !strings.Contains(s, o.Sid) || (o.Other != "" && !strings.Contains(s, `"`+o.Other+`"`)) {
					t.Errorf("%q names neither the Sid nor the other prefix", s)
				}
			}
		})
	}
}
