package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/iamsim"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The randomized event-sequence test: ecr-warden is level-triggered, so
// whatever order the organization's and the registries' events arrive in,
// duplicated or hours late, (1) no grant in the hub or a member registry
// becomes allowed while the declaration refuses it in the organization as it
// is at that moment, and none stays once the events about that account's
// change have arrived (until then the grants may lag: nothing told
// ecr-warden yet), (2) when nothing is pending the documents admit exactly
// whom the declaration admits, and (3) at the end a dry-run backfill (the
// full walk) plans no change anywhere: hub registry and repository policies,
// member registry policies, PTC roles and rules.
//
// Each step changes the local organization, the hub's repositories or a
// registry policy (an account moves, leaves, closes or joins; a hub
// repository is created, tagged, untagged or its policy edited by hand; the
// hub's or a member's registry policy is edited by hand) and queues the
// events AWS would send; then it delivers, through the real account,
// repository and drift binaries, some of the queued events (in any order,
// so late) and some already delivered ones again (duplicated, or stale: the
// organization has changed since), sometimes two at once. A quarter of the
// steps make one operation answer 500 a few times, so invocations fail and
// are delivered again. Even seeds run with the work queue, as deployed: the
// account function's units reach the worker binary at a later random step.
// The documents after each step are evaluated by the independent IAM
// simulator (shared/devtools/iamsim) for every account ever created against
// a model of the declaration (admits).
//
// SEQUENCE_SEED=<n> replays one seed (its steps are logged with -v);
// SEQUENCE_SEEDS=<k> runs k seeds from the first.

// sequenceSteps is the number of random steps per seed.
const sequenceSteps = 16

// sequenceSeeds are the seeds a plain run covers.
func sequenceSeeds(t *testing.T) []uint64 {
	if v := os.Getenv("SEQUENCE_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SEQUENCE_SEED=%q: not a number", v)
		}
		return []uint64{s}
	}
	n := 3
	if v, err := strconv.Atoi(os.Getenv("SEQUENCE_SEEDS")); err == nil && v > 0 {
		n = v
	}
	first := uint64(time.Now().UnixNano() % 1_000_000)
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

func TestRandomEventSequencesNeverOverGrantAndConverge(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := iamsim.Install(t.Context(), root)
	if err != nil {
		t.Fatalf("installing the pinned IAM simulator (make iamsim): %v", err)
	}
	for _, seed := range sequenceSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (SEQUENCE_SEED=%d go test -run TestRandomEventSequences ./functions/account/ replays it)", seed, seed)
			// Odd seeds converge every event within its invocation; even
			// ones run as deployed, with the work queue and the worker.
			// Seeds 2 and 3 of every 4 make only OUs A and B PTC members.
			runSequence(t, sim, seed, sequenceSteps, seed%2 == 0, seed%4 >= 2)
		})
	}
}

// place is where the test put an account: its parent ("" once it left the
// organization) and whether it was closed (suspended, still in its OU).
type place struct {
	parent string
	closed bool
}

// delivery is one event as AWS would send it, and the function it goes to.
type delivery struct {
	fn    string // "account", "repository", "drift"
	label string
	body  []byte
}

// sequence is one seed's run.
type sequence struct {
	*world
	r        *rand.Rand
	ouC      string
	accounts []string // every account ever created, in creation order
	places   map[string]place
	hubRepos []string // hub repositories that exist
	tagged   bool     // apps/tagged carries share=tooling
	pending  []delivery
	sent     []delivery
	fns      map[string][]*lambdalocal.Instance
	// queued runs the functions as deployed, with the work queue: the
	// account function hands member units to the worker, which receives
	// them when the test drains the queue (late, at random moments).
	queued    bool
	ptcByOU   bool // pull-through cache for OUs A and B only, else all members
	work      localrun.Env
	undrained bool
	snaps     []snapshot
	log       []string
	created   int
	settles   int // steps after which walks are kept (settle)
}

// snapshot is the hub as it was after one step, with the organization then.
type snapshot struct {
	step     string
	registry string
	repos    map[string]string
	places   map[string]place
	tagged   bool
	settled  bool // nothing was pending: the hub must admit exactly the model
	// members are the registry policies of the members active then.
	members map[string]string
	// undrained: the work queue held units of events already delivered.
	undrained bool
	// pending are the accounts and repositories with an event not yet
	// delivered: their grants may still be those of before the change.
	pending map[string]bool
}

func runSequence(t *testing.T, sim *iamsim.Simulator, seed uint64, steps int, queued, ptcByOU bool) {
	w := newWorld(t, func(d string) string {
		if ptcByOU {
			// Pull-through cache for the members of OUs A and B only: a
			// move out of them retires the member's setup and its upstream
			// grant.
			d = strings.Replace(d, `"members": {"all": true}`, `"members": {"ous": ["{{OU_A_PATH}}", "{{OU_B_PATH}}"]}`, 1)
		}
		// A grant that selects hub repositories by tag, so TagResource and
		// UntagResource (and their stale copies) matter.
		return strings.Replace(d, `"grants": [`, `"grants": [
    {"name": "peer-pull", "repositories": ["peer/*"], "access": "pull", "principals": {"ous": ["`+"{{OU_A_PATH}}"+`"]},
     "placement": "registry", "principalMode": "enumerate", "registries": {"allMembers": true}},
    {"name": "tagged-pull", "repositoryTags": {"share": "tooling"}, "access": "pull",
     "principals": {"ous": ["`+"{{OU_B_PATH}}"+`"]}, "placement": "repository", "principalMode": "enumerate"},`, 1)
	})
	// newWorld substituted its own placeholders before edit; fill ours.
	text, err := os.ReadFile(w.declPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.declPath, []byte(strings.NewReplacer("{{OU_A_PATH}}", w.ouPath(w.ouA), "{{OU_B_PATH}}", w.ouPath(w.ouB)).Replace(string(text))), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sequence{world: w, r: rand.New(rand.NewPCG(seed, 0x5e9)), places: map[string]place{}, fns: map[string][]*lambdalocal.Instance{}, queued: queued, ptcByOU: ptcByOU}
	s.ouC = w.createOU("sandbox")
	s.start()

	for _, name := range []string{"ci/app", "apps/tagged"} {
		w.createRepository(w.hub, name, "")
		s.hubRepos = append(s.hubRepos, name)
	}
	for range 4 {
		s.join()
	}
	// The first joins all arrive (in a random order): the starting point.
	s.deliverPending(len(s.pending))
	s.drain()
	s.snap("start")

	for i := range steps {
		s.step(i)
	}
	// The last events settle: everything still queued arrives, in a random
	// order, then a few stale copies on top.
	s.deliverPending(len(s.pending))
	for range 3 {
		s.deliver([]delivery{s.stale()})
	}
	s.drain()
	s.snap("settled")
	t.Logf("seed %d (work queue %v, PTC for OUs A and B only %v): %d steps (%d settling), %d deliveries:\n%s", seed, queued, ptcByOU, steps, s.settles, len(s.sent), strings.Join(s.log, "\n"))

	s.evaluate(sim)
	s.backfillPlansNothing()
}

// start runs two account function instances (for concurrent deliveries)
// and one each of the repository and drift functions.
func (s *sequence) start() {
	env := s.env()
	// Two attempts per call, so that a step's fault fails invocations
	// (delivered again) and not only SDK attempts.
	env["AWS_MAX_ATTEMPTS"] = "2"
	if s.queued {
		q, err := localrun.Prepare(s.ctx, s.hub, 3)
		if err != nil {
			s.t.Fatal(err)
		}
		s.work, env["WARDEN_WORK_QUEUE_URL"] = q, q.QueueURL
		inst, err := lambdalocal.Start(s.ctx, lambdalocal.Function{Name: "ecr-warden-worker", Binary: lab.Binary("worker"), Env: env, Timeout: 120 * time.Second, AccountID: hubAccount})
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(func() { inst.Close() })
		s.fns["worker"] = []*lambdalocal.Instance{inst}
	}
	for _, f := range []struct {
		fn  string
		bin string
		n   int
	}{{"account", accountBin, 2}, {"repository", repositoryBin, 2}, {"drift", lab.Binary("drift"), 1}} {
		for range f.n {
			inst, err := lambdalocal.Start(s.ctx, lambdalocal.Function{Name: "ecr-warden-" + f.fn, Binary: f.bin, Env: env, Timeout: 120 * time.Second, AccountID: hubAccount})
			if err != nil {
				s.t.Fatal(err)
			}
			s.t.Cleanup(func() { inst.Close() })
			s.fns[f.fn] = append(s.fns[f.fn], inst)
		}
	}
}

// step is one random change and one random round of deliveries.
func (s *sequence) step(i int) {
	if s.r.IntN(10) < 7 {
		s.change()
	}
	if s.r.IntN(4) == 0 {
		s.fault()
	}
	defer proxy.Reset() // a fault no call met does not outlive its step
	var batch []delivery
	for range 1 + s.r.IntN(2) {
		switch {
		case len(s.pending) > 0 && s.r.IntN(2) == 0:
			j := s.r.IntN(len(s.pending))
			batch = append(batch, s.pending[j])
			s.pending = slices.Delete(s.pending, j, j+1)
		case len(s.sent) > 0:
			batch = append(batch, s.stale())
		}
	}
	if len(batch) == 2 && s.r.IntN(3) > 0 {
		s.deliver(batch) // both at once
	} else {
		for _, d := range batch {
			s.deliver([]delivery{d})
		}
	}
	// Settling after the deliveries: the worker's units of them (drained
	// now or later) and the next steps' repository and registry events
	// plan from kept walks until an account event arrives.
	if s.r.IntN(3) == 0 {
		s.settle()
	}
	if s.r.IntN(3) == 0 {
		s.drain()
	}
	s.snap(fmt.Sprintf("step %d", i))
}

// faultOps are the calls a step may make fail: the policy writes and the
// organization reads the functions make.
var faultOps = []string{"PutRegistryPolicy", "SetRepositoryPolicy", "GetRegistryPolicy", "ListAccountsForParent", "DescribeAccount", "ListParents"}

// fault makes the next 1-4 calls of one operation fail with a 500 (the
// SDK retries, then the invocation fails and is delivered again), half the
// time after the call reached AWS (a write that happened although its
// caller saw it fail).
func (s *sequence) fault() {
	op := faultOps[s.r.IntN(len(faultOps))]
	f := localaws.ServerError(500, 1+s.r.IntN(4))
	f.Forward = s.r.IntN(2) == 0
	proxy.Inject(op, f)
	s.note("fault: the next %d %s calls answer 500 (forwarded %v)", f.Times, op, f.Forward)
}

// settle makes the organization's last change older than
// reconcile.orgSettle, as if minutes passed since the last account event:
// it moves the generation token's changedAt 3 minutes back without
// replacing the token. From then on a function that walks the
// organization under a lease keeps that walk and plans later holds from
// it while the token stands (shared/reconcile/orgview.go), which the
// steps' seconds apart never reach otherwise: the next account event
// (late, duplicated or stale) must replace the token before it writes, or
// a kept walk undoes it, which the evaluation after the step finds.
func (s *sequence) settle() {
	s.t.Helper()
	db := dynamodb.NewFromConfig(s.hub)
	key := map[string]dbtypes.AttributeValue{lease.AttrPK: &dbtypes.AttributeValueMemberS{Value: lease.GenerationKey}}
	leaser, err := lease.New(db, functest.LeaseTable, lease.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	gen, err := leaser.Generation(s.ctx) // creates the item when no event has yet
	if err != nil {
		s.t.Fatal(err)
	}
	at := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	if _, err := db.UpdateItem(s.ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(functest.LeaseTable),
		Key:                       key,
		UpdateExpression:          aws.String("SET changedAt = :c"),
		ConditionExpression:       aws.String("#t = :t"),
		ExpressionAttributeNames:  map[string]string{"#t": "token"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":c": &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(at.Unix(), 10)}, ":t": &dbtypes.AttributeValueMemberS{Value: gen.Token}},
	}); err != nil {
		s.t.Fatalf("moving the organization's last change back: %v", err)
	}
	// The product reads what the test wrote (the attribute names above are
	// the lease package's): a renamed attribute fails here, not silently.
	if now, err := leaser.Generation(s.ctx); err != nil || now.Token != gen.Token || !now.ChangedAt.Equal(at) {
		s.t.Fatalf("the generation token after moving its change back: %+v, %v; want token %s changed at %s", now, err, gen.Token, at)
	}
	s.settles++
	s.note("the organization settles: its last change 3 minutes ago (walks are kept from now until the next account event)")
}

// stale is an event delivered before, again: a duplicate, or stale when
// the organization has changed since.
func (s *sequence) stale() delivery {
	d := s.sent[s.r.IntN(len(s.sent))]
	if !strings.HasPrefix(d.label, "again: ") {
		d.label = "again: " + d.label
	}
	return d
}

// change makes one random change to the organization or the hub's
// repositories and queues the events AWS sends for it.
func (s *sequence) change() {
	inOrg := s.inOrg()
	switch k := s.r.IntN(12); {
	case k < 4 && len(inOrg) > 0: // move
		a := inOrg[s.r.IntN(len(inOrg))]
		from := s.places[a].parent
		parents := slices.DeleteFunc([]string{s.rootID, s.ouA, s.ouB, s.ouC}, func(p string) bool { return p == from })
		to := parents[s.r.IntN(len(parents))]
		s.move(a, from, to)
		s.places[a] = place{parent: to, closed: s.places[a].closed}
		s.note("move %s %s -> %s", a, s.name(from), s.name(to))
		s.queue("account", "MoveAccount "+a+" "+s.name(from)+"->"+s.name(to), s.moveEvent(a, from, to))
		if to != s.rootID && s.r.IntN(2) == 0 {
			s.queue("account", "UpdateManagedAccount "+a+" in "+s.name(to), s.controlTower("controltower-update-managed-account.json", "updateManagedAccountStatus", a, to))
		}
	case k < 5 && len(inOrg) > 2: // leave
		a := inOrg[s.r.IntN(len(inOrg))]
		if _, err := s.org.RemoveAccountFromOrganization(s.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a)}); err != nil {
			s.t.Fatalf("removing %s: %v", a, err)
		}
		s.places[a] = place{}
		s.note("remove %s", a)
		s.queue("account", "RemoveAccountFromOrganization "+a, s.event("org-remove-account.json", a))
		s.queue("account", "AccountDepartedOrganization "+a, s.event("org-account-departed.json", a))
	case k < 6 && len(inOrg) > 2 && s.r.IntN(2) == 0: // close
		a := inOrg[s.r.IntN(len(inOrg))]
		if s.places[a].closed {
			return
		}
		if _, err := s.org.CloseAccount(s.ctx, &organizations.CloseAccountInput{AccountId: aws.String(a)}); err != nil {
			s.t.Fatalf("closing %s: %v", a, err)
		}
		s.places[a] = place{parent: s.places[a].parent, closed: true}
		s.note("close %s", a)
		s.queue("account", "CloseAccount "+a, s.event("org-close-account.json", a))
	case k < 7 && len(s.accounts) < 6: // join
		s.join()
	case k < 8: // a new hub repository under ci/
		s.created++
		name := fmt.Sprintf("ci/svc-%d", s.created)
		s.createRepository(s.hub, name, "")
		s.hubRepos = append(s.hubRepos, name)
		s.note("create repository %s", name)
		s.queue("repository", "CreateRepository "+name, s.ecrEvent("ecr-create-repository-api.json", "111111111111", "shared/base", name))
	case k < 9: // tag or untag apps/tagged
		arn := policy.RepositoryARN("aws", region, hubAccount, "apps/tagged")
		c := ecr.NewFromConfig(s.hub)
		if s.tagged {
			if _, err := c.UntagResource(s.ctx, &ecr.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"share"}}); err != nil {
				s.t.Fatal(err)
			}
			s.note("untag apps/tagged")
			s.queue("repository", "UntagResource apps/tagged", s.ecrEvent("ecr-untag-resource.json", "222222222222", "team-a/app", "apps/tagged"))
		} else {
			if _, err := c.TagResource(s.ctx, &ecr.TagResourceInput{ResourceArn: aws.String(arn), Tags: []ecrtypes.Tag{{Key: aws.String("share"), Value: aws.String("tooling")}}}); err != nil {
				s.t.Fatal(err)
			}
			s.note("tag apps/tagged share=tooling")
			s.queue("repository", "TagResource apps/tagged", []byte(strings.Replace(string(s.ecrEvent("ecr-tag-resource.json", "222222222222", "team-a/app", "apps/tagged")), `"value":"org"`, `"value":"tooling"`, 1)))
		}
		s.tagged = !s.tagged
	case k < 10 && s.r.IntN(2) == 0: // a hand edit drops ecr-warden's statements from the hub registry
		s.putRegistryPolicy(s.hub, handPolicy)
		s.note("hand edit of the hub registry policy")
		s.queue("drift", "PutRegistryPolicy registry-of-hub", s.memberEvent("ecr-put-registry-policy.json", "222222222222", hubAccount))
	case k < 11 && len(inOrg) > 0: // ... or from a member's
		a := inOrg[s.r.IntN(len(inOrg))]
		if s.places[a].closed {
			return
		}
		s.putRegistryPolicy(s.member(a), strings.ReplaceAll(handPolicy, hubAccount, a))
		s.note("hand edit of %s's registry policy", a)
		s.queue("drift", "PutRegistryPolicy registry-of-"+a, s.memberEvent("ecr-put-registry-policy.json", "222222222222", a))
	default: // a hand edit drops ecr-warden's statements from a ci/ repository
		name := s.hubRepos[0]
		c := ecr.NewFromConfig(s.hub)
		if _, err := c.SetRepositoryPolicy(s.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(handPolicy)}); err != nil {
			s.t.Fatal(err)
		}
		s.note("hand edit of %s's policy", name)
		s.queue("drift", "SetRepositoryPolicy "+name, s.ecrEvent("ecr-set-repository-policy.json", "111111111111", "shared/base", name))
	}
}

// handPolicy is what a hand edit leaves in the hub's documents: one
// foreign statement, ecr-warden's gone.
const handPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"HandAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + hubAccount + `:root"},"Action":"ecr:BatchGetImage"}]}`

// memberEvent is an ECR sample rewritten to come from member account.
func (s *sequence) memberEvent(file, sample, account string) []byte {
	return []byte(strings.ReplaceAll(string(s.event(file, "")), sample, account))
}

// join creates an account in a random place (root or one of the three
// OUs) and queues its AccountJoinedOrganization, and for an account in an
// OU sometimes Control Tower's CreateManagedAccount too.
func (s *sequence) join() {
	parents := []string{s.rootID, s.ouA, s.ouB, s.ouC}
	parent := parents[s.r.IntN(len(parents))]
	p := parent
	if p == s.rootID {
		p = ""
	}
	a := s.createAccount(fmt.Sprintf("seq-%d", len(s.accounts)), p)
	s.accounts = append(s.accounts, a)
	s.places[a] = place{parent: parent}
	s.note("join %s in %s", a, s.name(parent))
	s.queue("account", "AccountJoinedOrganization "+a, s.event("org-account-joined.json", a))
	if parent != s.rootID && s.r.IntN(2) == 0 {
		s.queue("account", "CreateManagedAccount "+a+" in "+s.name(parent), s.controlTower("controltower-create-managed-account.json", "createManagedAccountStatus", a, parent))
	}
}

func (s *sequence) inOrg() []string {
	var out []string
	for _, a := range s.accounts {
		if s.places[a].parent != "" {
			out = append(out, a)
		}
	}
	return out
}

func (s *sequence) name(parent string) string {
	switch parent {
	case s.rootID:
		return "root"
	case s.ouA:
		return "A"
	case s.ouB:
		return "B"
	case s.ouC:
		return "C"
	}
	return parent
}

func (s *sequence) note(format string, args ...any) {
	s.log = append(s.log, "  "+fmt.Sprintf(format, args...))
}

func (s *sequence) queue(fn, label string, body []byte) {
	s.pending = append(s.pending, delivery{fn: fn, label: label, body: body})
}

// controlTower is a Control Tower event for account in OU ou.
func (s *sequence) controlTower(file, status, account, ou string) []byte {
	var ev map[string]any
	if err := json.Unmarshal(s.event(file, account), &ev); err != nil {
		s.t.Fatal(err)
	}
	st := ev["detail"].(map[string]any)["serviceEventDetails"].(map[string]any)[status].(map[string]any)
	st["organizationalUnit"].(map[string]any)["organizationalUnitId"] = ou
	out, err := json.Marshal(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// ecrEvent is an ECR sample rewritten to be about the hub's repository name.
func (s *sequence) ecrEvent(file, account, repo, name string) []byte {
	return []byte(strings.NewReplacer(account, hubAccount, repo, name).Replace(string(s.event(file, ""))))
}

// deliverPending delivers n queued events in a random order, one at a time.
func (s *sequence) deliverPending(n int) {
	for range n {
		j := s.r.IntN(len(s.pending))
		d := s.pending[j]
		s.pending = slices.Delete(s.pending, j, j+1)
		s.deliver([]delivery{d})
	}
}

// deliver invokes the functions with ds at once (each on its own
// instance). A failed invocation is retried twice, as Lambda retries an
// asynchronous invocation; failing three times fails the test.
func (s *sequence) deliver(ds []delivery) {
	s.t.Helper()
	labels := make([]string, len(ds))
	for i, d := range ds {
		labels[i] = d.label
	}
	if len(ds) > 1 {
		s.note("deliver at once: %s", strings.Join(labels, " | "))
	} else {
		s.note("deliver %s", labels[0])
	}
	errs := make([]string, len(ds))
	failed := make([]int, len(ds))
	var wg sync.WaitGroup
	used := map[string]int{}
	for i, d := range ds {
		insts := s.fns[d.fn]
		inst := insts[used[d.fn]%len(insts)]
		used[d.fn]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				res, err := inst.Invoke(s.ctx, d.body)
				switch {
				case err != nil:
					errs[i] = err.Error()
					failed[i]++
				case res.Err != nil:
					errs[i] = res.Err.Type + ": " + res.Err.Message + "\n" + strings.Join(res.Logs, "\n")
					failed[i]++
				default:
					errs[i] = ""
					var r response
					if err := json.Unmarshal(res.Payload, &r); err == nil && r.Rejected != "" {
						errs[i] = "rejected: " + r.Rejected
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, n := range failed {
		if n > 0 && errs[i] == "" {
			s.note("  %s failed %d time(s), then succeeded", labels[i], n)
		}
	}
	for i, e := range errs {
		if e != "" {
			s.t.Fatalf("delivering %s: %s\nsteps so far:\n%s", labels[i], e, strings.Join(s.log, "\n"))
		}
	}
	s.sent = append(s.sent, ds...)
	s.undrained = s.undrained || s.queued
}

// drain hands the work queue's units to the worker binary, as Lambda's
// event source mapping would (localrun.Drain); every unit must converge.
func (s *sequence) drain() {
	s.t.Helper()
	if !s.queued || !s.undrained {
		return
	}
	res, err := localrun.Drain(s.ctx, sqs.NewFromConfig(s.hub), s.work, region, s.fns["worker"][0], 10, 1, 20)
	if err != nil {
		s.t.Fatal(err)
	}
	s.note("drain the work queue: %d units (%d failed a receive and were received again)", res.Done, res.Failures)
	if res.DeadLettered != 0 {
		s.t.Fatalf("draining the work queue: %d failures, dead letters %v\nsteps so far:\n%s", res.Failures, res.DeadLetters, strings.Join(s.log, "\n"))
	}
	s.undrained = false
}

// snap records the hub's documents and the organization after a step.
func (s *sequence) snap(step string) {
	sn := snapshot{step: step, registry: s.registryPolicy(s.hub), repos: map[string]string{}, places: map[string]place{}, tagged: s.tagged, settled: len(s.pending) == 0 && !s.undrained, pending: map[string]bool{}, members: map[string]string{}, undrained: s.undrained}
	for _, a := range s.accounts {
		if p := s.places[a]; p.parent != "" && !p.closed {
			sn.members[a] = s.registryPolicy(s.member(a))
		}
	}
	for _, d := range s.pending {
		sn.pending[strings.Fields(d.label)[1]] = true
	}
	for _, name := range s.hubRepos {
		sn.repos[name] = s.repositoryPolicy(s.hub, name)
	}
	for a, p := range s.places {
		sn.places[a] = p
	}
	s.snaps = append(s.snaps, sn)
	s.log = append(s.log, fmt.Sprintf("after %s (%d pending)", step, len(s.pending)))
}

// seqRepo is a hub repository the evaluation asks about; names that do not
// exist are still governed by the registry policy.
type seqRepo struct{ name, policyOf string }

// seqActions are the requests asked for: pull, push, and the pull-through
// cache's import from the hub.
var seqActions = []string{"ecr:BatchGetImage", "ecr:PutImage", "ecr:BatchImportUpstreamImage"}

// admits is the model: whether the declaration (testdata/declaration.json
// plus tagged-pull, and pull-through cache for OUs A and B only when
// ptcByOU) admits account at place p for action on hub repository
// repo. Enumerated grants name active accounts only; the condition-mode
// organization grant admits every account in the organization (AWS cannot
// tell a suspended one from the rest).
func (s *sequence) admits(p place, repo string, tagged bool, action string) bool {
	inOrg := p.parent != ""
	active := inOrg && !p.closed
	in := func(ou string) bool { return active && p.parent == ou }
	pull := action == "ecr:BatchGetImage"
	switch {
	case strings.HasPrefix(repo, "shared/"):
		ptc := active && (!s.ptcByOU || p.parent == s.ouA || p.parent == s.ouB)
		return (pull && inOrg) || (action == "ecr:BatchImportUpstreamImage" && ptc)
	case strings.HasPrefix(repo, "apps/"):
		return pull && (in(s.ouA) || (repo == "apps/tagged" && tagged && in(s.ouB)))
	case strings.HasPrefix(repo, "tools/"):
		return pull && in(s.ouB)
	case strings.HasPrefix(repo, "ci/"):
		return (pull || action == "ecr:PutImage") && in(s.ouB)
	}
	return false
}

// path is an account's aws:PrincipalOrgPaths value at parent.
func (s *sequence) path(parent string) string {
	if parent == s.rootID {
		return s.orgID + "/" + s.rootID + "/"
	}
	return s.ouPath(parent)
}

type seqRow struct {
	snap    int
	account string
	repo    string
	action  string
	want    bool
}

// evaluate asks the simulator, for every snapshot, every account ever
// created, every hub repository and action, whether the hub's documents
// allow it, and compares with the model over the organization of that
// moment: an allow the model refuses is an over-grant (a failure at every
// moment); a refusal the model allows is a failure only once settled.
func (s *sequence) evaluate(sim *iamsim.Simulator) {
	s.t.Helper()
	var cases []iamsim.Case
	var rows []seqRow
	for i, sn := range s.snaps {
		repos := []seqRepo{{"shared/x", ""}, {"apps/x", ""}, {"tools/x", ""}}
		for _, name := range s.hubRepos {
			if _, ok := sn.repos[name]; ok {
				repos = append(repos, seqRepo{name, name})
			}
		}
		for _, rp := range repos {
			doc := s.resourcePolicy(sn.registry, sn.repos[rp.policyOf])
			for _, a := range s.accounts {
				p, ok := sn.places[a]
				if !ok {
					continue // not created yet
				}
				for _, action := range seqActions {
					// The import is the member's PTC role's (the upstream
					// grant admits only it); the rest a workload's role.
					principal := "arn:aws:iam::" + a + ":role/app"
					if action == "ecr:BatchImportUpstreamImage" {
						principal = "arn:aws:iam::" + a + ":role/" + ptcRoleName
					}
					ctx := map[string]any{"aws:PrincipalAccount": a, "aws:PrincipalArn": principal}
					if rp.name == "apps/tagged" && sn.tagged {
						ctx["aws:ResourceTag/share"] = "tooling"
						ctx["ecr:ResourceTag/share"] = "tooling"
					}
					if p.parent != "" {
						ctx["aws:PrincipalOrgID"] = s.orgID
						ctx["aws:PrincipalOrgPaths"] = []string{s.path(p.parent)}
					}
					cases = append(cases, iamsim.Case{Principal: principal, Action: action,
						Resource: policy.RepositoryARN("aws", region, hubAccount, rp.name), ResourceAccount: hubAccount,
						Context: ctx, ResourcePolicy: doc, IdentityPolicy: adminIdentity})
					rows = append(rows, seqRow{snap: i, account: a, repo: rp.name, action: action, want: s.admits(p, rp.name, sn.tagged, action)})
				}
			}
		}
	}
	// Each active member's registry policy, for peer/x: every other
	// account's pull (the member's own callers are let in by their identity
	// policy).
	for i, sn := range s.snaps {
		for m, text := range sn.members {
			doc := s.resourcePolicy(text)
			for _, a := range s.accounts {
				p, ok := sn.places[a]
				if !ok || a == m {
					continue
				}
				principal := "arn:aws:iam::" + a + ":role/app"
				ctx := map[string]any{"aws:PrincipalAccount": a, "aws:PrincipalArn": principal}
				if p.parent != "" {
					ctx["aws:PrincipalOrgID"] = s.orgID
					ctx["aws:PrincipalOrgPaths"] = []string{s.path(p.parent)}
				}
				cases = append(cases, iamsim.Case{Principal: principal, Action: "ecr:BatchGetImage",
					Resource: policy.RepositoryARN("aws", region, m, "peer/x"), ResourceAccount: m,
					Context: ctx, ResourcePolicy: doc, IdentityPolicy: adminIdentity})
				rows = append(rows, seqRow{snap: i, account: a, repo: m + ":peer/x", action: "ecr:BatchGetImage", want: p.parent == s.ouA && !p.closed})
			}
		}
	}
	res, err := sim.Simulate(s.ctx, cases)
	if err != nil {
		s.t.Fatal(err)
	}
	over, under, allows := 0, 0, 0
	type key struct{ account, repo, action string }
	before := map[key]bool{} // allowed at the previous snapshot
	last := -1
	now := map[key]bool{}
	for i, r := range res {
		row := rows[i]
		sn := s.snaps[row.snap]
		if row.snap != last {
			before, now, last = now, map[key]bool{}, row.snap
		}
		k := key{row.account, row.repo, row.action}
		now[k] = r.Allowed()
		// Until its event arrives, a change cannot be known: an account (or
		// the tagged repository) with an event pending may keep the grants
		// it had, but never gain one the declaration does not admit now.
		lagging := sn.pending[row.account] || sn.undrained || (row.repo == "apps/tagged" && sn.pending[row.repo])
		if r.Error != "" {
			s.t.Fatalf("the simulator refused case %d (%s): %s", i, sn.step, r.Error)
		}
		if r.Allowed() {
			allows++
		}
		switch {
		case r.Allowed() && !row.want && (!lagging || !before[k]):
			over++
			if over <= 5 {
				s.t.Errorf("after %s (pending %v, allowed before %v): the hub lets %s (%s) %s on %s, which the declaration does not admit there\nregistry policy: %s\nrepository policy: %s",
					sn.step, lagging, before[k], row.account, s.describe(sn.places[row.account]), row.action, row.repo, sn.registry, s.policyOf(sn, row.repo))
			}
		case !r.Allowed() && row.want && sn.settled:
			under++
			if under <= 5 {
				s.t.Errorf("after %s (nothing pending): the hub refuses %s (%s) %s on %s, which the declaration admits\nregistry policy: %s\nrepository policy: %s",
					sn.step, row.account, s.describe(sn.places[row.account]), row.action, row.repo, sn.registry, s.policyOf(sn, row.repo))
			}
		}
	}
	s.t.Logf("%d snapshots, %d simulated requests, %d allowed, %d over-grants, %d missing grants when settled", len(s.snaps), len(rows), allows, over, under)
}

// policyOf is the policy a row's repository is governed by besides the hub
// registry's: a hub repository's own, or a member's registry policy.
func (s *sequence) policyOf(sn snapshot, repo string) string {
	if m, _, ok := strings.Cut(repo, ":"); ok {
		return "member registry policy: " + sn.members[m]
	}
	return sn.repos[repo]
}

var adminIdentity = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}}

func (s *sequence) describe(p place) string {
	switch {
	case p.parent == "":
		return "left the organization"
	case p.closed:
		return "closed, in " + s.name(p.parent)
	}
	return "in " + s.name(p.parent)
}

// resourcePolicy is the hub registry policy's and a repository policy's
// statements as one resource policy (AWS evaluates both for the request).
func (s *sequence) resourcePolicy(texts ...string) any {
	var sts []any
	for _, text := range texts {
		if text == "" {
			continue
		}
		var doc struct {
			Statement json.RawMessage
		}
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			s.t.Fatalf("parsing %s: %v", text, err)
		}
		var list []map[string]any
		if err := json.Unmarshal(doc.Statement, &list); err != nil {
			var one map[string]any
			if err := json.Unmarshal(doc.Statement, &one); err != nil {
				s.t.Fatalf("parsing the statements of %s: %v", text, err)
			}
			list = []map[string]any{one}
		}
		for _, st := range list {
			st["Sid"] = fmt.Sprintf("S%d", len(sts))
			sts = append(sts, st)
		}
	}
	if len(sts) == 0 {
		return nil
	}
	return map[string]any{"Version": "2012-10-17", "Statement": sts}
}

// backfillPlansNothing runs the real backfill binary's dry run over every
// target: after the last event, the documents must be what the full walk
// writes, so it plans no change.
func (s *sequence) backfillPlansNothing() {
	s.t.Helper()
	env := s.env()
	env["AWS_MAX_ATTEMPTS"] = "2"
	bf, err := lambdalocal.Start(s.ctx, lambdalocal.Function{Name: "ecr-warden-backfill", Binary: lab.Binary("backfill"), Env: env, Timeout: 3 * time.Minute, AccountID: hubAccount})
	if err != nil {
		s.t.Fatal(err)
	}
	defer bf.Close()
	ctx, cancel := context.WithTimeout(s.ctx, 3*time.Minute)
	defer cancel()
	res, err := bf.Invoke(ctx, []byte(`{"action":"backfill","targets":{"all":true},"dryRun":true}`))
	if err != nil {
		s.t.Fatal(err)
	}
	if res.Err != nil {
		s.t.Fatalf("backfill dry run failed: %v\n%s", res.Err, strings.Join(res.Logs, "\n"))
	}
	var out struct {
		Error    string `json:"error"`
		Accounts int    `json:"accounts"`
		Plan     []struct {
			Target, Op, Diff string
		} `json:"plan"`
		Failures []struct{ Account, Region, Error string } `json:"failures"`
		Summary  *struct {
			Changed, Planned, Refused int
		} `json:"summary"`
	}
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		s.t.Fatalf("decoding the dry run's answer %s: %v", res.Payload, err)
	}
	if out.Error != "" || len(out.Failures) != 0 {
		s.t.Fatalf("dry run: error %q failures %v", out.Error, out.Failures)
	}
	for _, p := range out.Plan {
		s.t.Errorf("after the last event, the backfill still plans %s %s:\n%s", p.Op, p.Target, p.Diff)
	}
	s.t.Logf("backfill dry run over %d accounts: %d planned changes", out.Accounts, len(out.Plan))
}
