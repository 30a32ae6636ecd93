package inventory

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"sync"
)

// describeBatch is the largest repositoryNames list DescribeRepositories
// accepts (ECR and ECR Public alike).
const describeBatch = 100

// missingName finds the repository name in a RepositoryNotFoundException
// message ("The repository with name 'x' does not exist in the registry with
// id '...'"). It is only a hint: when it does not match, lookup bisects.
var missingName = regexp.MustCompile(`name '([^']+)'`)

// lookup describes named repositories in batches of up to 100, at most limit
// batches in flight. DescribeRepositories fails a whole batch when one name
// does not exist, so a batch that fails with not-found drops the name the
// message points at and asks again (one extra call per missing name), or
// splits in half when the message names nothing in the batch. Missing names
// are returned, not treated as errors: a repository deleted since its event
// is a normal answer.
func lookup[T any](ctx context.Context, names []string, limit int,
	describe func(ctx context.Context, batch []string) ([]T, error),
	isNotFound func(error) (msg string, ok bool)) (found []T, missing []string, err error) {
	names = uniqueSorted(names)
	var batches [][]string
	for i := 0; i < len(names); i += describeBatch {
		batches = append(batches, names[i:min(i+describeBatch, len(names))])
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	var describeAll func(ctx context.Context, batch []string)
	describeAll = func(ctx context.Context, batch []string) {
		for len(batch) > 0 {
			out, err := describe(ctx, batch)
			if err == nil {
				mu.Lock()
				found = append(found, out...)
				mu.Unlock()
				return
			}
			msg, nf := isNotFound(err)
			if !nf {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			if len(batch) == 1 {
				mu.Lock()
				missing = append(missing, batch[0])
				mu.Unlock()
				return
			}
			if m := missingName.FindStringSubmatch(msg); m != nil {
				if i := indexOf(batch, m[1]); i >= 0 {
					mu.Lock()
					missing = append(missing, batch[i])
					mu.Unlock()
					batch = append(append([]string(nil), batch[:i]...), batch[i+1:]...)
					continue
				}
			}
			half := len(batch) / 2
			describeAll(ctx, batch[:half])
			batch = batch[half:]
		}
	}
	forEach(ctx, len(batches), limit, func(ctx context.Context, i int) { describeAll(ctx, batches[i]) })
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	sort.Strings(missing)
	return found, missing, nil
}

func uniqueSorted(names []string) []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	j := 0
	for i, n := range out {
		if i == 0 || n != out[j-1] {
			out[j] = n
			j++
		}
	}
	return out[:j]
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
