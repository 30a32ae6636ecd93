package main

import (
	"errors"
	"sync"
)

// fanOut runs fn over items with at most limit in flight and sums what they count. The floor and
// the blind loop both converge accounts, then repositories, with the same bounded parallelism as the
// product, so their call counts and wall times compare like for like.
func fanOut[T any](items []T, limit int, fn func(T) (int, error)) (int, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		sem   = make(chan struct{}, max(limit, 1))
		errs  []error
		total int
	)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := fn(it)
			mu.Lock()
			defer mu.Unlock()
			total += n
			errs = append(errs, err)
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}
