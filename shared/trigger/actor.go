package trigger

import "strings"

// Actor is who made the call, from CloudTrail's userIdentity. It is recorded
// in the audit trail ("who changed it") and used by drift handling to ignore
// ecr-warden's own writes.
type Actor struct {
	// Type is userIdentity.type: IAMUser, AssumedRole, Root, AWSService,
	// AWSAccount, FederatedUser, IdentityCenterUser; empty for service events
	// that omit it (Organizations, Control Tower).
	Type        string `json:"type,omitempty"`
	ARN         string `json:"arn,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	// InvokedBy is set when a service acted (e.g. ecr.amazonaws.com, "AWS Internal").
	InvokedBy string `json:"invokedBy,omitempty"`
	// UserName is the IAM user name, or the role name of the session issuer.
	UserName string `json:"userName,omitempty"`
	// SessionIssuerARN is the role behind an assumed-role session
	// (userIdentity.sessionContext.sessionIssuer.arn), with any role path.
	SessionIssuerARN string `json:"sessionIssuerArn,omitempty"`
}

// IsRole reports whether the actor is a session of one of the named roles.
// It matches the assumed-role ARN
// (arn:<partition>:sts::<account>:assumed-role/<name>/<session>) and the
// session issuer ARN (arn:<partition>:iam::<account>:role/<path/><name>).
// Drift handling passes ecr-warden's own role names so its writes never
// trigger another write.
func (a Actor) IsRole(roleNames ...string) bool {
	names := make([]string, 0, 2)
	if n := assumedRoleName(a.ARN); n != "" {
		names = append(names, n)
	}
	if n := issuerRoleName(a.SessionIssuerARN); n != "" {
		names = append(names, n)
	}
	for _, have := range names {
		for _, want := range roleNames {
			if want != "" && have == want {
				return true
			}
		}
	}
	return false
}

// String is a compact form for logs: the ARN, else the invoking service.
func (a Actor) String() string {
	switch {
	case a.ARN != "":
		return a.ARN
	case a.InvokedBy != "":
		return a.InvokedBy
	case a.AccountID != "":
		return a.Type + ":" + a.AccountID
	}
	return "unknown"
}

// assumedRoleName returns <name> from arn:<p>:sts::<acct>:assumed-role/<name>/<session>.
func assumedRoleName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" {
		return ""
	}
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// issuerRoleName returns <name> from arn:<p>:iam::<acct>:role/<path/><name>.
func issuerRoleName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return ""
	}
	rest, ok := strings.CutPrefix(parts[5], "role/")
	if !ok || rest == "" {
		return ""
	}
	return rest[strings.LastIndex(rest, "/")+1:]
}

// SessionPrefix starts the session name of every role session ecr-warden
// opens itself: awsapi.SessionName ("ecr-warden-<function>") builds the name
// from it.
const SessionPrefix = "ecr-warden-"

// SelfWriters identifies ecr-warden's own writes by full role ARN and
// account, not by role name alone: a member administrator can create a role
// named like a hub function, or an execution role under a path, and edits by
// such a role must be reverted, not ignored.
type SelfWriters struct {
	Partition  string
	HubAccount string
	// HubRoles are the hub functions' role names (no path); their sessions
	// are ecr-warden only in the hub account.
	HubRoles []string
	// MemberRole is the execution role name (no path); its sessions are
	// ecr-warden only in the account the event is about, and only when the
	// session name is one ecr-warden sets (SessionPrefix).
	MemberRole string
}

// Recognises reports whether actor is ecr-warden itself writing in account
// (the account the event is about). The actor must be an assumed-role
// session whose issuer ARN CloudTrail recorded, equal to the expected role
// ARN exactly (account and path included).
func (w SelfWriters) Recognises(a Actor, account string) bool {
	if a.SessionIssuerARN == "" || a.ARN == "" {
		return false
	}
	parts := strings.SplitN(a.ARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != w.Partition || parts[2] != "sts" {
		return false
	}
	acct := parts[4]
	rest, ok := strings.CutPrefix(parts[5], "assumed-role/")
	if !ok {
		return false
	}
	name, session, ok := strings.Cut(rest, "/")
	if !ok || acct != account {
		return false
	}
	roleARN := func(acct, name string) string { return "arn:" + w.Partition + ":iam::" + acct + ":role/" + name }
	if a.SessionIssuerARN != roleARN(acct, name) {
		return false // a role under a path, or an issuer in another account
	}
	if acct == w.HubAccount {
		for _, r := range w.HubRoles {
			if r != "" && r == name {
				return true
			}
		}
	}
	return w.MemberRole != "" && name == w.MemberRole && acct != w.HubAccount && strings.HasPrefix(session, SessionPrefix)
}
