package lease

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Regional takes each lease in the lease table of the region its document
// lives in. Every hub region's stack has its own lease table, and most
// writers serve only their own region, but some write documents of other
// regions: the primary region's backfill and sweep workers converge every
// region, IAM's global events (the PTC role, a role a grant names) arrive in
// us-east-1 only, and the PTC role's lease is the primary region's registry
// key. A lease taken in the writer's own table would not exclude the
// document region's own functions, two writers of one document; taken in the
// document's region, every writer of it meets in one table.
type Regional struct {
	home     string
	byRegion map[string]*Leaser
}

// NewRegional routes keys to byRegion's leaser of the key's region (every
// hub region's table); a key that names no region, or one not in byRegion,
// goes to home's.
func NewRegional(home string, byRegion map[string]*Leaser) (*Regional, error) {
	if byRegion[home] == nil {
		return nil, fmt.Errorf("lease: no lease table for the function's own region %s", home)
	}
	return &Regional{home: home, byRegion: byRegion}, nil
}

// publicRegion is where ECR Public's repositories live (its API exists only
// there), whatever their ARN says (it has no region).
const publicRegion = policy.ECRPublicRegion

// RegionOf is the region of the document a key leases: registry/<account>/<region>,
// repository/<ECR repository ARN>, public#<ECR Public repository ARN>
// (us-east-1); "" for any other key.
func RegionOf(key string) string {
	switch {
	case strings.HasPrefix(key, "registry/"):
		parts := strings.Split(key, "/")
		if len(parts) == 3 {
			return parts[2]
		}
	case strings.HasPrefix(key, "repository/"):
		parts := strings.SplitN(strings.TrimPrefix(key, "repository/"), ":", 6)
		if len(parts) == 6 {
			return parts[3]
		}
	case strings.HasPrefix(key, "public#"):
		return publicRegion
	}
	return ""
}

// For is the leaser of the table where key's lease lives.
func (r *Regional) For(key string) *Leaser { return r.inRegion(RegionOf(key)) }

// Hold is Leaser.Hold in the key's region's table.
func (r *Regional) Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h Held) error) error {
	return r.For(key).Hold(ctx, key, ttl, fn)
}

// Want marks busy's lease as wanted in its region's table (Leaser.Want).
func (r *Regional) Want(ctx context.Context, busy *BusyError, until time.Time) error {
	if busy == nil {
		return nil
	}
	return r.For(busy.Key).Want(ctx, busy, until)
}

// Post is Leaser.Post in the key's region's table.
func (r *Regional) Post(ctx context.Context, key, subject, body string) (Box, error) {
	return r.For(key).Post(ctx, key, subject, body)
}

// AcquireOpen is Leaser.AcquireOpen in the key's region's table.
func (r *Regional) AcquireOpen(ctx context.Context, key string, ttl time.Duration, takes int64) (*Lease, Box, error) {
	return r.For(key).AcquireOpen(ctx, key, ttl, takes)
}

// Peek is Leaser.Peek in the key's region's table.
func (r *Regional) Peek(ctx context.Context, key string) (Box, error) {
	return r.For(key).Peek(ctx, key)
}

// CloseAndRelease is Leaser.CloseAndRelease by the leaser that took ls.
func (r *Regional) CloseAndRelease(ctx context.Context, ls *Lease, applied []Entry, read Box) (Box, error) {
	return ls.leaser.CloseAndRelease(ctx, ls, applied, read)
}

// Abandon is Leaser.Abandon by the leaser that took ls.
func (r *Regional) Abandon(ctx context.Context, ls *Lease) error {
	return ls.leaser.Abandon(ctx, ls)
}

// MarkRefused is Leaser.MarkRefused in the key's region's table.
func (r *Regional) MarkRefused(ctx context.Context, key string, marked []Entry) error {
	return r.For(key).MarkRefused(ctx, key, marked)
}
