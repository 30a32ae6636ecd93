// Package bigorg builds large organizations as a walk of the organization
// returns them, with the entropy real ones have: random 12-digit account
// ids, names made of a team, a workload, an environment and often a number,
// and OU paths two to four levels deep under about a hundred OUs. The size
// of a work unit that carries the organization, and how well it compresses,
// depend on exactly that; sequential ids and one repeated OU path compress
// far better than any real organization and would overstate what fits in a
// message.
package bigorg

import (
	"fmt"
	"math/rand/v2"

	"github.com/ecr-warden/ecr-warden/shared/desired"
)

var (
	teams     = []string{"payments", "checkout", "identity", "search", "catalog", "ledger", "risk", "fraud", "billing", "growth", "data-platform", "ml-training", "observability", "networking", "security-tooling", "mobile-backend", "edge", "messaging", "notifications", "logistics", "inventory", "pricing", "recommendations", "analytics", "compliance", "customer-support", "partner-api", "media", "streaming", "devex"}
	workloads = []string{"api", "workers", "batch", "etl", "web", "core", "shared", "infra", "pipeline", "gateway", "services", "jobs"}
	envs      = []string{"dev", "test", "qa", "staging", "preprod", "prod", "sandbox", "perf"}
	regions   = []string{"", "", "-use1", "-euw1", "-apse2", "-usw2", "-euc1"}
)

// Accounts is n accounts of one organization, the same for the same seed:
// about 1 in 50 suspended, the rest active.
func Accounts(n int, seed uint64) []desired.Account {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	id := func(k int) string {
		const hex = "0123456789abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, k)
		for i := range b {
			b[i] = hex[r.IntN(len(hex))]
		}
		return string(b)
	}
	org, root := "o-"+id(10), "r-"+id(4)
	ou := func() string { return "ou-" + root[2:] + "-" + id(8) }
	// A realistic tree: 6 top-level OUs (workloads, sandbox, security, ...),
	// each with a few business units, each with environment OUs.
	var paths []string
	for range 6 {
		top := org + "/" + root + "/" + ou() + "/"
		paths = append(paths, top)
		for range 3 + r.IntN(4) {
			bu := top + ou() + "/"
			paths = append(paths, bu)
			for range 2 + r.IntN(3) {
				paths = append(paths, bu+ou()+"/")
			}
		}
	}
	seen := map[string]bool{}
	accounts := make([]desired.Account, n)
	for i := range accounts {
		var acct string
		for acct == "" || seen[acct] {
			acct = fmt.Sprintf("%012d", r.Int64N(1_000_000_000_000))
		}
		seen[acct] = true
		name := teams[r.IntN(len(teams))] + "-" + workloads[r.IntN(len(workloads))] + "-" + envs[r.IntN(len(envs))] + regions[r.IntN(len(regions))]
		if r.IntN(3) > 0 {
			name += fmt.Sprintf("-%02d", r.IntN(100))
		}
		status := "ACTIVE"
		if r.IntN(50) == 0 {
			status = "SUSPENDED"
		}
		accounts[i] = desired.Account{ID: acct, Name: name, Status: status, OUPath: paths[r.IntN(len(paths))]}
	}
	return accounts
}
