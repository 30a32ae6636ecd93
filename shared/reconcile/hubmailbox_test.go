package reconcile

import (
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// A poster that finds nobody draining leaves the lease to another event only
// when that event posted just before it; its own entry, or an entry a dead
// holder left long ago, never make it wait.
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
		"another's entry long left":   {[]lease.Entry{entry("333", time.Minute), entry("222", 0)}, false},
		"own entry older, none other": {[]lease.Entry{entry("222", time.Minute)}, false},
	} {
		if got := racing(lease.Box{Entries: c.entries}, "222", now); got != c.want {
			t.Errorf("%s: racing = %v, want %v", name, got, c.want)
		}
	}
}
