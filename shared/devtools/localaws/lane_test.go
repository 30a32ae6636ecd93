package localaws

import (
	"context"
	"errors"
	"testing"
)

// In the fast lane Main starts nothing and Start refuses, so a test that
// forgot Need fails instead of quietly needing Python; outside it, Main has
// started the local AWS every other test here uses.
func TestLane(t *testing.T) {
	if !Short() {
		if srv == nil {
			t.Fatal("Main did not start the local AWS outside -short")
		}
		return
	}
	if srv != nil {
		t.Fatal("Main started the local AWS under -short")
	}
	if s, err := Start(context.Background(), Options{}); !errors.Is(err, ErrShort) {
		if s != nil {
			s.Stop()
		}
		t.Fatalf("Start under -short: %v, want ErrShort", err)
	}
}
