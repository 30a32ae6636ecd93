package desired

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TestSizeFloorRefusesOnlyDocumentsThatCannotFit: validation refuses a declaration whose hub
// or members' registry policy would surely pass ECR's 10,240 characters (config's floor: the
// repository and principal ARNs alone). The floor must never refuse a document that fits: for
// random grants of up to 200 patterns, 30 roles and 150 OUs, in the hub and all members or the
// members under the root path, every refusal is of a document that renders (with one member in
// the organization) past the limit, and the refusals happen (the check is live).
func TestSizeFloorRefusesOnlyDocumentsThatCannotFit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	refusals := 0
	member := Account{ID: "555555555555", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"}
	for k := 0; k < 300; k++ {
		d, err := config.Load("../../infra/declaration.json")
		if err != nil {
			t.Fatal(err)
		}
		g := &d.Grants[r.IntN(len(d.Grants))]
		g.Placement, g.RepositoryTags, g.Repositories = config.PlacementRegistry, nil, nil
		g.Registries.Hub = true
		if r.IntN(3) == 0 { // the members under one OU instead of all of them
			g.Registries.AllMembers, g.Registries.OUs = false, []string{"o-a1b2c3d4e5/r-ab12/"}
		}
		for i := range r.IntN(200) + 1 {
			g.Repositories = append(g.Repositories, fmt.Sprintf("team-%d/svc-%d/*", r.IntN(1000), i))
		}
		for i := range r.IntN(30) {
			g.Principals.Roles = append(g.Principals.Roles, fmt.Sprintf("arn:aws:iam::2222222222%02d:role/r%d", i, i))
		}
		if r.IntN(2) == 0 { // condition mode's OU paths
			g.PrincipalMode, g.Principals.OUs = config.ModeCondition, nil
			for i := range r.IntN(150) {
				g.Principals.OUs = append(g.Principals.OUs, fmt.Sprintf("o-a1b2c3d4e5/r-ab12/ou-ab12-%08d/", i))
			}
		}
		var ve *config.ValidationError
		var refused []string // the accounts whose registry policy is refused
		if err := d.Validate(); errors.As(err, &ve) {
			for _, p := range ve.Problems {
				switch {
				case strings.HasPrefix(p.Message, "the hub's registry policy"):
					refused = append(refused, d.Hub.AccountID)
				case strings.HasPrefix(p.Message, "every member's registry policy"),
					strings.HasPrefix(p.Message, "the registry policy of the members under o-a1b2c3d4e5/r-ab12/ "):
					refused = append(refused, member.ID)
				default:
					t.Fatalf("unexpected problem: %v", p)
				}
			}
		}
		s := New(d, []Account{member})
		for _, account := range refused {
			refusals++
			largest := 0
			for _, region := range d.Hub.Regions {
				text, err := Render(policy.ECRRegistryPolicy, s.RegistryStatements(account, region)).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				largest = max(largest, policy.ECRRegistryPolicy.Size(text))
			}
			if largest <= policy.ECRRegistryPolicy.Limit() {
				t.Errorf("declaration %d refused, but the registry policy of %s renders at %d characters", k, account, largest)
			}
		}
	}
	t.Logf("%d documents refused for size", refusals)
	if refusals < 20 {
		t.Errorf("only %d of 300 declarations refused for size; the floor is not being checked", refusals)
	}
}
