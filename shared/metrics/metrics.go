// Package metrics is ecr-warden's CloudWatch metrics contract, in the
// embedded metric format (EMF): a log line with an "_aws" block tells
// CloudWatch Logs to extract metrics from the line's own fields, so the
// functions publish metrics without one extra API call. The names here are
// shared by the code that prints the lines (shared/audit, shared/lease,
// the backfill) and the hub stack's dashboard and alarms (infra/app).
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Names of the namespace, dimensions and metrics.
const (
	// Namespace is the CloudWatch namespace of every ecr-warden metric.
	Namespace = "ecr-warden"

	// DimFunction is the function's short name or Lambda name.
	DimFunction = "Function"
	// DimDecision is the record's decision (applied, refused, ...).
	DimDecision = "Decision"
	// DimKind is the document kind (ECRRepositoryPolicy, ...).
	DimKind = "Kind"
	// DimReason is why a decision stopped: the rejection reason, or the
	// refusal's leading slug ("size-limit", "scope", ... or "other").
	DimReason = "Reason"

	// MetricDecisions counts decisions; one per record.
	MetricDecisions = "Decisions"
	// MetricWrites counts AWS writes that succeeded (applied records).
	MetricWrites = "Writes"
	// MetricStopped counts refused and rejected decisions by reason.
	MetricStopped = "Stopped"
	// MetricUnitDuration is a backfill or sweep unit's duration (summary
	// records), in milliseconds.
	MetricUnitDuration = "UnitDuration"
	// MetricLeaseConflicts counts lease acquisitions that found the
	// document held by another writer; MetricLeaseWait is how long a writer
	// waited for a lease, in milliseconds.
	MetricLeaseConflicts = "LeaseConflicts"
	MetricLeaseWait      = "LeaseWait"
	// MetricStalePending counts pending records older than any invocation
	// (a write that crashed between intent and outcome), found by the sweep.
	MetricStalePending = "StalePending"
)

// The dimension sets the lines carry, which the dashboard and the alarms
// query: a metric in CloudWatch is found only under the exact set it was
// published with.
var (
	// DecisionsByKind: Decisions per function, decision and document kind.
	DecisionsByKind = []string{DimFunction, DimDecision, DimKind}
	// DecisionTotals: Decisions per decision across functions (the refused
	// and failed alarms).
	DecisionTotals = []string{DimDecision}
	// WritesByKind: Writes per function and kind; WritesTotal: all writes.
	WritesByKind = []string{DimFunction, DimKind}
	WritesTotal  = []string{}
	// StoppedByReason: refused and rejected decisions per reason.
	StoppedByReason = []string{DimFunction, DimDecision, DimReason}
	// PerFunction: UnitDuration, LeaseConflicts and LeaseWait per function.
	PerFunction = []string{DimFunction}
	// NoDimensions: StalePending, one number for the hub region.
	NoDimensions = []string{}
)

// Metric is one metric definition of an EMF directive.
type Metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Directive is one entry of _aws.CloudWatchMetrics.
type Directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []Metric   `json:"Metrics"`
}

// Meta is the "_aws" member of an EMF line.
type Meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []Directive `json:"CloudWatchMetrics"`
}

// Line logs one EMF line with a single metric and its dimensions
// (name, value pairs), for counts that are not decisions: lease conflicts
// and waits, stale pending records.
func Line(log *slog.Logger, msg, metric, unit string, value float64, dims ...string) {
	names := make([]string, 0, len(dims)/2)
	attrs := make([]slog.Attr, 0, len(dims)/2+2)
	for i := 0; i+1 < len(dims); i += 2 {
		names = append(names, dims[i])
		attrs = append(attrs, slog.String(dims[i], dims[i+1]))
	}
	meta := Meta{Timestamp: time.Now().UnixMilli(), CloudWatchMetrics: []Directive{{
		Namespace: Namespace, Dimensions: [][]string{names}, Metrics: []Metric{{Name: metric, Unit: unit}}}}}
	attrs = append([]slog.Attr{slog.Any("_aws", meta)}, append(attrs, slog.Float64(metric, value))...)
	log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}

// Check parses one log line and verifies it is valid EMF as CloudWatch
// reads it: an "_aws" object with a millisecond Timestamp and at least one
// directive; each directive in Namespace, with at most 30 dimensions per
// set, every dimension a string member of the line and every metric a
// number member of the line, with a known unit. It returns the directives,
// so a test can compare the dimension sets with the dashboard's.
func Check(line []byte) ([]Directive, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var meta Meta
	if err := json.Unmarshal(raw["_aws"], &meta); err != nil {
		return nil, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp < 1e12 {
		return nil, fmt.Errorf("_aws.Timestamp %d is not epoch milliseconds", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return nil, errors.New("_aws.CloudWatchMetrics is empty")
	}
	for i, d := range meta.CloudWatchMetrics {
		if d.Namespace != Namespace {
			return nil, fmt.Errorf("_aws.CloudWatchMetrics[%d].Namespace %q, want %q", i, d.Namespace, Namespace)
		}
		if len(d.Dimensions) == 0 || len(d.Metrics) == 0 {
			return nil, fmt.Errorf("_aws.CloudWatchMetrics[%d]: no dimension sets or no metrics", i)
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("_aws.CloudWatchMetrics[%d]: %d dimensions in one set (at most 30)", i, len(set))
			}
			for _, dim := range set {
				var v string
				if err := json.Unmarshal(raw[dim], &v); err != nil || v == "" {
					return nil, fmt.Errorf("dimension %s is not a non-empty string member of the line", dim)
				}
			}
		}
		for _, m := range d.Metrics {
			var v float64
			if err := json.Unmarshal(raw[m.Name], &v); err != nil {
				return nil, fmt.Errorf("metric %s is not a number member of the line", m.Name)
			}
			if !validUnits[m.Unit] {
				return nil, fmt.Errorf("metric %s: unit %q is not a CloudWatch unit", m.Name, m.Unit)
			}
		}
	}
	return meta.CloudWatchMetrics, nil
}

var validUnits = map[string]bool{"Count": true, "Milliseconds": true, "Seconds": true, "None": true}
