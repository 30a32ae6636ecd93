package reconcile

import (
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// tagDecides reports whether a repository's planned change depends on its
// tags: whether some statement that only a tag grant produces is in the
// policy now (current) or in what the plan wants. Only then can a stale
// answer of the eventually consistent Tagging API make the write wrong
// (drop a grant a fresh tag earned, or keep one a removed tag lost), so only
// then is the repository's own tag list read (ListTagsForResource) before
// the write. A repository matched by name alone is written without it.
func (e *Engine) tagDecides(state *desired.State, repo desired.Repository, current string) bool {
	untagged := repo
	untagged.Tags = nil
	base := map[string]bool{}
	for _, st := range state.RepositoryStatements(untagged) {
		base[st.Sid] = true
	}
	tagOnly := map[string]bool{}
	for _, g := range e.Decl.Grants {
		if g.Placement != config.PlacementRepository || len(g.RepositoryTags) == 0 {
			continue
		}
		r := repo
		r.Tags = g.RepositoryTags
		for _, st := range state.RepositoryStatements(r) {
			if !base[st.Sid] {
				tagOnly[st.Sid] = true
			}
		}
	}
	if len(tagOnly) == 0 {
		return false
	}
	owned, err := ownedOf(current, e.Decl.SidPrefix)
	if err != nil {
		return true // unreadable: let the full path (and its refusal) decide
	}
	return anySid(owned, tagOnly) || anySid(state.RepositoryStatements(repo), tagOnly)
}

func anySid(sts []policy.Statement, sids map[string]bool) bool {
	for _, st := range sts {
		if sids[st.Sid] {
			return true
		}
	}
	return false
}
