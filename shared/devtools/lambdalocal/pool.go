package lambdalocal

import (
	"context"
	"errors"
	"fmt"
)

// Pool is several execution environments of one function, for tests of
// concurrent delivery (two events for the same repository at once, SQS
// batches in parallel): each Invoke takes an idle Instance, so up to Size
// invokes run at the same time, each in its own process, as Lambda scales
// out.
type Pool struct {
	all  []*Instance
	idle chan *Instance
}

// NewPool starts size instances of fn.
func NewPool(ctx context.Context, fn Function, size int) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("starting a local Lambda pool for %s: size %d, want at least 1", fn.Name, size)
	}
	p := &Pool{idle: make(chan *Instance, size)}
	for range size {
		i, err := Start(ctx, fn)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.all = append(p.all, i)
		p.idle <- i
	}
	return p, nil
}

// Size is the number of execution environments.
func (p *Pool) Size() int { return len(p.all) }

// Invoke runs payload on the next idle instance, waiting for one if all are
// busy.
func (p *Pool) Invoke(ctx context.Context, payload []byte) (Result, error) {
	var i *Instance
	select {
	case i = <-p.idle:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { p.idle <- i }()
	return i.Invoke(ctx, payload)
}

// Close stops every instance.
func (p *Pool) Close() error {
	var errs []error
	for _, i := range p.all {
		errs = append(errs, i.Close())
	}
	return errors.Join(errs...)
}
