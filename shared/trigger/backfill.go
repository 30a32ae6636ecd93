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

	"github.com/ecr-warden/ecr-warden/shared/config"
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
	// RequireCleanPlan makes a real run plan first (the dry run, inline) and apply nothing when
	// that plan refuses any document: a declaration some of whose statements would be refused
	// is half-applied otherwise. The deploy-time backfill sets it unless the app's context says
	// allowRefusals=true.
	RequireCleanPlan bool `json:"requireCleanPlan,omitempty"`
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
// Only * is a wildcard (desired.MatchPattern); a ? would be taken literally
// and match nothing, so it is refused.
var repositoryGlob = regexp.MustCompile(`^[a-z0-9._/*-]{1,256}$`)

// ValidRepositoryGlob reports whether p is a repository name or glob a
// backfill target may give (and so what a work unit may carry).
func ValidRepositoryGlob(p string) bool { return repositoryGlob.MatchString(p) }

// ParseBackfill decodes and validates a backfill payload the way the
// declaration is validated: every problem is found in one pass and reported
// with its field path, unknown fields and enum values get a did-you-mean, so
// an operator fixes a payload in one round trip rather than one per mistake.
// Unknown fields are errors (a typo such as "dryrun" must not silently run
// for real); a key given twice is an error (encoding/json would keep the
// last). Every error is a *Rejection with ReasonInvalidPayload whose Detail
// lists the problems, "; "-separated, fields in alphabetical order.
func ParseBackfill(raw []byte) (BackfillRequest, error) {
	return parseBackfill(raw, nil)
}

// ParseBackfillIn is ParseBackfill that also judges targets.regions against
// the declaration's hub regions (declared), in the same pass as every other
// check: a payload with a typo and an undeclared region is answered with
// both, not with the typo first and the region on the next try. A payload
// whose only problems are undeclared regions is rejected with
// ReasonRegionNotConfigured (as every regional target of an undeclared
// region is), any other with ReasonInvalidPayload.
func ParseBackfillIn(raw []byte, declared []string) (BackfillRequest, error) {
	if declared == nil {
		declared = []string{}
	}
	return parseBackfill(raw, declared)
}

// parseBackfill is ParseBackfill, judging regions against declared unless
// it is nil.
func parseBackfill(raw []byte, declared []string) (BackfillRequest, error) {
	if len(raw) > maxInput {
		return BackfillRequest{}, &Rejection{Reason: ReasonTooLarge, Detail: fmt.Sprintf("backfill payload is %d bytes", len(raw))}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var top any
	if err := dec.Decode(&top); err != nil {
		return BackfillRequest{}, bad(decodeMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BackfillRequest{}, bad("unexpected data after the payload object")
	}
	ps := payloadProblems{declared: declared}
	ps.duplicates(raw)
	req := ps.request(top)
	if !ps.flagged["payload"] {
		ps.semantics(req)
	}
	if err := ps.err(); err != nil {
		return BackfillRequest{}, err
	}
	return req, nil
}

// Validate checks a request built in code (the sweep) or decoded from JSON,
// reporting every problem at once.
func (r BackfillRequest) Validate() error {
	var ps payloadProblems
	ps.semantics(r)
	return ps.err()
}

// payloadProblems collects "path: message" lines while a payload is checked.
type payloadProblems struct {
	list []string
	// declared is the declaration's hub regions targets.regions must name
	// (nil: not judged), and undeclared counts the regions that are not.
	declared   []string
	undeclared int
	// flagged holds the top-level fields ("action", "targets") already
	// reported, so the semantic pass does not report them twice.
	flagged map[string]bool
}

func (ps *payloadProblems) add(path, format string, args ...any) {
	ps.list = append(ps.list, path+": "+fmt.Sprintf(format, args...))
	if ps.flagged == nil {
		ps.flagged = map[string]bool{}
	}
	top, _, _ := strings.Cut(path, ".")
	top, _, _ = strings.Cut(top, "[")
	ps.flagged[top] = true
}

func (ps *payloadProblems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	if ps.undeclared == len(ps.list) {
		return &Rejection{Reason: ReasonRegionNotConfigured, Detail: strings.Join(ps.list, "; ")}
	}
	return bad(strings.Join(ps.list, "; "))
}

// request reads the generically decoded payload into a BackfillRequest,
// recording every unknown field and wrongly typed value with its path.
func (ps *payloadProblems) request(v any) BackfillRequest {
	var req BackfillRequest
	obj, ok := v.(map[string]any)
	if !ok {
		ps.add("payload", "is %s, want an object such as {\"action\":\"backfill\",\"targets\":{\"all\":true}}", typeName(v))
		return req
	}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "action":
			s, ok := obj[k].(string)
			if !ok {
				ps.add(k, "is %s, want a string (\"backfill\")", typeName(obj[k]))
				continue
			}
			req.Action = s
			if s != "backfill" {
				ps.add(k, "%s is not an action%s", quote(s), didYouMean(s, backfillActions))
			}
		case "targets":
			req.Targets = ps.targets(obj[k])
		case "dryRun":
			req.DryRun = ps.boolean(k, obj[k])
		case "sweep":
			// The scheduled sweep arrives as EventBridge's Scheduled Event and
			// is recorded as the schedule's (source aws.events): an invoke
			// cannot claim to be it.
			ps.add(k, "is set only by the sweep's schedule (an EventBridge Scheduled Event); a manual run is a backfill, remove %s", quote(k))
		case "requireCleanPlan":
			req.RequireCleanPlan = ps.boolean(k, obj[k])
		default:
			ps.add(k, "unknown field %s%s", quote(k), didYouMean(k, requestKeys))
		}
	}
	if _, ok := obj["action"]; !ok {
		ps.add("action", "missing; a backfill payload is {\"action\":\"backfill\",\"targets\":{...}}")
	}
	if req.DryRun && req.RequireCleanPlan {
		ps.add("requireCleanPlan", "has no meaning in a dry run, which writes nothing anyway: drop one of dryRun and requireCleanPlan")
	}
	return req
}

func (ps *payloadProblems) targets(v any) BackfillTargets {
	var tg BackfillTargets
	obj, ok := v.(map[string]any)
	if !ok {
		ps.add("targets", "is %s, want an object", typeName(v))
		return tg
	}
	for _, k := range sortedKeys(obj) {
		path := "targets." + k
		switch k {
		case "all":
			tg.All = ps.boolean(path, obj[k])
		case "accounts":
			tg.Accounts = ps.strings(path, obj[k])
		case "ous":
			tg.OUs = ps.strings(path, obj[k])
		case "repositories":
			tg.Repositories = ps.strings(path, obj[k])
		case "regions":
			tg.Regions = ps.strings(path, obj[k])
		default:
			ps.add(path, "unknown field %s%s", quote(k), didYouMean(k, targetKeys))
		}
	}
	return tg
}

func (ps *payloadProblems) boolean(path string, v any) bool {
	b, ok := v.(bool)
	if !ok {
		ps.add(path, "is %s, want true or false", typeName(v))
	}
	return b
}

func (ps *payloadProblems) strings(path string, v any) []string {
	arr, ok := v.([]any)
	if !ok {
		ps.add(path, "is %s, want an array of strings", typeName(v))
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			ps.add(fmt.Sprintf("%s[%d]", path, i), "is %s, want a string", typeName(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// semantics checks what a well-typed request means: the action, which
// targets combine, and the shape of every value.
func (ps *payloadProblems) semantics(r BackfillRequest) {
	if r.Action != "backfill" && !ps.flagged["action"] {
		ps.add("action", "%s, want \"backfill\"", quote(r.Action))
	}
	tg := r.Targets
	lists := len(tg.Accounts) + len(tg.OUs) + len(tg.Repositories) + len(tg.Regions)
	switch {
	case tg.All && lists > 0:
		ps.add("targets", "\"all\": true cannot be combined with accounts, ous, repositories or regions")
	case !tg.All && lists == 0 && !ps.flagged["targets"]:
		ps.add("targets", "missing; give {\"all\": true} or at least one of accounts, ous, repositories, regions")
	}
	check := func(field string, values []string, f func(string, string) error) {
		for i, v := range values {
			if err := f(fmt.Sprintf("targets.%s[%d]", field, i), v); err != nil {
				ps.list = append(ps.list, err.Error())
			}
		}
	}
	check("accounts", tg.Accounts, checkAccountID)
	check("ous", tg.OUs, checkParent)
	check("repositories", tg.Repositories, func(path, p string) error {
		if !repositoryGlob.MatchString(p) {
			return fmt.Errorf("%s: %s is not a repository name or glob (lowercase letters, digits, . _ - / and the wildcard *)", path, quote(p))
		}
		return nil
	})
	for i, r := range tg.Regions {
		path := fmt.Sprintf("targets.regions[%d]", i)
		if err := checkRegion(path, r); err != nil {
			ps.list = append(ps.list, err.Error())
			continue
		}
		if ps.declared != nil {
			if p := undeclaredRegion(i, r, ps.declared); p != "" {
				ps.list = append(ps.list, p)
				ps.undeclared++
			}
		}
	}
}

// UndeclaredRegions is one problem ("targets.regions[i]: ...", with its
// field path) for every region of t that the declaration's hub regions
// (declared) lack, in order; none when every one is declared. It is the one
// wording of that problem: the payload's parse, Target.CheckRegion and the
// backfill's unit selection all answer with it.
func (t BackfillTargets) UndeclaredRegions(declared []string) []string {
	var out []string
	for i, r := range t.Regions {
		if p := undeclaredRegion(i, r, declared); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// undeclaredRegion is targets.regions[i]'s problem when declared lacks r, else "".
func undeclaredRegion(i int, r string, declared []string) string {
	if slices.Contains(declared, r) {
		return ""
	}
	return fmt.Sprintf("targets.regions[%d]: region %q is not in the declaration's hub.regions %v", i, r, declared)
}

// duplicates reports every key given twice in one object of the payload, as the declaration does.
func (ps *payloadProblems) duplicates(raw []byte) {
	for _, p := range config.DuplicateKeys(raw) {
		ps.add(p.Path, "%s", p.Message)
	}
}

var backfillActions = []string{"backfill"}

// didYouMean names the closest known word: the same word in another case,
// or one within two edits (typos such as "backfil" or "al"), else lists the
// known ones.
func didYouMean(got string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, got) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if d := config.EditDistance(strings.ToLower(got), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return "; known: " + strings.Join(known, ", ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
	if r.RequireCleanPlan && !r.DryRun {
		b.WriteString(" (only if the plan refuses nothing)")
	}
	return b.String()
}

var (
	requestKeys = []string{"action", "targets", "dryRun", "requireCleanPlan"}
	targetKeys  = []string{"all", "accounts", "ous", "repositories", "regions"}
)

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
		return fmt.Sprintf("unknown field %s (known: action, targets{all, accounts, ous, repositories, regions}, dryRun, requireCleanPlan)", f)
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
