package audit

import (
	"log/slog"
	"regexp"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/metrics"
)

// reasonSlug is a rejection reason or a refusal's leading slug.
var reasonSlug = regexp.MustCompile(`^([a-z][a-z0-9-]{1,40}):`)

// Reason is the short reason of a refused or rejected record, as the Reason
// dimension carries it: the leading "slug:" of its error, else "other".
func (r Record) Reason() string {
	if m := reasonSlug.FindStringSubmatch(r.Error); m != nil {
		return m[1]
	}
	return "other"
}

// metricAttrs are the EMF (shared/metrics) fields of a decision's log line: Decisions by
// function, decision and kind (and by decision alone, which the alarms
// watch); Writes for applied records; Stopped by reason for refusals and
// rejections; UnitDuration for unit summaries.
func metricAttrs(rec Record, now time.Time) []slog.Attr {
	fn := rec.Function
	if fn == "" {
		fn = "local"
	}
	kind := rec.Target.Kind
	if kind == "" {
		kind = "none"
	}
	count := metrics.Metric{Name: metrics.MetricDecisions, Unit: "Count"}
	dirs := []metrics.Directive{{Namespace: metrics.Namespace,
		Dimensions: [][]string{metrics.DecisionsByKind, metrics.DecisionTotals},
		Metrics:    []metrics.Metric{count}}}
	attrs := []slog.Attr{
		slog.String(metrics.DimFunction, fn), slog.String(metrics.DimDecision, string(rec.Decision)), slog.String(metrics.DimKind, kind),
		slog.Int(metrics.MetricDecisions, 1),
	}
	switch rec.Decision {
	case DecisionApplied:
		dirs = append(dirs, metrics.Directive{Namespace: metrics.Namespace, Dimensions: [][]string{metrics.WritesByKind, metrics.WritesTotal},
			Metrics: []metrics.Metric{{Name: metrics.MetricWrites, Unit: "Count"}}})
		attrs = append(attrs, slog.Int(metrics.MetricWrites, 1))
	case DecisionRefused, DecisionRejected:
		dirs = append(dirs, metrics.Directive{Namespace: metrics.Namespace, Dimensions: [][]string{metrics.StoppedByReason},
			Metrics: []metrics.Metric{{Name: metrics.MetricStopped, Unit: "Count"}}})
		attrs = append(attrs, slog.String(metrics.DimReason, rec.Reason()), slog.Int(metrics.MetricStopped, 1))
	case DecisionSummary:
		dirs = append(dirs, metrics.Directive{Namespace: metrics.Namespace, Dimensions: [][]string{metrics.PerFunction},
			Metrics: []metrics.Metric{{Name: metrics.MetricUnitDuration, Unit: "Milliseconds"}}})
		attrs = append(attrs, slog.Int64(metrics.MetricUnitDuration, rec.Duration.Milliseconds()))
	}
	meta := metrics.Meta{Timestamp: now.UnixMilli(), CloudWatchMetrics: dirs}
	return append([]slog.Attr{slog.Any("_aws", meta)}, attrs...)
}
