package desired

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// TagQueries returns the distinct tag sets of the repository-placement
// grants that live in account's registry, in declaration order: each is one
// tag:GetResources query, so a registry's tag-matched repositories cost
// listing pages instead of one ListTagsForResource per repository.
func (s *State) TagQueries(account string) []map[string]string {
	seen := map[string]bool{}
	var out []map[string]string
	for _, g := range s.decl.Grants {
		if g.Placement != config.PlacementRepository || len(g.RepositoryTags) == 0 || !s.AppliesTo(g.Registries, account) {
			continue
		}
		keys := slices.Sorted(maps.Keys(g.RepositoryTags))
		var id strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&id, "%q=%q;", k, g.RepositoryTags[k])
		}
		if seen[id.String()] {
			continue
		}
		seen[id.String()] = true
		out = append(out, g.RepositoryTags)
	}
	return out
}
