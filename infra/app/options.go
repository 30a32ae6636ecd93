package app

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// Context keys the app reads (cdk.json sets the defaults; `-c key=value` overrides).
const (
	CtxDeclaration       = "declaration"
	CtxAssetRoot         = "assetRoot"
	CtxControlTowerHome  = "controlTowerHomeRegion"
	CtxOrganizationRoot  = "organizationRootId"
	CtxAlarmTopicARN     = "alarmTopicArn"
	CtxStackSetCallAs    = "stackSetCallAs"
	CtxStackSetAccountID = "stackSetAccountId"
	CtxNamePrefix        = "namePrefix"
	CtxAllowRefusals     = "allowRefusals"
	CtxLocal             = "local"
)

// Options are the app's inputs besides the declaration itself.
type Options struct {
	// DeclarationPath is the declaration file [infra/declaration.json].
	DeclarationPath string
	// AssetRoot holds <fn>/bootstrap and <fn>/declaration.json, built by `make build` [build/lambda].
	AssetRoot string
	// SourceRoot is the module root whose Go sources the bootstraps must not be older than; the
	// CLI runs the app there (cdk.json), so OptionsFromContext sets "."; empty skips the check.
	SourceRoot string
	// ControlTowerHomeRegion, when set and not the management stack's region
	// (Declaration.ManagementRegion: us-east-1 in aws), adds a Management stack there that forwards
	// Control Tower events (they are emitted only in the home region).
	ControlTowerHomeRegion string
	// OrganizationRootID (r-...) is the StackSet target when the declaration selects all members and
	// no OU path in it names the root.
	OrganizationRootID string
	// AlarmTopicARN, when set, receives every alarm (an existing SNS topic in each hub region;
	// ${region} in it is replaced by the hub region).
	AlarmTopicARN string
	// StackSetCallAs is SELF (the StackSet lives in the management account) or DELEGATED_ADMIN.
	StackSetCallAs string
	// StackSetAccountID is where the Members stack is deployed: the management account [default] or
	// a delegated StackSets administrator (then StackSetCallAs must be DELEGATED_ADMIN).
	StackSetAccountID string
	// Names carries the optional name prefix (context namePrefix) of this installation.
	Names Names
	// AllowRefusals lets the deploy-time backfill apply a declaration whose plan refuses some
	// documents (it applies the rest); by default such a deploy applies nothing.
	AllowRefusals bool
	// Local synthesizes for the deploy rehearsal on the local AWS (see local.go): host-architecture
	// functions, no deploy-time custom resource, the bus named instead of referenced.
	Local bool
}

// OptionsFromContext reads Options from the CDK context with the documented defaults.
func OptionsFromContext(app awscdk.App) (Options, error) {
	get := func(k, def string) string {
		v := app.Node().TryGetContext(&k)
		if v == nil {
			return def
		}
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
	o := Options{
		DeclarationPath:        get(CtxDeclaration, "infra/declaration.json"),
		AssetRoot:              get(CtxAssetRoot, "build/lambda"),
		SourceRoot:             ".",
		ControlTowerHomeRegion: get(CtxControlTowerHome, ""),
		OrganizationRootID:     get(CtxOrganizationRoot, ""),
		AlarmTopicARN:          get(CtxAlarmTopicARN, ""),
		StackSetCallAs:         get(CtxStackSetCallAs, "SELF"),
		StackSetAccountID:      get(CtxStackSetAccountID, ""),
		Names:                  Names{Prefix: get(CtxNamePrefix, "")},
		AllowRefusals:          get(CtxAllowRefusals, "false") == "true",
		Local:                  get(CtxLocal, "false") == "true",
	}
	if o.StackSetCallAs != "SELF" && o.StackSetCallAs != "DELEGATED_ADMIN" {
		return o, fmt.Errorf("context %s: %q is not SELF or DELEGATED_ADMIN", CtxStackSetCallAs, o.StackSetCallAs)
	}
	if err := o.Names.Validate(); err != nil {
		return o, err
	}
	return o, nil
}
