package app

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/install"
)

// Stack ids. Deploy order: Management stack(s), then the Hub stacks (the hub's deploy-time backfill
// reads the organization through the reader role), then Members after the primary Hub stack: the
// StackSet update removes the execution role from members the declaration no longer configures,
// and the primary hub's deploy-time backfill must have queued their retire units first (see Build).
const (
	ManagementStackID = install.ManagementStackID
	MembersStackID    = install.MembersStackID
	HubStackIDPrefix  = install.HubStackIDPrefix
)

// Result is what Build created, for tests and for main.
type Result struct {
	Decl       *Declaration
	Hubs       map[string]*Hub
	Management []*Management
	Members    *Members // nil when the declaration needs nothing in members
}

// Build validates the declaration and the function assets, then composes every stack into app
// with cdk-nag checks applied. Any problem is returned before a single construct exists.
func Build(app awscdk.App, o Options) (*Result, error) {
	d, err := LoadDeclaration(o.DeclarationPath)
	if err != nil {
		return nil, err
	}
	if err := o.Names.Validate(); err != nil {
		return nil, err
	}
	d.Names = o.Names
	if err := d.CheckAssets(AssetCheck{Root: o.AssetRoot, Machine: o.machine(), SourceRoot: o.SourceRoot}); err != nil {
		return nil, err
	}
	rootID := o.OrganizationRootID
	if rootID == "" {
		rootID = d.rootFromPaths()
	}
	targets, err := d.MemberTargets(rootID)
	if err != nil {
		return nil, err
	}
	ApplyChecks(app)
	res := &Result{Decl: d, Hubs: map[string]*Hub{}}

	// The Control Tower home region is declared (hub.controlTowerHomeRegion); the older context key
	// still works when the declaration names none, and may not contradict it.
	ct := d.Hub.ControlTowerHomeRegion
	switch {
	case ct == "":
		ct = o.ControlTowerHomeRegion
		d.Hub.ControlTowerHomeRegion = ct
	case o.ControlTowerHomeRegion != "" && o.ControlTowerHomeRegion != ct:
		return nil, fmt.Errorf("context %s=%s contradicts the declaration's hub.controlTowerHomeRegion %s: drop the context key",
			CtxControlTowerHome, o.ControlTowerHomeRegion, ct)
	}
	// The management stack lives where the partition's Organizations events are delivered
	// (us-east-1 in aws); a Control Tower home region elsewhere gets a stack of its own.
	mgmtRegion := d.ManagementRegion()
	mgmt := NewManagement(app, o.Names.StackID(ManagementStackID), d, mgmtRegion, true, ct == "" || ct == mgmtRegion)
	res.Management = append(res.Management, mgmt)
	if ct != "" && ct != mgmtRegion {
		res.Management = append(res.Management, NewManagement(app, o.Names.StackID(ManagementStackID+"-"+ct), d, ct, false, true))
	}
	var members *Members
	if !targets.IsEmpty() {
		members, err = NewMembers(app, o.Names.StackID(MembersStackID), d, o, targets, rootID)
		if err != nil {
			return nil, err
		}
		res.Members = members
	}
	for _, region := range d.Hub.Regions {
		hub := NewHub(app, o.Names.StackID(HubStackIDPrefix+region), d, o, region)
		for _, m := range res.Management {
			hub.AddStackDependency(m.Stack, jsii.String("the organization reader and the forwarding rules exist before the first backfill"))
		}
		res.Hubs[region] = hub
	}
	if members != nil {
		// The deploy-time backfill (primary hub) retires the members the declaration no longer
		// configures through their execution roles, which the StackSet update removes from accounts
		// it no longer targets: the backfill is invoked first. (Its custom resource invokes it
		// asynchronously, so the StackSet update may still overtake a unit: that unit records its
		// statements as left in place.) The price: members the declaration newly configures get
		// their role after the backfill's units for them ran; those units fail and the work queue
		// retries them after its visibility timeout (WorkVisibilitySeconds).
		members.AddStackDependency(res.Hubs[d.PrimaryRegion()].Stack,
			jsii.String("the deploy-time backfill queues the retirements of members no longer configured before the StackSet removes their execution role"))
	}
	suppressReviewed(res)
	return res, nil
}
