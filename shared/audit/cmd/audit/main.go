// Command audit prints the audit trail from DynamoDB: a resource's history
// (`make audit RESOURCE=<arn or repository name>`), a time window (-since or
// -from/-to), one run (-run, with units done, failed and left from the
// per-unit summary records), the unit summaries (-summaries), or writes that
// never got an outcome (-stale),
// filtered by decision, as a table or as JSON lines, from one region's table
// or from every hub region's. It uses the default AWS credential chain, so it
// works against AWS and, with AWS_ENDPOINT_URL, against the local emulator.
//
// Exit codes: 0 records printed (or none found), 1 the query failed, 2 bad
// usage or missing AWS settings (the message says which exports to set).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/cli"
	wconfig "github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "audit: ") { // the trail's errors already say "audit:"
		msg = "audit: " + msg
	}
	if hint := awsapi.EndpointDown(err); hint != "" {
		msg += "\n" + hint
	}
	fmt.Fprintln(os.Stderr, msg)
	var u usageError
	if errors.As(err, &u) {
		os.Exit(2)
	}
	os.Exit(1)
}

// usageError marks a mistake in the command line or the environment: exit
// code 2, as for a bad flag.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// query is what the command line asks for, decoded and checked.
type query struct {
	resource  string
	account   string
	from, to  time.Time
	stale     time.Duration
	run       string
	decisions []audit.Decision
	regions   []string
	table     string
	json      bool
	verbose   bool
	summaries bool
	units     int
	limit     int
}

// run is main with its arguments and output injected, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	q, err := parse(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	regions := q.regions
	if len(regions) == 0 {
		regions = []string{cfg.Region}
	}
	var recs []audit.Record
	var skipped []string
	cut := false // a resource's history read only its latest q.limit records somewhere
	for _, region := range regions {
		rc := cfg.Copy()
		rc.Region = region
		trail, err := audit.New(dynamodb.NewFromConfig(rc), q.table, audit.Options{})
		if err != nil {
			return err
		}
		got, more, err := fetch(ctx, trail, q)
		var missing *types.ResourceNotFoundException
		if errors.As(err, &missing) && len(regions) > 1 {
			fmt.Fprintf(stderr, "audit: no table %s in %s; skipped\n", q.table, region)
			skipped = append(skipped, region)
			continue
		}
		if err != nil {
			return fmt.Errorf("%w (region %s)", err, region)
		}
		cut = cut || more
		recs = append(recs, got...)
	}
	if len(skipped) == len(regions) {
		// Not "no audit records found": nothing was read, and an empty
		// answer would read as a clean trail.
		return fmt.Errorf("no table %s in any of %s, so nothing was read (%s)", q.table, strings.Join(regions, ", "), audit.MissingTableHint(q.table))
	}
	recs = filter(recs, q)
	if q.json {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		if cut {
			fmt.Fprintln(stderr, cutNote(q)) // stdout stays one record per line
		}
		return nil
	}
	if len(recs) == 0 && !cut {
		fmt.Fprintln(stdout, noneFound(q, regions))
		return nil
	}
	if q.summaries {
		return audit.WriteSummaries(stdout, recs)
	}
	if len(recs) > 0 {
		if err := audit.WriteTable(stdout, recs, q.verbose); err != nil {
			return err
		}
	}
	switch {
	case q.run != "":
		fmt.Fprintln(stdout, runSummary(q.run, recs, q.units))
	case len(recs) > footerAfter:
		fmt.Fprintln(stdout, footer(recs))
	}
	if cut {
		fmt.Fprintln(stdout, cutNote(q))
	}
	return nil
}

// footerAfter is the length of a listing past which its header has scrolled
// away: below it the table ends with a count of what it showed and how to
// narrow it, since a window of a sweep holds thousands of records.
const footerAfter = 40

// footer counts a long listing's records by decision and says how to narrow it.
func footer(recs []audit.Record) string {
	counts := map[audit.Decision]int{}
	for _, r := range recs {
		counts[r.Decision]++
	}
	var parts []string
	for _, d := range allDecisions {
		if counts[d] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", d, counts[d]))
		}
	}
	return fmt.Sprintf("%d records from %s to %s: %s (narrow with -decision, -account, -resource or -run; -json for one record per line)",
		len(recs), recs[0].Time.UTC().Format(time.DateTime), recs[len(recs)-1].Time.UTC().Format(time.DateTime), strings.Join(parts, ", "))
}

// cutNote says that a resource's history was read only to its latest
// records, so older ones, and older ones of a -decision filter, were not
// looked at: without it the listing reads as the whole history.
func cutNote(q query) string {
	return fmt.Sprintf("only the latest %d records of %s were read (per region; -decision and -account filter those): "+
		"older ones exist; -limit 0 reads them all, -limit <n> more of them (make audit RESOURCE=%s ARGS=\"-limit 0\")",
		q.limit, q.resource, q.resource)
}

func parse(args []string, stderr io.Writer) (query, error) {
	var q query
	defTable := os.Getenv(function.AuditTable)
	if defTable == "" {
		defTable = audit.DefaultTable
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.StringVar(&q.resource, "resource", "", "repository/registry/role ARN, or a bare repository name")
	fs.StringVar(&q.account, "account", "", "only records about this account's documents (12 digits; alone, the last 24h)")
	fs.StringVar(&q.table, "table", defTable, "audit table (default from "+function.AuditTable+")")
	region := fs.String("region", "", "AWS region of the table (default from AWS_REGION / the AWS config)")
	regions := fs.String("regions", "", "comma-separated regions to read and merge (each hub region has its own table), or \"hub\" for every hub region of -declaration")
	declaration := fs.String("declaration", os.Getenv(function.DeclarationFile), "declaration whose hub regions -regions hub means")
	fs.IntVar(&q.limit, "limit", 100, "with -resource: at most this many of the latest records per region (0 = all)")
	since := fs.Duration("since", 0, "records of the last DURATION (e.g. 24h)")
	from := fs.String("from", "", "records from this time (RFC 3339, e.g. 2026-12-01T00:00:00Z)")
	to := fs.String("to", "", "records up to this time (RFC 3339; default now)")
	fs.DurationVar(&q.stale, "stale", 0, "list writes still pending after DURATION (crashed between intent and outcome)")
	fs.StringVar(&q.run, "run", "", "records of one backfill or sweep run (its run id), with units done, failed and left")
	decision := fs.String("decision", "", "only these decisions, comma-separated (one of "+joinDecisions()+")")
	fs.BoolVar(&q.json, "json", false, "one JSON record per line instead of the table")
	fs.BoolVar(&q.verbose, "v", false, "also print each record's statement diff")
	fs.BoolVar(&q.summaries, "summaries", false, "the backfill and sweep unit summaries of the window (default the last 24h) or of -run")
	fs.IntVar(&q.units, "units", 0, "with -run: the number of units the run queued (its answer's \"units\"), so units left can be counted")
	if err := cli.Parse(fs, args, stderr, `make audit RESOURCE=|RUN=|ACCOUNT=|SUMMARIES=1|SINCE= ARGS="..."`); err != nil {
		var u cli.UsageError
		if errors.As(err, &u) {
			return q, usageError{u.Msg}
		}
		return q, err
	}
	now := time.Now().UTC()
	q.to = now
	if *to != "" {
		t, err := time.Parse(time.RFC3339, *to)
		if err != nil {
			return q, usageError{fmt.Sprintf("-to %q: want RFC 3339 such as 2026-12-01T18:00:00Z", *to)}
		}
		q.to = t
	}
	switch {
	case *from != "":
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			return q, usageError{fmt.Sprintf("-from %q: want RFC 3339 such as 2026-12-01T00:00:00Z", *from)}
		}
		q.from = t
	case *since > 0:
		q.from = q.to.Add(-*since)
	}
	for d := range strings.SplitSeq(*decision, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if !slices.Contains(allDecisions, audit.Decision(d)) {
			return q, usageError{fmt.Sprintf("-decision %q: not a decision (want one of %s)", d, joinDecisions())}
		}
		q.decisions = append(q.decisions, audit.Decision(d))
	}
	if q.run != "" && q.from.IsZero() {
		// A run id ends in a time-ordered id: its records start then.
		t, ok := runTime(q.run)
		if !ok {
			return q, usageError{fmt.Sprintf("-run %q: not a run id (backfill-<id> or sweep-<id>, as the backfill answers)", q.run)}
		}
		q.from = t.Add(-time.Minute)
	}
	if *regions != "" {
		if strings.TrimSpace(*regions) == "hub" {
			if *declaration == "" {
				return q, usageError{"-regions hub needs -declaration <file> (or " + function.DeclarationFile + ")"}
			}
			d, err := wconfig.Load(*declaration)
			if err != nil {
				return q, usageError{err.Error()}
			}
			q.regions = d.Hub.Regions
		} else {
			for r := range strings.SplitSeq(*regions, ",") {
				if r = strings.TrimSpace(r); r != "" {
					q.regions = append(q.regions, r)
				}
			}
		}
	}
	if *region != "" {
		if len(q.regions) > 0 {
			return q, usageError{"give -region or -regions, not both"}
		}
		q.regions = []string{*region}
	}
	// Each hub region has its own table: a region that does not exist is
	// named here, not answered by an endpoint that cannot be resolved.
	var unknown []string
	for _, r := range q.regions {
		if _, ok := policy.KnownRegion(r); !ok {
			unknown = append(unknown, strconv.Quote(r))
		}
	}
	if len(unknown) > 0 {
		return q, usageError{fmt.Sprintf("-region/-regions: %s: not a region of a partition ecr-warden supports (e.g. us-east-1, cn-north-1, us-gov-west-1)", strings.Join(unknown, ", "))}
	}
	if q.account != "" && (len(q.account) != 12 || strings.Trim(q.account, "0123456789") != "") {
		return q, usageError{fmt.Sprintf("-account %q: want a 12-digit account id", q.account)}
	}
	if len(q.resource) == 12 && strings.Trim(q.resource, "0123456789") == "" {
		return q, usageError{fmt.Sprintf("-resource %s is an account id, not a document: -account %s (make audit ACCOUNT=%s [SINCE=24h]) lists what was done in that account", q.resource, q.resource, q.resource)}
	}
	if (q.summaries || q.account != "" && q.resource == "" && q.stale <= 0) && q.from.IsZero() {
		q.from = q.to.Add(-24 * time.Hour)
	}
	if q.stale <= 0 && q.resource == "" && q.from.IsZero() {
		return q, usageError{"say what to show: -resource <ARN or repository name> (make audit RESOURCE=...), -run <run id> (RUN=...), -account <id> (ACCOUNT=...), -since <duration>, -from <time>, or -stale <duration>"}
	}
	return q, nil
}

// awsConfig loads the default chain and answers a missing region or missing
// credentials with one line naming the exports, instead of the SDK's
// "no EC2 IMDS role found".
func awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, usageError{fmt.Sprintf("loading AWS config: %v", err)}
	}
	local := ""
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		local = "; for the local emulator also export AWS_ENDPOINT_URL=http://127.0.0.1:5000 (make emulator prints these lines)"
	}
	if cfg.Region == "" {
		return cfg, usageError{"no AWS region: export AWS_REGION=us-east-1 (or pass -region)" + local}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, usageError{"no AWS credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value for the local emulator), or AWS_PROFILE" + local}
	}
	return cfg, nil
}

// fetch reads the records q selects from one region's table; more reports
// that a resource's history holds records older than the q.limit read (one
// more is read to know).
func fetch(ctx context.Context, trail *audit.Trail, q query) (recs []audit.Record, more bool, err error) {
	switch {
	case q.stale > 0:
		recs, err = trail.Stale(ctx, time.Now().Add(-q.stale))
	case q.resource != "" && q.limit > 0:
		recs, err = trail.History(ctx, q.resource, q.limit+1)
		if len(recs) > q.limit { // oldest first
			return recs[len(recs)-q.limit:], true, err
		}
	case q.resource != "":
		recs, err = trail.History(ctx, q.resource, 0)
	default:
		recs, err = trail.Window(ctx, q.from, q.to)
	}
	return recs, false, err
}

// filter applies the decision, run and time filters (a resource's history
// is read whole, then cut to the window) and orders records by time across
// regions.
func filter(recs []audit.Record, q query) []audit.Record {
	out := recs[:0]
	for _, r := range recs {
		if len(q.decisions) > 0 && !slices.Contains(q.decisions, r.Decision) {
			continue
		}
		if q.run != "" && r.Trigger.EventID != q.run {
			continue
		}
		if q.account != "" && accountOf(r) != q.account {
			continue
		}
		if q.summaries && r.Decision != audit.DecisionSummary {
			continue
		}
		if q.resource != "" && !q.from.IsZero() && (r.Time.Before(q.from) || r.Time.After(q.to)) {
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// accountOf is the account whose document a record is about: the target's
// account, or the one its ARN names (arn:<p>:<svc>:<region>:<account>:...,
// or a unit's unit/<account>/<region>).
func accountOf(r audit.Record) string {
	if r.Target.AccountID != "" {
		return r.Target.AccountID
	}
	if rest, ok := strings.CutPrefix(r.Target.ARN, "unit/"); ok {
		account, _, _ := strings.Cut(rest, "/")
		return account
	}
	if parts := strings.SplitN(r.Target.ARN, ":", 6); len(parts) == 6 && parts[0] == "arn" {
		return parts[4]
	}
	return ""
}

// runSummary counts a run's records by decision and its units by outcome
// (from the per-unit summary records), so an operator following a backfill
// sees how far it is: units done, failed and, when the number queued is
// known, left.
func runSummary(run string, recs []audit.Record, queued int) string {
	counts := map[audit.Decision]int{}
	done, failed, continuing := 0, 0, 0
	for _, r := range recs {
		counts[r.Decision]++
		if r.Decision == audit.DecisionSummary {
			if r.Counts != nil && r.Counts.ContinuesAfter != "" {
				continuing++ // one try of a unit that goes on: not the unit's end
			} else if r.Error != "" || (r.Counts != nil && r.Counts.Failed > 0) {
				failed++
			} else {
				done++
			}
		}
	}
	var parts []string
	for _, d := range allDecisions {
		if counts[d] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", d, counts[d]))
		}
	}
	units := fmt.Sprintf("units: %d done, %d failed", done, failed)
	if continuing > 0 {
		units += fmt.Sprintf(" (%d tries continued in another)", continuing)
	}
	if queued > 0 {
		units += fmt.Sprintf(", %d left of %d", max(queued-done-failed, 0), queued)
	}
	return fmt.Sprintf("run %s: %s; %d records: %s", run, units, len(recs), strings.Join(parts, ", "))
}

var allDecisions = audit.Decisions

func joinDecisions() string {
	s := make([]string, len(allDecisions))
	for i, d := range allDecisions {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// runTime reads the time from a run id ("backfill-<id>", "sweep-<id>"),
// whose id is audit.NewID's: 48 bits of milliseconds in the first ten
// Crockford base32 digits.
func runTime(run string) (time.Time, bool) {
	_, id, ok := strings.Cut(run, "-")
	if !ok || len(id) != 26 {
		return time.Time{}, false
	}
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var ms uint64
	for _, c := range id[:10] {
		i := strings.IndexRune(crockford, c)
		if i < 0 {
			return time.Time{}, false
		}
		ms = ms<<5 | uint64(i)
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// noneFound is the answer to a query that found nothing, saying what was
// looked for: for -stale that is good news (nothing to settle), for a
// resource the name may be misspelt.
func noneFound(q query, regions []string) string {
	where := fmt.Sprintf("in table %s (%s)", q.table, strings.Join(regions, ", "))
	switch {
	case q.stale > 0:
		return fmt.Sprintf("no write pending for longer than %s %s: nothing to settle", q.stale, where)
	case q.resource != "":
		return fmt.Sprintf("no audit records for %s %s (an ARN, or a repository name such as team-a/app)", q.resource, where)
	case q.run != "":
		return fmt.Sprintf("no audit records of run %s %s yet", q.run, where)
	}
	return "no audit records found " + where
}
