package app

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/metrics"
)

// Alarms fire on any function error, any message in a dead-letter queue, any refused or failed
// write and any stale pending record: each means some part of the organization is not converged
// until someone looks (or the next sweep succeeds). Every alarm has an action: the topic given as
// alarmTopicArn, else a topic this stack creates (README "Runbook" says what to do per alarm).
type Alarms struct {
	constructs.Construct
	ByName map[string]awscloudwatch.Alarm
	// Topic is the topic the stack created when none was given (nil otherwise), and Key the
	// customer managed key it is encrypted with.
	Topic awssns.Topic
	Key   awskms.Key
}

// newAlarmTopic creates the alarm topic, encrypted with a key of its own. CloudWatch alarms cannot
// publish to a topic encrypted with the AWS managed key alias/aws/sns (its key policy does not let
// cloudwatch.amazonaws.com use it, and nobody can change it), and a topic policy that only denies
// plain HTTP lets nobody publish: every alarm's action would fail, visible only in its history. So
// the key lets CloudWatch use it (kms:GenerateDataKey*, kms:Decrypt, as the CloudWatch knowledge
// center gives it; the key encrypts this topic only), and the topic lets CloudWatch publish for
// this installation's alarms (aws:SourceArn) in this account, which is where the scope is kept. The
// key's statement has no aws:SourceArn/aws:SourceAccount: AWS documents neither for CloudWatch's KMS
// calls, and a condition the request lacks would fail every alarm action (README "Unverified").
func newAlarmTopic(c constructs.Construct, n Names) (awskms.Key, awssns.Topic) {
	stack := awscdk.Stack_Of(c)
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	key := awskms.NewKey(c, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("ecr-warden: encrypts the alarm topic; CloudWatch alarms may publish with it"),
		EnableKeyRotation: jsii.Bool(true),
		// The key protects alarm notifications in flight only: it goes with the stack.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsMayPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), jsii.Bool(false))
	topic := awssns.NewTopic(c, jsii.String("AlarmTopic"), &awssns.TopicProps{
		TopicName:  jsii.String(n.Resource("alarms")),
		EnforceSSL: jsii.Bool(true),
		MasterKey:  key,
	})
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsMayPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]interface{}{
			"ArnLike":      map[string]interface{}{"aws:SourceArn": AlarmARNPattern(stack, n)},
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		},
	}))
	return key, topic
}

// AlarmARNPattern matches the ARN of every alarm of this installation in stack's region (alarm
// names are n.Resource(...)).
func AlarmARNPattern(stack awscdk.Stack, n Names) string {
	return fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", *stack.Partition(), *stack.Region(), *stack.Account(), n.Resource("*"))
}

// NewAlarms creates one alarm per function and per dead-letter queue; topicARN ("" for none)
// receives them.
func NewAlarms(scope constructs.Construct, id string, fns *Functions, q *Queues, topicARN string, n Names) *Alarms {
	c := constructs.NewConstruct(scope, &id)
	a := &Alarms{Construct: c, ByName: map[string]awscloudwatch.Alarm{}}
	var topic awssns.ITopic
	if topicARN != "" {
		region := *awscdk.Stack_Of(c).Region()
		topic = awssns.Topic_FromTopicArn(c, jsii.String("Topic"), jsii.String(strings.ReplaceAll(topicARN, "${region}", region)))
	} else {
		a.Key, a.Topic = newAlarmTopic(c, n)
		topic = a.Topic
	}
	action := awscloudwatchactions.NewSnsAction(topic)
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
		alarm.AddAlarmAction(action)
		a.ByName[name] = alarm
	}
	for _, fn := range FunctionNames {
		add(fn+"-errors", fns.ByName[fn].MetricErrors(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
			"ecr-warden "+fn+" function failed; see its log group and the audit trail")
	}
	// Lambda could not deliver a failed invocation's record to the failed-events queue (its role,
	// the queue, a size limit): the event is then lost without a dead letter, so the depth alarm
	// below would never fire for it. The role holds sqs:SendMessage alone (DeliverFailedInvocations).
	for _, fn := range FunctionNames {
		if FunctionAccess[fn].DeliverFailures {
			add(fn+"-destination-failures", fns.ByName[fn].Metric(jsii.String("DestinationDeliveryFailures"),
				&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
				"ecr-warden "+fn+" could not deliver a failed invocation to the failed-events queue: the event is lost; see README Runbook, destination-failures")
		}
	}
	for _, dl := range []struct {
		name, desc string
		queue      awssqs.Queue
	}{
		{"work-dlq-depth", "ecr-warden work units gave up: inspect, fix the cause, then run a backfill of the account and region (the work queue takes no redrive: only ecr-warden's functions send to it)", q.WorkDeadLetters},
		{"failed-events-depth", "ecr-warden events gave up: inspect, fix the cause, then run a backfill of the account and region the event names (a failed event cannot be delivered again)", q.FailedEvents},
	} {
		add(dl.name, dl.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}), dl.desc)
	}
	// The functions' own metrics (shared/metrics, printed as EMF): a refusal or a failed write in
	// the last hour, and any stale pending record the sweep found.
	hour := awscdk.Duration_Hours(jsii.Number(1))
	// The Decision dimension carries the audit record's decision (shared/audit/metrics.go).
	for _, d := range []struct {
		name     string
		decision audit.Decision
		desc     string
	}{
		{"refused", audit.DecisionRefused, "ecr-warden refused a write (guardrail, size, scope or access), AWS refused a document it wrote (aws-refused), or a member's statements were left in place without its execution role, still granting (left-in-place): see README Runbook, refused"},
		{"failed-writes", audit.DecisionFailed, "ecr-warden failed an AWS write, or could not read a document it keeps: see README Runbook, failed-writes"},
		{"ptc-validation-failed", audit.DecisionPTCValidationFailed, "a pull-through-cache rule ecr-warden wrote failed AWS's validation: see README Runbook, ptc-validation-failed"},
	} {
		add(d.name, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metrics.MetricDecisions),
			DimensionsMap: &map[string]*string{metrics.DimDecision: jsii.String(string(d.decision))}, Period: hour, Statistic: jsii.String("Sum")}), d.desc)
	}
	add("stale-pending", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metrics.MetricStalePending),
		Period: awscdk.Duration_Hours(jsii.Number(6)), Statistic: jsii.String("Maximum")}),
		"ecr-warden's sweep found writes whose outcome was never recorded: see README Runbook, stale-pending")
	return a
}
