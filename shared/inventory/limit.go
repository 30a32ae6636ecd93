package inventory

import (
	"context"
	"sync"
)

// forEach calls fn for every index in [0, n) with at most limit calls in
// flight, and returns once all started calls have returned. It stops starting
// new calls when ctx is done; fn records its own result (per-item errors are
// the caller's business, so one bad repository does not hide the others).
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int)) {
	if limit < 1 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, i)
		}(i)
	}
	wg.Wait()
}
