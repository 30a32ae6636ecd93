package desired

import (
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TagsDecide reports whether a repository's planned change depends on its
// tags: whether some statement that only a tag grant produces is in the
// policy now (current, the policy's text) or in what the declaration wants.
// Only then can a stale answer of the eventually consistent Tagging API make
// the write wrong (drop a grant a fresh tag earned, or keep one a removed tag
// lost), so only then is the repository's own tag list read
// (ListTagsForResource) before the write. A repository matched by name alone
// is written without it.
func (s *State) TagsDecide(repo Repository, current string) bool {
	untagged := repo
	untagged.Tags = nil
	base := map[string]bool{}
	for _, st := range s.RepositoryStatements(untagged) {
		base[st.Sid] = true
	}
	tagOnly := map[string]bool{}
	for _, g := range s.decl.Grants {
		if g.Placement != config.PlacementRepository || len(g.RepositoryTags) == 0 {
			continue
		}
		r := repo
		r.Tags = g.RepositoryTags
		for _, st := range s.RepositoryStatements(r) {
			if !base[st.Sid] {
				tagOnly[st.Sid] = true
			}
		}
	}
	if len(tagOnly) == 0 {
		return false
	}
	owned, err := policy.OwnedOf(current, s.decl.SidPrefix)
	if err != nil {
		return true // unreadable: let the full path (and its refusal) decide
	}
	return anySid(owned, tagOnly) || anySid(s.RepositoryStatements(repo), tagOnly)
}

func anySid(sts []policy.Statement, sids map[string]bool) bool {
	for _, st := range sts {
		if sids[st.Sid] {
			return true
		}
	}
	return false
}
