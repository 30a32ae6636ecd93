package app

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Alarms fire on any function error and on any message in a dead-letter queue: both mean some
// part of the organization is not converged until someone looks (or the next sweep succeeds).
type Alarms struct {
	constructs.Construct
	ByName map[string]awscloudwatch.Alarm
}

// NewAlarms creates one alarm per function and per dead-letter queue; topicARN ("" for none)
// receives them.
func NewAlarms(scope constructs.Construct, id string, fns *Functions, q *Queues, topicARN string, n Names) *Alarms {
	c := constructs.NewConstruct(scope, &id)
	a := &Alarms{Construct: c, ByName: map[string]awscloudwatch.Alarm{}}
	var action awscloudwatch.IAlarmAction
	if topicARN != "" {
		region := *awscdk.Stack_Of(c).Region()
		topic := awssns.Topic_FromTopicArn(c, jsii.String("Topic"), jsii.String(strings.ReplaceAll(topicARN, "${region}", region)))
		action = awscloudwatchactions.NewSnsAction(topic)
	}
	period := awscdk.Duration_Minutes(jsii.Number(5))
	add := func(name string, metric awscloudwatch.Metric, desc string) {
		alarm := metric.CreateAlarm(c, jsii.String(name), &awscloudwatch.CreateAlarmOptions{
			AlarmName:          jsii.String(n.Resource(name)),
			AlarmDescription:   jsii.String(desc),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if action != nil {
			alarm.AddAlarmAction(action)
		}
		a.ByName[name] = alarm
	}
	for _, fn := range FunctionNames {
		add(fn+"-errors", fns.ByName[fn].MetricErrors(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
			"ecr-warden "+fn+" function failed; see its log group and the audit trail")
	}
	for _, dl := range []struct {
		name  string
		queue awssqs.Queue
	}{{"work-dlq-depth", q.WorkDeadLetters}, {"failed-events-depth", q.FailedEvents}} {
		add(dl.name, dl.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}),
			"ecr-warden dead letters waiting: inspect, fix the cause, then redrive or run a backfill")
	}
	return a
}
