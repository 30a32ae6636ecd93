package reconcile

import (
	"fmt"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
)

// regionNotEnabled says why a member's unit is left out when AWS refused
// its first reads because the account has not enabled the region (an
// opt-in region among hub.regions that some members never turned on):
// nothing of that registry can be read or written until the account enables
// it, so retrying the unit into the dead-letter queue at every sweep would
// only raise the alarm again. The unit ends with a summary that names the
// region, the account and AWS's answer; the account's other regions, and
// every other unit, converge as usual, and the first sweep after the region
// is enabled converges this one. Only a registry that read nothing counts
// (rep is the registry's own report, not the PTC role's before it): a
// refusal after some documents were read is the token's, not the region's,
// and so is one in a region every account has enabled
// (awsapi.EnabledByDefault): that unit fails and is retried as any other.
func (e *Engine) regionNotEnabled(w Work, rep Report, err error) (string, bool) {
	if w.Account == e.Decl.Hub.AccountID || rep.Examined > 0 || awsapi.EnabledByDefault(w.Region) || !awsapi.RegionNotEnabled(err) {
		return "", false
	}
	return fmt.Sprintf("left out: region %s is not enabled in account %s (AWS refuses the execution role's credentials there, which it answers for an opt-in region the account has not enabled), so nothing of its registry was read or written; enable the region in the account (aws account enable-region --account-id %s --region-name %s) and the next sweep converges it: %v",
		w.Region, w.Account, w.Account, w.Region, err), true
}
