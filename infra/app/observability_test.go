package app

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/metrics"
)

// TestQueriesAndAlarmsNameWhatTheLogLinesCarry: the saved queries read the decision log line (every
// audit.<field> is a JSON path of audit.Record, which the trail logs under "audit", and every
// decision they filter on is one the trail records), and the decision alarms watch the Decisions
// metric under decisions the trail records. The golden file pins the text only: a decision or JSON
// field renamed in shared/audit would leave it equal while the alarm or query finds nothing.
func TestQueriesAndAlarmsNameWhatTheLogLinesCarry(t *testing.T) {
	localaws.NeedCDK(t)
	fields := map[string]bool{}
	jsonPaths(reflect.TypeOf(audit.Record{}), "audit.", fields)
	known := func(d string) bool { return slices.Contains(audit.Decisions, audit.Decision(d)) }
	field := regexp.MustCompile(`\baudit\.[A-Za-z0-9_.]+`)
	filter := regexp.MustCompile(`audit\.decision\s*(?:=|in)\s*(\[[^\]]*\]|"[^"]*")`)
	quoted := regexp.MustCompile(`"([^"]*)"`)
	decisions := 0
	for id, r := range resourcesOf(hubUS, "AWS::Logs::QueryDefinition") {
		q, _ := props(r)["QueryString"].(string)
		for _, f := range field.FindAllString(q, -1) {
			if !fields[f] {
				t.Errorf("query %s reads %s, which no audit record carries", id, f)
			}
		}
		for _, m := range filter.FindAllStringSubmatch(q, -1) {
			for _, d := range quoted.FindAllStringSubmatch(m[1], -1) {
				decisions++
				if !known(d[1]) {
					t.Errorf("query %s filters on decision %q, which no audit record carries", id, d[1])
				}
			}
		}
	}
	if decisions != 3 {
		t.Errorf("the queries filter on %d decisions, want 3 (refused, rejected, applied): this test no longer reads them", decisions)
	}
	alarms := 0
	for id, r := range resourcesOf(hubUS, "AWS::CloudWatch::Alarm") {
		p := props(r)
		if p["MetricName"] != metrics.MetricDecisions {
			continue
		}
		dims, _ := p["Dimensions"].([]interface{})
		for _, d := range dims {
			d, _ := d.(map[string]interface{})
			if d["Name"] != metrics.DimDecision {
				continue
			}
			alarms++
			if v, _ := d["Value"].(string); !known(v) {
				t.Errorf("alarm %s watches decision %q, which no audit record carries", id, v)
			}
		}
	}
	if alarms != 3 {
		t.Errorf("%d alarms on a decision, want 3 (refused, failed, ptc-validation-failed)", alarms)
	}
}

// jsonPaths adds to out every JSON path of t's fields under prefix (nested structs too).
func jsonPaths(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case name == "" && f.Anonymous:
			jsonPaths(f.Type, prefix, out)
			continue
		case name == "":
			name = f.Name
		}
		out[prefix+name] = true
		jsonPaths(f.Type, prefix+name+".", out)
	}
}
