package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints records as a short table a person can scan (time,
// decision, op, trigger, actor, target), with each record's error on the
// line below it, and under it who wrote (ecr-warden's role, apart from the
// actor whose event triggered it) and the declaration's SHA-256 (first 12
// hex digits). verbose adds the statement diff. `make audit` and the demo
// print the trail through it so both read the same.
func WriteTable(w io.Writer, recs []Record, verbose bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tDECISION\tOP\tTRIGGER\tACTOR\tTARGET")
	for _, r := range recs {
		op := r.Op
		if r.Target.Kind != "" {
			op = strings.TrimSpace(op + " " + r.Target.Kind)
		}
		dry := ""
		if r.DryRun {
			dry = " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.DateTime), r.Decision, dry,
			orDash(op), shortTrigger(r.Trigger), shortActor(r.Actor), r.Target.ARN)
		if r.Error != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t  error: %s\n", oneLine(r.Error)) // under TARGET, same cell count, so columns stay aligned
		}
		if r.Writer != "" || r.DeclarationSHA256 != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t  by %s, declaration sha256 %s\n", orDash(shortActor(Actor{ARN: r.Writer})), orDash(shortHash(r.DeclarationSHA256)))
		}
		if verbose && r.Diff != "" {
			for _, ln := range strings.Split(strings.TrimRight(r.Diff, "\n"), "\n") {
				fmt.Fprintf(tw, "\t\t\t\t\t  %s\n", ln)
			}
		}
	}
	return tw.Flush()
}

// shortTrigger keeps the event name (the part after the detail-type) and
// the first characters of the event id: enough to find the event in logs.
func shortTrigger(t Trigger) string {
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
	return orDash(s)
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
		if r.DryRun {
			run += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Time.UTC().Format(time.DateTime), strings.TrimSpace(run),
			strings.TrimPrefix(r.Target.ARN, "unit/"), c.Examined, c.Unchanged, c.Changed, c.Planned, c.Refused, c.Failed, r.Duration.Round(time.Millisecond))
		if r.Error != "" {
			fmt.Fprintf(tw, "\t\t  error: %s\n", oneLine(r.Error))
		}
	}
	return tw.Flush()
}
