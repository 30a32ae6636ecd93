package trigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// BackfillRequest is the manual-invoke payload, e.g.
//
//	{"action":"backfill","targets":{"all":true},"dryRun":true}
//	{"action":"backfill","targets":{"accounts":["222222222222"],"ous":["ou-ab12-11111111"],
//	  "repositories":["shared/*"],"regions":["us-east-1"]}}
//
// The scheduled sweep is the same request with all targets and Sweep set.
type BackfillRequest struct {
	Action  string          `json:"action"`
	Targets BackfillTargets `json:"targets"`
	// DryRun computes and records the plan but writes nothing to AWS.
	DryRun bool `json:"dryRun,omitempty"`
	// Sweep marks the scheduled run, so its report can speak of repaired drift.
	Sweep bool `json:"sweep,omitempty"`
}

// BackfillTargets selects what to converge. All excludes the lists; otherwise
// the lists intersect: accounts and OUs pick accounts (union of both), regions
// pick declared regions, repositories pick repository names or glob patterns.
type BackfillTargets struct {
	All          bool     `json:"all,omitempty"`
	Accounts     []string `json:"accounts,omitempty"`
	OUs          []string `json:"ous,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	Regions      []string `json:"regions,omitempty"`
}

// repositoryGlob allows the declaration's glob syntax (shared/*) in backfill targets.
var repositoryGlob = regexp.MustCompile(`^[a-z0-9._/*?-]{1,256}$`)

// ParseBackfill decodes and validates a backfill payload. Unknown fields are
// errors (a typo such as "dryrun" must not silently run for real); every
// error is a *Rejection with ReasonInvalidPayload whose Detail names the field.
func ParseBackfill(raw []byte) (BackfillRequest, error) {
	var req BackfillRequest
	if len(raw) > maxInput {
		return req, &Rejection{Reason: ReasonTooLarge, Detail: fmt.Sprintf("backfill payload is %d bytes", len(raw))}
	}
	if err := exactKeys(raw); err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return BackfillRequest{}, bad(decodeMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BackfillRequest{}, bad("unexpected data after the payload object")
	}
	if err := req.Validate(); err != nil {
		return BackfillRequest{}, err
	}
	return req, nil
}

// Validate checks a request built in code (the sweep) or decoded from JSON.
func (r BackfillRequest) Validate() error {
	if r.Action != "backfill" {
		return bad(fmt.Sprintf("action: %s, want \"backfill\"", quote(r.Action)))
	}
	tg := r.Targets
	lists := len(tg.Accounts) + len(tg.OUs) + len(tg.Repositories) + len(tg.Regions)
	switch {
	case tg.All && lists > 0:
		return bad("targets: \"all\": true cannot be combined with accounts, ous, repositories or regions")
	case !tg.All && lists == 0:
		return bad("targets: missing; give {\"all\": true} or at least one of accounts, ous, repositories, regions")
	}
	for i, a := range tg.Accounts {
		if err := checkAccountID(fmt.Sprintf("targets.accounts[%d]", i), a); err != nil {
			return bad(err.Error())
		}
	}
	for i, o := range tg.OUs {
		if err := checkParent(fmt.Sprintf("targets.ous[%d]", i), o); err != nil {
			return bad(err.Error())
		}
	}
	for i, p := range tg.Repositories {
		if !repositoryGlob.MatchString(p) {
			return bad(fmt.Sprintf("targets.repositories[%d]: %s is not a repository name or glob (lowercase letters, digits, . _ - / and * ?)", i, quote(p)))
		}
	}
	for i, reg := range tg.Regions {
		if err := checkRegion(fmt.Sprintf("targets.regions[%d]", i), reg); err != nil {
			return bad(err.Error())
		}
	}
	return nil
}

// String is a short form for logs.
func (r BackfillRequest) String() string {
	var b strings.Builder
	if r.Sweep {
		b.WriteString("sweep ")
	}
	if r.Targets.All {
		b.WriteString("all")
	} else {
		var parts []string
		add := func(name string, v []string) {
			if len(v) > 0 {
				parts = append(parts, name+"="+strings.Join(v, ","))
			}
		}
		add("accounts", r.Targets.Accounts)
		add("ous", r.Targets.OUs)
		add("repositories", r.Targets.Repositories)
		add("regions", r.Targets.Regions)
		b.WriteString(strings.Join(parts, " "))
	}
	if r.DryRun {
		b.WriteString(" (dry run)")
	}
	return b.String()
}

var (
	requestKeys = []string{"action", "targets", "dryRun", "sweep"}
	targetKeys  = []string{"all", "accounts", "ous", "repositories", "regions"}
)

// exactKeys rejects keys that differ from the known ones, including by case:
// encoding/json matches field names case-insensitively, so without this
// check "dryrun" would silently be taken as "dryRun" and "DRYRUN": false
// could override it. Non-object payloads are left to the struct decode,
// which reports their type.
func exactKeys(raw []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return nil
	}
	for k := range top {
		if !slices.Contains(requestKeys, k) {
			return bad(fmt.Sprintf("unknown field %s (known: %s)", quote(k), strings.Join(requestKeys, ", ")))
		}
	}
	var targets map[string]json.RawMessage
	if json.Unmarshal(top["targets"], &targets) != nil {
		return nil
	}
	for k := range targets {
		if !slices.Contains(targetKeys, k) {
			return bad(fmt.Sprintf("targets: unknown field %s (known: %s)", quote(k), strings.Join(targetKeys, ", ")))
		}
	}
	return nil
}

func bad(detail string) error {
	return &Rejection{Reason: ReasonInvalidPayload, Detail: detail}
}

// decodeMessage rewrites encoding/json errors so they name the field by its
// JSON path (targets.accounts) rather than the Go type.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "payload"
		}
		return fmt.Sprintf("%s: is a JSON %s, want %s", field, te.Value, goTypeName(te.Type.String()))
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: empty or truncated payload"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s (known: action, targets{all, accounts, ous, repositories, regions}, dryRun, sweep)", f)
	}
	return err.Error()
}

func goTypeName(t string) string {
	switch {
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "[]string":
		return "an array of strings"
	case strings.HasSuffix(t, "BackfillTargets"), strings.HasSuffix(t, "BackfillRequest"):
		return "an object"
	}
	return t
}

func sortStrings(s []string) []string {
	slices.Sort(s)
	return s
}
