package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/metrics"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Observability is the hub's view of what ecr-warden is doing: a CloudWatch dashboard over the
// metrics the functions print in the embedded metric format (shared/metrics: no extra API call),
// and saved Logs Insights queries over the one-JSON-line-per-decision logs.
type Observability struct {
	constructs.Construct
	Dashboard awscloudwatch.Dashboard
	Queries   map[string]awslogs.QueryDefinition
}

// search is a SEARCH expression over one metric under one dimension set of shared/metrics.
func search(metric string, set []string, stat string, filter string) string {
	schema := append([]string{metrics.Namespace}, set...)
	q := fmt.Sprintf(`{%s} MetricName="%s"`, strings.Join(schema, ","), metric)
	if filter != "" {
		q += " " + filter
	}
	return fmt.Sprintf("SEARCH('%s', '%s', 300)", q, stat)
}

// NewObservability creates the dashboard and the query definitions.
func NewObservability(scope constructs.Construct, id string, fns *Functions, alarms *Alarms, n Names) *Observability {
	c := constructs.NewConstruct(scope, &id)
	o := &Observability{Construct: c, Queries: map[string]awslogs.QueryDefinition{}}
	graph := func(title, expr, label string) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(12), Height: jsii.Number(6),
			Left: &[]awscloudwatch.IMetric{awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: jsii.String(expr), Label: jsii.String(label), Period: awscdk.Duration_Minutes(jsii.Number(5))})},
		})
	}
	var alarmList []interfacesawscloudwatch.IAlarmRef
	for _, name := range sortedAlarmNames(alarms) {
		alarmList = append(alarmList, alarms.ByName[name])
	}
	o.Dashboard = awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(n.Resource("operations") + "-" + *awscdk.Stack_Of(c).Region()),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{Title: jsii.String("Alarms"), Alarms: &alarmList, Width: jsii.Number(24)})},
			{graph("Decisions by outcome", search(metrics.MetricDecisions, metrics.DecisionTotals, "Sum", ""), ""),
				graph("Decisions by function, outcome and document kind", search(metrics.MetricDecisions, metrics.DecisionsByKind, "Sum", ""), "")},
			{graph("Writes by document kind", search(metrics.MetricWrites, metrics.WritesByKind, "Sum", ""), ""),
				graph("Refusals and rejections by reason", search(metrics.MetricStopped, metrics.StoppedByReason, "Sum", ""), "")},
			{graph("Unit duration (ms, max)", search(metrics.MetricUnitDuration, metrics.PerFunction, "Maximum", ""), ""),
				graph("Lease conflicts", search(metrics.MetricLeaseConflicts, metrics.PerFunction, "Sum", ""), "")},
			{graph("Lease wait (ms, max)", search(metrics.MetricLeaseWait, metrics.PerFunction, "Maximum", ""), ""),
				graph("Stale pending records (sweep)", search(metrics.MetricStalePending, metrics.NoDimensions, "Maximum", ""), "")},
		},
	})
	var groups []interfacesawslogs.ILogGroupRef
	for _, fn := range FunctionNames {
		groups = append(groups, fns.LogGroups[fn])
	}
	query := func(key, name string, q *awslogs.QueryStringProps) {
		o.Queries[key] = awslogs.NewQueryDefinition(c, jsii.String("Query-"+key), &awslogs.QueryDefinitionProps{
			QueryDefinitionName: jsii.String(n.Base() + "/" + name),
			QueryString:         awslogs.NewQueryString(q),
			LogGroups:           &groups,
		})
	}
	fields := jsii.Strings("@timestamp", "audit.decision", "audit.op", "audit.target.kind", "audit.target.arn",
		"audit.actor.arn", "audit.writer", "audit.trigger.eventId", "audit.declarationSha256", "audit.error")
	query("resource-history", "history of a resource (edit the name or ARN)", &awslogs.QueryStringProps{
		Fields:           fields,
		FilterStatements: jsii.Strings(`audit.target.name = "team-a/app" or audit.target.arn = "team-a/app"`),
		Sort:             jsii.String("@timestamp asc"),
		Limit:            jsii.Number(1000),
	})
	query("run", "what did run R do (edit the run id)", &awslogs.QueryStringProps{
		FilterStatements: jsii.Strings(`audit.trigger.eventId = "backfill-RUNID"`),
		StatsStatements:  jsii.Strings("count(*) as records by audit.decision, audit.target.kind, audit.target.accountId, audit.target.region"),
	})
	query("refused", "refused and rejected, and why (pick today)", &awslogs.QueryStringProps{
		Fields:           jsii.Strings("@timestamp", metrics.DimFunction, "audit.decision", metrics.DimReason, "audit.target.arn", "audit.error"),
		FilterStatements: jsii.Strings(fmt.Sprintf(`audit.decision in [%q, %q]`, audit.DecisionRefused, audit.DecisionRejected)),
		Sort:             jsii.String("@timestamp desc"),
		Limit:            jsii.Number(1000),
	})
	query("hand-edits", "who edited owned statements by hand (drift reverted)", &awslogs.QueryStringProps{
		Fields:           jsii.Strings("@timestamp", "audit.actor.arn", "audit.target.arn", "audit.writer", "audit.declarationSha256", "audit.diff"),
		FilterStatements: jsii.Strings(fmt.Sprintf(`audit.decision = %q`, audit.DecisionApplied), `audit.trigger.eventType like /`+strings.Join(handEdits(), "|")+`/`),
		Sort:             jsii.String("@timestamp desc"),
		Limit:            jsii.Number(1000),
	})
	return o
}

// handEdits are the event names of the drift routes that report a hand edit
// (every drift route but the creation of a role: one the declaration names, or the execution
// role), from the route table.
func handEdits() []string {
	var out []string
	for _, r := range trigger.Routes {
		if r.Function != trigger.FnDrift || slices.Contains(r.Roles, trigger.RoleDeclared) {
			continue
		}
		for _, n := range r.EventNames() {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func sortedAlarmNames(a *Alarms) []string {
	var names []string
	for k := range a.ByName {
		names = append(names, k)
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}
