package audit

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints records as a short table a person can scan: what
// happened to what first (time, decision, op, target), then why and who
// (trigger, actor). A record's error (and, with verbose, its statement
// diff) follows on the lines below it, indented under DECISION so it stays
// on screen however wide the target is. Who wrote (ecr-warden's role, apart
// from the actor whose event triggered it) and the declaration's SHA-256
// (first 12 hex digits) are said once above the table when every record
// shares them, else under each record where they change. `make audit` and
// the demo print the trail through it so both read the same.
func WriteTable(w io.Writer, recs []Record, verbose bool) error {
	var rows bytes.Buffer
	tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tDECISION\tOP\tTARGET\tTRIGGER\tACTOR")
	for _, r := range recs {
		dry := ""
		if r.DryRun {
			dry = " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.DateTime), r.Decision, dry,
			shortOp(r), orDash(oneLine(r.Target.ARN)), shortTrigger(r.Trigger), oneLine(shortActor(r.Actor)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(rows.String(), "\n"), "\n")
	indent := strings.Repeat(" ", len(time.DateTime)+2) // under DECISION
	by := func(r Record) string {
		if r.Writer == "" && r.DeclarationSHA256 == "" {
			return ""
		}
		return fmt.Sprintf("by %s, declaration sha256 %s", orDash(shortActor(Actor{ARN: r.Writer})), orDash(shortHash(r.DeclarationSHA256)))
	}
	shared := len(recs) > 0
	for _, r := range recs {
		shared = shared && by(r) == by(recs[0])
	}
	var b strings.Builder
	if shared && by(recs[0]) != "" {
		b.WriteString("written " + by(recs[0]) + "\n")
	}
	b.WriteString(lines[0] + "\n")
	last := ""
	for i, r := range recs {
		b.WriteString(strings.TrimRight(lines[i+1], " ") + "\n")
		if r.Counts != nil && r.Counts.Why != "" {
			b.WriteString(indent + "why: " + oneLine(r.Counts.Why) + "\n")
		}
		if r.Error != "" {
			b.WriteString(indent + "error: " + oneLine(r.Error) + "\n")
		}
		if !shared && by(r) != "" && by(r) != last {
			b.WriteString(indent + by(r) + "\n")
		}
		last = by(r)
		if verbose && r.Diff != "" {
			for _, ln := range strings.Split(strings.TrimRight(r.Diff, "\n"), "\n") {
				b.WriteString(indent + "  " + ln + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shortOp is the op and the kind of document ("update ECRRegistryPolicy");
// "none" (a noop, a summary, a rejection) says nothing and is left out.
func shortOp(r Record) string {
	op := r.Op
	if op == "none" {
		op = ""
	}
	return orDash(strings.TrimSpace(op + " " + r.Target.Kind))
}

// shortTrigger keeps the event name (the part after the detail-type) and
// the first characters of the event id: enough to find the event in logs.
// A backfill or sweep run id is kept whole ("backfill-01M8..."), since it
// is what `make audit RUN=` and `make backfill-status RUN=` take.
func shortTrigger(t Trigger) string {
	if isRunID(t.EventID) {
		return t.EventID
	}
	s := t.EventType
	if i := strings.LastIndex(s, "/"); i >= 0 && strings.Contains(s[:i], "CloudTrail") {
		s = s[i+1:]
	}
	if id := t.EventID; id != "" {
		if len(id) > 8 {
			id = id[:8]
		}
		s += " (" + id + ")"
	}
	return orDash(oneLine(s))
}

// isRunID reports whether id is a backfill or sweep run id.
func isRunID(id string) bool {
	return strings.HasPrefix(id, "backfill-") || strings.HasPrefix(id, "sweep-")
}

// shortActor drops the "arn:aws:<service>:<region>:" prefix of an actor
// ARN, keeping "<account>:<resource>".
func shortActor(a Actor) string {
	s := a.String()
	if strings.HasPrefix(s, "arn:") {
		if parts := strings.SplitN(s, ":", 5); len(parts) == 5 {
			return parts[4]
		}
	}
	return s
}

// shortHash keeps the first 12 hex digits of a SHA-256, enough to tell
// declarations apart by eye; -json carries the whole hash.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// WriteSummaries prints unit summary records as a table: one line per unit
// and run with its counts and duration.
func WriteSummaries(w io.Writer, recs []Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tRUN\tUNIT\tEXAMINED\tUNCHANGED\tCHANGED\tPLANNED\tREFUSED\tFAILED\tDURATION")
	for _, r := range recs {
		c := r.Counts
		if c == nil {
			continue
		}
		run := r.Trigger.EventType + " " + r.Trigger.EventID
		if isRunID(r.Trigger.EventID) { // the run id already says backfill or sweep
			run = r.Trigger.EventID
		}
		if r.DryRun {
			run += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Time.UTC().Format(time.DateTime), strings.TrimSpace(run),
			strings.TrimPrefix(r.Target.ARN, "unit/"), c.Examined, c.Unchanged, c.Changed, c.Planned, c.Refused, c.Failed, r.Duration.Round(time.Millisecond))
		if c.ResumedAfter != "" {
			fmt.Fprintf(tw, "\t  resumed after: %s\n", c.ResumedAfter)
		}
		if c.ContinuesAfter != "" {
			fmt.Fprintf(tw, "\t  continues after: %s (stopped before its deadline; the rest is queued)\n", c.ContinuesAfter)
		}
		if c.Why != "" {
			fmt.Fprintf(tw, "\t  why: %s\n", oneLine(c.Why))
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "\t  error: %s\n", oneLine(r.Error)) // under RUN
		}
	}
	return tw.Flush()
}

// RunCommand is the command an operator runs to list run's records with
// these decisions (every record of the run when none): the one line every
// message that cuts a list short ends with, so they all name it alike.
func RunCommand(run string, decisions ...Decision) string {
	if len(decisions) == 0 {
		return "make audit RUN=" + run
	}
	names := make([]string, len(decisions))
	for i, d := range decisions {
		names[i] = string(d)
	}
	return fmt.Sprintf("make audit RUN=%s ARGS=\"-decision %s\"", run, strings.Join(names, ","))
}
