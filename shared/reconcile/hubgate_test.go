package reconcile

import (
	"context"
	"testing"
	"time"
)

// TestHubGate: the member's half waits for the hub's grant only inside an
// account event, until every region's grant is written or the hub's half
// ends, and gives up (reporting it) when its context ends; the hub's half
// cannot wait on its own gate, nor the member's half open it.
func TestHubGate(t *testing.T) {
	if !awaitHubGrant(context.Background()) {
		t.Error("outside an account event awaitHubGrant waited and failed; want it to return at once")
	}

	opened := func(g *hubGate) bool {
		select {
		case <-g.open:
			return true
		default:
			return false
		}
	}
	g := newHubGate(2)
	hub := context.WithValue(context.Background(), hubWriterKey{}, g)
	member := context.WithValue(context.Background(), hubWaiterKey{}, g)
	ownHubChangeWritten(member) // the member's half has no say
	ownHubChangeWritten(hub)
	if opened(g) {
		t.Fatal("the gate opened after one of two regions' grants")
	}
	if !awaitHubGrant(hub) {
		t.Error("the hub's half waited on its own gate")
	}
	waited := make(chan bool)
	go func() { waited <- awaitHubGrant(member) }()
	select {
	case <-waited:
		t.Fatal("the member's half went on before the second region's grant")
	case <-time.After(50 * time.Millisecond):
	}
	ownHubChangeWritten(hub)
	if ok := <-waited; !ok || !opened(g) {
		t.Errorf("after both regions' grants: awaitHubGrant %v, gate open %v; want both true", ok, opened(g))
	}

	ended := newHubGate(1)
	ended.release() // the hub's half ended without writing
	if !awaitHubGrant(context.WithValue(context.Background(), hubWaiterKey{}, ended)) {
		t.Error("a gate released by the hub's end kept the member waiting")
	}

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), hubWaiterKey{}, newHubGate(1)))
	cancel()
	if awaitHubGrant(ctx) {
		t.Error("awaitHubGrant reported the grant held after its context ended")
	}
}
