package reconcile

import (
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// A poster that finds nobody draining leaves the lease to another event only
// when that event posted just before it; a later poster, an entry a dead
// holder left long ago, or its own entry never make it wait, so the earliest
// poster of a burst takes the lease.
func TestRacing(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	entry := func(subject string, age time.Duration) lease.Entry {
		return lease.Entry{Subject: subject, Body: "{}", Posted: now.Add(-age)}
	}
	for name, c := range map[string]struct {
		entries []lease.Entry
		want    bool
	}{
		"alone":                       {[]lease.Entry{entry("222", 0)}, false},
		"another posted just before":  {[]lease.Entry{entry("333", 20*time.Millisecond), entry("222", 0)}, true},
		"another posted just after":   {[]lease.Entry{entry("222", 20*time.Millisecond), entry("333", 0)}, false},
		"another's entry long left":   {[]lease.Entry{entry("333", time.Minute), entry("222", 0)}, false},
		"just at the bound":           {[]lease.Entry{entry("333", hubRacing), entry("222", 0)}, false},
		"own entry older, none other": {[]lease.Entry{entry("222", time.Minute)}, false},
	} {
		if got := racing(lease.Box{Entries: c.entries}, "222", now); got != c.want {
			t.Errorf("%s: racing = %v, want %v", name, got, c.want)
		}
	}
	// In a burst every poster but the earliest waits for it.
	burst := lease.Box{Entries: []lease.Entry{entry("111", 30*time.Millisecond), entry("222", 20*time.Millisecond), entry("333", 10*time.Millisecond)}}
	for subject, want := range map[string]bool{"111": false, "222": true, "333": true} {
		if got := racing(burst, subject, now); got != want {
			t.Errorf("burst, %s: racing = %v, want %v", subject, got, want)
		}
	}
}
