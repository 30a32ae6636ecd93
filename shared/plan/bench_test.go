package plan

import (
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// BenchmarkDocumentNone is the common sweep case: a repository policy that
// already holds the owned statements next to a foreign one.
func BenchmarkDocumentNone(b *testing.B) {
	owned := []policy.Statement{pullStatement(prefix+"Pull", "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"), orgPull()}
	first, err := Document(policy.ECRRepositoryPolicy, repoARN, doc(foreignA), owned, prefix)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ch, err := Document(policy.ECRRepositoryPolicy, repoARN, first.After, owned, prefix)
		if err != nil || ch.Op != OpNone {
			b.Fatal(err, ch.Op)
		}
	}
}

// BenchmarkDocumentCreate plans a new repository policy (no current text).
func BenchmarkDocumentCreate(b *testing.B) {
	owned := []policy.Statement{pullStatement(prefix+"Pull", "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"), orgPull()}
	b.ReportAllocs()
	for b.Loop() {
		ch, err := Document(policy.ECRRepositoryPolicy, repoARN, "", owned, prefix)
		if err != nil || ch.Op != OpCreate {
			b.Fatal(err, ch.Op)
		}
	}
}
