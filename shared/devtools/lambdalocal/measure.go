package lambdalocal

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// Stats are the numbers the README's performance section reports for a
// function: artefact size, cold-start init time and per-event time.
type Stats struct {
	// BinarySize is the bootstrap file size in bytes.
	BinarySize int64
	// Init is the cold start's init duration (process start to first /next).
	Init time.Duration
	// First is the first (cold) invoke's duration, which pays for lazy
	// set-up such as the first TCP connection to AWS.
	First time.Duration
	// InvokeP50, InvokeP95 and InvokeMax are over the warm invokes (all but
	// the first), or over the one invoke when n is 1.
	InvokeP50, InvokeP95, InvokeMax time.Duration
	// N is the number of invokes.
	N int
}

// String renders the stats on one line for logs and the README.
func (s Stats) String() string {
	return fmt.Sprintf("bootstrap %.1f MiB, init %s, first invoke %s, warm invoke p50 %s p95 %s max %s (n=%d)",
		float64(s.BinarySize)/(1<<20), round(s.Init), round(s.First), round(s.InvokeP50), round(s.InvokeP95), round(s.InvokeMax), s.N)
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Measure starts a fresh instance of fn (so the init is a real cold start),
// invokes it n times with payload and reports the timings. Any failed invoke
// is an error: timings of failures measure the wrong thing.
func Measure(ctx context.Context, fn Function, payload []byte, n int) (Stats, error) {
	return MeasureEach(ctx, fn, n, func(int) []byte { return payload })
}

// MeasureEach is Measure with a different event per invoke (e.g. a new
// repository name each time, so every invoke takes the write path).
func MeasureEach(ctx context.Context, fn Function, n int, payload func(i int) []byte) (Stats, error) {
	if n < 1 {
		return Stats{}, fmt.Errorf("measuring %s: n is %d, want at least 1", fn.Name, n)
	}
	inst, err := Start(ctx, fn)
	if err != nil {
		return Stats{}, err
	}
	defer inst.Close()
	results := make([]Result, 0, n)
	for k := range n {
		res, err := inst.Invoke(ctx, payload(k))
		if err != nil {
			return Stats{}, fmt.Errorf("measuring %s: invoke %d: %w", inst.fn.Name, k+1, err)
		}
		if res.Err != nil {
			return Stats{}, fmt.Errorf("measuring %s: invoke %d failed: %w", inst.fn.Name, k+1, res.Err)
		}
		results = append(results, res)
	}
	return Summarize(inst.fn.Binary, results)
}

// Summarize computes Stats from the results of consecutive invokes of one
// instance, the first of them cold (as `make invoke -repeat N` has them).
func Summarize(binary string, results []Result) (Stats, error) {
	if len(results) == 0 {
		return Stats{}, fmt.Errorf("summarizing invokes of %s: no results", binary)
	}
	st, err := os.Stat(binary)
	if err != nil {
		return Stats{}, fmt.Errorf("summarizing invokes: %w", err)
	}
	s := Stats{BinarySize: st.Size(), N: len(results), Init: results[0].InitDuration, First: results[0].Duration}
	var warm []time.Duration
	for _, r := range results[1:] {
		warm = append(warm, r.Duration)
	}
	if len(warm) == 0 {
		warm = append(warm, results[0].Duration)
	}
	slices.Sort(warm)
	s.InvokeP50 = percentile(warm, 50)
	s.InvokeP95 = percentile(warm, 95)
	s.InvokeMax = warm[len(warm)-1]
	return s, nil
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	rank := (p*len(d) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return d[rank-1]
}
