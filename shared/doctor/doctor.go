// Package doctor checks, read-only, what ecr-warden depends on but does not
// create, and that the declaration's hub ids are the organization's: an
// organization CloudTrail trail that is logging, StackSets trusted
// access (and the delegated administrator when one deploys the StackSet),
// registry policy scope V2 in every hub region, the Control Tower home region
// the deploy forwards from (when Control Tower is in use), the roles the
// declaration names as principals and the PTC credential secrets in the
// accounts that need them, the member execution role being assumable, and
// no other installation's statements under an overlapping Sid prefix in the
// hub registry policy. Each check
// yields one line with what to do when it fails. It runs with the caller's
// own credentials (the management account's, read-only), against AWS or,
// with AWS_ENDPOINT_URL, the local AWS.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/controltower"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/install"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// StackSetsPrincipal is the service principal of CloudFormation StackSets'
// trusted access to Organizations.
const StackSetsPrincipal = "member.org.stacksets.cloudformation.amazonaws.com"

// ControlTowerPrincipal is Control Tower's trusted service: an organization
// that has it enabled uses Control Tower.
const ControlTowerPrincipal = "controltower.amazonaws.com"

// Names of the checks, one per prerequisite.
const (
	CheckTrail       = "cloudtrail"
	CheckStackSets   = "stacksets-trusted-access"
	CheckDelegated   = "stacksets-delegated-admin"
	CheckCTHome      = "control-tower-home-region"
	CheckScope       = "registry-scope"
	CheckRoles       = "declared-roles"
	CheckSecrets     = "ptc-secrets"
	CheckMemberRole  = "member-role"
	CheckSidPrefix   = "sid-prefix"
	CheckOrgReadable = "organization"
	CheckDeclaredIDs = "declared-ids"
)

// Result is one check's outcome.
type Result struct {
	Check  string
	OK     bool
	Detail string
	// Fix says what to do when the check fails.
	Fix string
}

func (r Result) String() string {
	if r.OK {
		return fmt.Sprintf("ok    %-26s %s", r.Check, r.Detail)
	}
	return fmt.Sprintf("FAIL  %-26s %s\n      fix: %s", r.Check, r.Detail, r.Fix)
}

// Options are what the checks run with.
type Options struct {
	Decl *config.Declaration
	// Management acts in the management account (Organizations, CloudTrail).
	Management aws.Config
	// Account acts in an account (the hub or a member) in a region: with the
	// caller's credentials in their own account, else by assuming a role.
	Account func(ctx context.Context, account, region string) (aws.Config, error)
	// DelegatedAdmin, when set, is the account that deploys the member
	// StackSet as delegated administrator (CallAs DELEGATED_ADMIN).
	DelegatedAdmin string
	// ControlTowerHomeRegion is the controlTowerHomeRegion context the deploy
	// is given (CT_REGION), "" when none; the declaration's
	// hub.controlTowerHomeRegion takes its place. Neither: the management
	// stack forwards Control Tower events from its own region only (the partition's
	// Organizations events region, us-east-1 in aws).
	ControlTowerHomeRegion string
}

// Run performs every check and returns one result per check, in a fixed order.
func Run(ctx context.Context, o Options) []Result {
	d := o.Decl
	var out []Result
	out = append(out, trail(ctx, o.Management))
	out = append(out, stackSets(ctx, o.Management))
	if o.DelegatedAdmin != "" {
		out = append(out, delegated(ctx, o.Management, o.DelegatedAdmin))
	}
	out = append(out, controlTowerHome(ctx, o))
	org := inventory.NewOrg(organizations.NewFromConfig(o.Management), inventory.OrgOptions{})
	walk, err := org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		return append(out, Result{Check: CheckOrgReadable, Detail: "cannot walk the organization: " + err.Error(),
			Fix: "run with the management account's credentials (organizations:ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent)"})
	}
	if r := declaredIDs(ctx, org, d); !r.OK {
		return append(out, r)
	}
	accounts := make([]desired.Account, 0, len(walk.Accounts))
	for _, a := range walk.Accounts {
		accounts = append(accounts, desired.Account{ID: a.ID, Name: a.Name, Status: a.Status, OUPath: a.OUPath})
	}
	state := desired.New(d, accounts)
	var members, ptc []string
	for _, a := range accounts {
		if a.ID == d.Hub.AccountID || !state.ManagedMember(a) || !state.Configures(a.ID) {
			continue
		}
		members = append(members, a.ID)
		if state.PTCMember(a.ID) {
			ptc = append(ptc, a.ID)
		}
	}
	out = append(out, memberRole(ctx, o, members))
	out = append(out, scope(ctx, o, d))
	out = append(out, roles(ctx, o, d, ptc))
	out = append(out, secrets(ctx, o, d, ptc))
	out = append(out, sidPrefix(ctx, o, state))
	return out
}

// declaredIDs compares the declaration's hub ids with the organization the
// credentials read (inventory.Mismatches): a mismatch stops the checks that
// read through these ids (a mistyped managementAccountId would list the real
// management account as a member without the execution role; a wrong
// hub.accountId fails every hub check with an AssumeRole refusal), and says
// which field to correct to what. All ids right, it is OK and prints nothing.
func declaredIDs(ctx context.Context, org *inventory.Org, d *config.Declaration) Result {
	r := Result{Check: CheckDeclaredIDs, OK: true}
	wrong, err := org.Mismatches(ctx, d.Hub.OrganizationID, d.Hub.ManagementAccountID, d.Hub.AccountID)
	if err != nil {
		r.OK = false
		r.Detail = "cannot compare the declaration's ids with the organization: " + err.Error()
		r.Fix = "run with the management account's credentials (organizations:DescribeOrganization, DescribeAccount)"
		return r
	}
	if len(wrong) == 0 {
		return r
	}
	var details, fixes []string
	for _, m := range wrong {
		details = append(details, m.String())
		if m.Actual != "" {
			fixes = append(fixes, m.Field+" to "+m.Actual)
		} else {
			fixes = append(fixes, m.Field+" to the hub registry's account")
		}
	}
	r.OK = false
	r.Detail = "the declaration does not match the organization these credentials read: " + strings.Join(details, "; ")
	r.Fix = "correct " + strings.Join(fixes, ", ") + " in the declaration (or run with the management account's credentials of organization " +
		d.Hub.OrganizationID + ", if that is the one meant)"
	return r
}

// needOrg are the checks Run makes only once it has walked the organization.
var needOrg = []string{CheckMemberRole, CheckScope, CheckRoles, CheckSecrets, CheckSidPrefix}

// Print writes one line per result, then one line that sums them up (which
// checks failed, and which could not run because the organization could not
// be read), and reports whether all passed.
func Print(w io.Writer, results []Result) bool {
	var failed []string
	orgUnread, idsWrong := false, false
	for _, r := range results {
		fmt.Fprintln(w, r)
		if !r.OK {
			failed = append(failed, r.Check)
			orgUnread = orgUnread || r.Check == CheckOrgReadable
			idsWrong = idsWrong || r.Check == CheckDeclaredIDs
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "all %d checks passed\n", len(results))
		return true
	}
	msg := fmt.Sprintf("%d of %d checks failed (%s)", len(failed), len(results), strings.Join(failed, ", "))
	if orgUnread {
		msg += fmt.Sprintf("; not run until the organization can be read: %s", strings.Join(needOrg, ", "))
	}
	if idsWrong {
		msg += fmt.Sprintf("; not run until the declaration's ids match the organization: %s", strings.Join(needOrg, ", "))
	}
	fmt.Fprintln(w, msg+": apply each fix above, then run make doctor again")
	return false
}

func trail(ctx context.Context, cfg aws.Config) Result {
	r := Result{Check: CheckTrail, Fix: "create an organization trail that logs management events in all regions (aws cloudtrail create-trail --is-organization-trail --is-multi-region-trail ...; start-logging); without it no \"AWS API Call via CloudTrail\" event reaches ecr-warden and only the sweep converges"}
	c := cloudtrail.NewFromConfig(cfg)
	out, err := c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		r.Detail = "cannot list trails: " + err.Error()
		return r
	}
	var found []string
	for _, t := range out.TrailList {
		if !aws.ToBool(t.IsOrganizationTrail) && !aws.ToBool(t.IsMultiRegionTrail) {
			continue
		}
		st, err := c.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: t.TrailARN})
		if err != nil || !aws.ToBool(st.IsLogging) {
			found = append(found, aws.ToString(t.Name)+" (not logging)")
			continue
		}
		r.OK, r.Detail = true, fmt.Sprintf("trail %s is logging (organization trail: %v)", aws.ToString(t.Name), aws.ToBool(t.IsOrganizationTrail))
		return r
	}
	r.Detail = "no organization or multi-region trail is logging"
	if len(found) > 0 {
		r.Detail += ": " + strings.Join(found, ", ")
	}
	return r
}

func stackSets(ctx context.Context, cfg aws.Config) Result {
	r := Result{Check: CheckStackSets, Fix: "aws cloudformation activate-organizations-access (or enable trusted access for StackSets in the Organizations console); without it the " + install.MembersStackID + " StackSet cannot be created and no member gets the execution role"}
	out, err := organizations.NewFromConfig(cfg).ListAWSServiceAccessForOrganization(ctx, &organizations.ListAWSServiceAccessForOrganizationInput{})
	if err != nil {
		r.Detail = "cannot list trusted services: " + err.Error()
		return r
	}
	for _, p := range out.EnabledServicePrincipals {
		if aws.ToString(p.ServicePrincipal) == StackSetsPrincipal {
			r.OK, r.Detail = true, "trusted access for CloudFormation StackSets is enabled"
			return r
		}
	}
	r.Detail = StackSetsPrincipal + " is not among the organization's trusted services"
	return r
}

func delegated(ctx context.Context, cfg aws.Config, account string) Result {
	r := Result{Check: CheckDelegated, Fix: fmt.Sprintf("aws organizations register-delegated-administrator --account-id %s --service-principal %s (from the management account)", account, StackSetsPrincipal)}
	out, err := organizations.NewFromConfig(cfg).ListDelegatedAdministrators(ctx, &organizations.ListDelegatedAdministratorsInput{ServicePrincipal: aws.String(StackSetsPrincipal)})
	if err != nil {
		r.Detail = "cannot list delegated administrators: " + err.Error()
		return r
	}
	for _, a := range out.DelegatedAdministrators {
		if aws.ToString(a.Id) == account {
			r.OK, r.Detail = true, "account "+account+" is a delegated administrator for StackSets"
			return r
		}
	}
	r.Detail = "account " + account + " is not a registered delegated administrator for StackSets (needed with CallAs DELEGATED_ADMIN)"
	return r
}

// controlTowerHome checks that the deploy forwards Control Tower's lifecycle
// events from the landing zone's home region, the only region that emits
// them. Control Tower is in use when it has trusted access to the
// organization; its home region is the region of the landing zone's ARN
// (controltower:ListLandingZones), asked in the region the deploy is given
// (the declaration's hub.controlTowerHomeRegion, else CT_REGION) first, then
// in the management stack's region (us-east-1 in aws) and the hub regions. Without Control Tower the check passes
// and says so.
func controlTowerHome(ctx context.Context, o Options) Result {
	r := Result{Check: CheckCTHome}
	given := o.Decl.Hub.ControlTowerHomeRegion
	if given == "" {
		given = o.ControlTowerHomeRegion
	}
	if d := o.Decl.Hub.ControlTowerHomeRegion; d != "" && o.ControlTowerHomeRegion != "" && d != o.ControlTowerHomeRegion {
		r.Detail = fmt.Sprintf("the declaration's hub.controlTowerHomeRegion is %s, but %s is given too (CT_REGION / -control-tower-home-region); the deploy refuses the contradiction", d, o.ControlTowerHomeRegion)
		r.Fix = "give the Control Tower home region once, as hub.controlTowerHomeRegion in the declaration"
		return r
	}
	forwards := given
	if forwards == "" {
		forwards = policy.OrganizationsEventsRegion(o.Decl.Hub.Partition) // the management stack there forwards Control Tower events too
	}
	out, err := organizations.NewFromConfig(o.Management).ListAWSServiceAccessForOrganization(ctx, &organizations.ListAWSServiceAccessForOrganizationInput{})
	if err != nil {
		r.Detail = "cannot list trusted services: " + err.Error()
		r.Fix = "run with the management account's credentials (organizations:ListAWSServiceAccessForOrganization)"
		return r
	}
	inUse := slices.ContainsFunc(out.EnabledServicePrincipals, func(p orgtypes.EnabledServicePrincipal) bool {
		return aws.ToString(p.ServicePrincipal) == ControlTowerPrincipal
	})
	if !inUse {
		r.OK, r.Detail = true, "Control Tower is not in use ("+ControlTowerPrincipal+" has no trusted access): no Control Tower events to forward"
		if given != "" {
			r.Detail += "; the forwarding stack for " + given + " will see none"
		}
		return r
	}
	var regions []string
	for _, region := range append([]string{given, policy.OrganizationsEventsRegion(o.Decl.Hub.Partition)}, o.Decl.Hub.Regions...) {
		if region != "" && !slices.Contains(regions, region) {
			regions = append(regions, region)
		}
	}
	home, asked := "", []string{}
	for _, region := range regions {
		if home != "" {
			break
		}
		cfg := o.Management.Copy()
		cfg.Region = region
		lz, err := controltower.NewFromConfig(cfg).ListLandingZones(ctx, &controltower.ListLandingZonesInput{})
		if err != nil {
			asked = append(asked, region+" ("+err.Error()+")")
			continue
		}
		asked = append(asked, region)
		for _, z := range lz.LandingZones {
			if a, err := arn.Parse(aws.ToString(z.Arn)); err == nil && a.Region != "" {
				home = a.Region
				break
			}
		}
	}
	switch {
	case home == "":
		r.Detail = "Control Tower is in use (trusted access), but no landing zone was found asking " + strings.Join(asked, ", ")
		r.Fix = "find the landing zone's home region (aws controltower list-landing-zones there, or the Control Tower console) and set hub.controlTowerHomeRegion to it in the declaration (or deploy with CT_REGION=<home region>)"
	case home != forwards:
		r.Detail = fmt.Sprintf("Control Tower's home region is %s, but the deploy forwards Control Tower events from %s: its lifecycle events (CreateManagedAccount, UpdateManagedAccount) are emitted only in %s, so vended accounts wait for their Organizations events or the sweep", home, forwards, home)
		r.Fix = fmt.Sprintf("set hub.controlTowerHomeRegion to %s in the declaration (or deploy with CT_REGION=%s) and deploy again", home, home)
	default:
		r.OK, r.Detail = true, "Control Tower's home region is "+home+", and the deploy forwards its events from there"
	}
	return r
}

// memberRole checks that the execution role exists in every configured
// member (the StackSet deployed it). It reads the role through Account,
// since only the hub's function roles may assume it.
func memberRole(ctx context.Context, o Options, members []string) Result {
	name := o.Decl.MemberRoleName
	r := Result{Check: CheckMemberRole, Fix: fmt.Sprintf("deploy %s (the StackSet creates role %s in every selected OU) and check its stack instances for failures", install.MembersStackID, name)}
	var bad []string
	for _, m := range members {
		cfg, err := o.Account(ctx, m, o.Decl.Hub.Regions[0])
		if err == nil {
			_, err = iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		}
		if err != nil {
			bad = append(bad, m)
		}
	}
	if len(bad) > 0 {
		r.Detail = fmt.Sprintf("execution role %s missing or unreadable in %s", name, strings.Join(bad, ", "))
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("execution role %s exists in all %d configured members", name, len(members))
	return r
}

func scope(ctx context.Context, o Options, d *config.Declaration) Result {
	r := Result{Check: CheckScope, Fix: "aws ecr put-account-setting --name REGISTRY_POLICY_SCOPE --value V2 in the hub in each region listed (or set registryPolicyScope.allowSwitchToV2)"}
	var v1 []string
	for _, region := range d.Hub.Regions {
		cfg, err := o.Account(ctx, d.Hub.AccountID, region)
		if err != nil {
			v1 = append(v1, region+" (cannot act in the hub: "+err.Error()+")")
			continue
		}
		out, err := ecr.NewFromConfig(cfg).GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String(inventory.RegistryPolicyScopeSetting)})
		switch {
		case err != nil:
			v1 = append(v1, region+" ("+err.Error()+")")
		case aws.ToString(out.Value) != "V2":
			v1 = append(v1, region+" ("+aws.ToString(out.Value)+")")
		}
	}
	if len(v1) > 0 {
		r.Detail = "hub registry policy scope is not V2 in " + strings.Join(v1, ", ")
		return r
	}
	r.OK, r.Detail = true, "hub registry policy scope is V2 in "+strings.Join(d.Hub.Regions, ", ")
	return r
}

func roles(ctx context.Context, o Options, d *config.Declaration, ptc []string) Result {
	r := Result{Check: CheckRoles}
	var missing, fixes []string
	n := 0
	for _, role := range d.DeclaredRoles() {
		accounts := []string{role.Account}
		if role.Account == "" {
			accounts = ptc
		}
		for _, a := range accounts {
			n++
			cfg, err := o.Account(ctx, a, d.Hub.Regions[0])
			var out *iam.GetRoleOutput
			if err == nil {
				out, err = iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(lastSegment(role.PathName))})
			}
			var nse *iamtypes.NoSuchEntityException
			switch {
			case errors.As(err, &nse):
				missing = append(missing, fmt.Sprintf("%s in %s (%s)", role.PathName, a, role.Where))
				fixes = append(fixes, fmt.Sprintf("create role %s in %s", role.PathName, a))
			case err != nil:
				missing = append(missing, fmt.Sprintf("%s in %s (cannot read: %v)", role.PathName, a, err))
			case out.Role != nil && aws.ToString(out.Role.Path)+lastSegment(role.PathName) != "/"+role.PathName:
				// GetRole finds a role by name whatever its path, but a policy names it by ARN: the
				// role at the declared path does not exist, and AWS would refuse the document.
				held := strings.TrimPrefix(aws.ToString(out.Role.Path), "/") + lastSegment(role.PathName)
				missing = append(missing, fmt.Sprintf("%s in %s (%s; the role of that name there is %s, under another path)", role.PathName, a, role.Where, held))
				fixes = append(fixes, fmt.Sprintf("declare role %s in %s as it is (role/%s), or move it", role.PathName, a, held))
			}
		}
	}
	if len(missing) > 0 {
		r.Detail = "declared roles missing: " + strings.Join(missing, "; ")
		r.Fix = strings.Join(slices.Compact(fixes), "; ") + " (or remove them from the declaration); until then ecr-warden leaves them out of the documents that name them"
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("all %d declared role principals exist", n)
	return r
}

func secrets(ctx context.Context, o Options, d *config.Declaration, ptc []string) Result {
	r := Result{Check: CheckSecrets}
	var missing []string
	n := 0
	for _, name := range d.CredentialSecrets() {
		for _, a := range ptc {
			for _, region := range d.Hub.Regions {
				n++
				cfg, err := o.Account(ctx, a, region)
				if err == nil {
					_, err = secretsmanager.NewFromConfig(cfg).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
				}
				var nf *smtypes.ResourceNotFoundException
				switch {
				case errors.As(err, &nf):
					missing = append(missing, fmt.Sprintf("%s in %s/%s", name, a, region))
				case err != nil:
					missing = append(missing, fmt.Sprintf("%s in %s/%s (cannot read: %v)", name, a, region, err))
				}
			}
		}
	}
	if len(missing) > 0 {
		r.Detail = "PTC credential secrets missing: " + strings.Join(missing, "; ")
		r.Fix = "create each (aws secretsmanager create-secret --name <name> --secret-string '{\"username\":...,\"accessToken\":...}') in that account and region; until then that rule is refused there"
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("all %d PTC credential secrets exist", n)
	return r
}

func lastSegment(pathName string) string {
	if i := strings.LastIndex(pathName, "/"); i >= 0 {
		return pathName[i+1:]
	}
	return pathName
}

// sidPrefix looks for another installation whose sidPrefix overlaps this
// one's (one starts the other, or both are equal): ownership is "the Sid
// starts with the prefix", so each would treat the other's statements as its
// own and remove what it does not declare. Validation cannot see another
// installation's declaration, but the hub registry policy shows what the
// installations wrote there: it is read once per hub region (the only calls
// this check makes) and judged by overlaps. Member registries and repository
// policies are not read (a call per document); the statements a deploy
// would remove there are in make plan as "-" lines.
func sidPrefix(ctx context.Context, o Options, state *desired.State) Result {
	d := o.Decl
	r := Result{Check: CheckSidPrefix}
	var found, unread []string
	var known, unknown bool
	for _, region := range d.Hub.Regions {
		where := fmt.Sprintf("hub registry policy in %s", region)
		cfg, err := o.Account(ctx, d.Hub.AccountID, region)
		var text string
		if err == nil {
			text, _, err = inventory.NewRegistry(ecr.NewFromConfig(cfg), d.Hub.AccountID, region, inventory.RegistryOptions{}).RegistryPolicy(ctx)
		}
		var doc *policy.Document
		if err == nil && strings.TrimSpace(text) != "" {
			doc, err = policy.Parse(text)
		}
		if err != nil {
			unread = append(unread, where+" ("+err.Error()+")")
			continue
		}
		var declared []string
		for _, st := range state.RegistryStatements(d.Hub.AccountID, region) {
			declared = append(declared, st.Sid)
		}
		for _, ov := range overlaps(d.SidPrefix, declared, doc) {
			found = append(found, where+": "+ov.String())
			unknown = unknown || ov.Other == ""
			known = known || ov.Other != ""
		}
	}
	if len(found) == 0 && len(unread) == 0 {
		r.OK, r.Detail = true, fmt.Sprintf("no statement in the hub registry policy (%s) carries another installation's Sid prefix overlapping %q", strings.Join(d.Hub.Regions, ", "), d.SidPrefix)
		return r
	}
	rename := "give every installation a sidPrefix in its declaration that neither starts another's nor is started by it (README, \"A second installation\": EcrWardenProd and EcrWardenStage, never EcrWarden and EcrWardenStaging), and deploy; until then each removes statements of the other. The statements under a renamed installation's old prefix become foreign to it: delete them by hand once it has written its own"
	var fixes []string
	if known {
		fixes = append(fixes, rename)
	}
	if unknown {
		fixes = append(fixes, fmt.Sprintf("for the statements marked \"whose?\": if they are this installation's own, left by an earlier declaration (a grant removed or renamed), nothing is wrong: the deploy's backfill removes them (make plan lists them as removals) and this check passes; if someone wrote one by hand with a Sid that happens to start with %q, the backfill removes it too: to keep it, give it a Sid that does not start with %q before the deploy; if another installation wrote them (its sidPrefix starts with %q), %s", d.SidPrefix, d.SidPrefix, d.SidPrefix, rename))
	}
	if len(unread) > 0 {
		fixes = append(fixes, "let these credentials read the hub's registry policy (ecr:GetRegistryPolicy through the reader role) and run again")
	}
	var parts []string
	if len(found) > 0 {
		parts = append(parts, fmt.Sprintf("statements another installation may own under a Sid prefix overlapping %q: %s", d.SidPrefix, strings.Join(found, "; ")))
	}
	if len(unread) > 0 {
		parts = append(parts, "cannot read "+strings.Join(unread, "; "))
	}
	r.Detail, r.Fix = strings.Join(parts, "; "), strings.Join(fixes, "; ")
	return r
}

// overlap is one statement in a document that shows another installation
// with an overlapping Sid prefix.
type overlap struct {
	Sid string
	// Other is the other installation's prefix as far as the Sid shows it:
	// longer than this one's (it starts with it: this installation owns
	// that installation's statements), shorter (it starts this one's: that
	// installation owns this one's), or "" when the Sid carries this
	// installation's prefix but nothing says whose it is.
	Other string
	// Twin is this installation's declared Sid that Sid mirrors.
	Twin string
	// Longer says Other is longer than this installation's prefix.
	Longer bool
}

func (o overlap) String() string {
	switch {
	case o.Other == "":
		return fmt.Sprintf("%s (whose? it carries this installation's prefix and this declaration does not render it: this installation removes it at its next convergence)", o.Sid)
	case o.Longer:
		return fmt.Sprintf("%s (rendered like %s by an installation with sidPrefix %q, which this one's prefix starts: this installation owns it and removes it)", o.Sid, o.Twin, o.Other)
	}
	return fmt.Sprintf("%s (rendered like %s by an installation with sidPrefix %q, which starts this one's prefix: that installation owns every statement of this one and removes them)", o.Sid, o.Twin, o.Other)
}

// overlaps finds the statements of doc that show another installation whose
// Sid prefix overlaps prefix, given the Sids this installation declares in
// doc (declared). IAM Sids have no delimiter, so where a prefix ends is
// read from the Sid's body: every Sid ecr-warden renders is its prefix and
// a body the declaration decides (the grant's name and the principal kind,
// "Ptc" and the rule's prefix), and a second installation beside the first
// mostly declares the same grants. So a statement whose Sid is another
// prefix of valid shape followed by a body this installation declares
// (Sid = Q + body, prefix + body declared) names that installation's prefix
// Q: longer than prefix and started by it, or shorter and starting it. A
// Sid that carries prefix but is neither declared nor of that form is
// reported without a prefix: another installation's (with other grants) or
// this one's, left by an earlier declaration; the document cannot say
// which. Deny statements are left out: ecr-warden renders none (and keeps a
// Deny carrying its prefix as written, reporting it).
func overlaps(prefix string, declared []string, doc *policy.Document) []overlap {
	if doc == nil {
		return nil
	}
	own := map[string]bool{}
	var bodies []string
	for _, sid := range declared {
		own[sid] = true
		if b, ok := strings.CutPrefix(sid, prefix); ok && b != "" {
			bodies = append(bodies, b)
		}
	}
	var out []overlap
	for _, st := range doc.Statements {
		if st.Effect != "Allow" || st.Sid == "" || own[st.Sid] {
			continue
		}
		var ov *overlap
		for _, b := range bodies {
			q, ok := strings.CutSuffix(st.Sid, b)
			if !ok || q == prefix || !config.IsSidPrefix(q) || !strings.HasPrefix(q, prefix) && !strings.HasPrefix(prefix, q) {
				continue
			}
			if ov == nil || len(q) < len(ov.Other) {
				// The longest body: the other prefix as short as the Sid allows.
				ov = &overlap{Sid: st.Sid, Other: q, Twin: prefix + b, Longer: len(q) > len(prefix)}
			}
		}
		switch {
		case ov != nil:
			out = append(out, *ov)
		case policy.Owned(st.Sid, prefix):
			out = append(out, overlap{Sid: st.Sid})
		}
	}
	return out
}
