package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/rehearsal"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

var errorCodeAbsent = []interface{}{map[string]interface{}{"exists": false}}

// rulesByName indexes a template's EventBridge rules by their Name.
func rulesByName(t *testing.T, tmpl assertions.Template) map[string]map[string]interface{} {
	t.Helper()
	out := map[string]map[string]interface{}{}
	for _, r := range resourcesOf(tmpl, "AWS::Events::Rule") {
		p := props(r)
		name, _ := p["Name"].(string)
		out[name] = p
	}
	return out
}

func TestHubRulesMatchEveryHandledEventOnBothBuses(t *testing.T) {
	localaws.NeedCDK(t)
	want := map[string]struct {
		source, fn  string
		detailTypes []string
		names       []string
		params      map[string]interface{}
	}{
		"CreateRepository":       {"aws.ecr", FnRepository, []string{DetailAPICall, DetailServiceEvent}, []string{"CreateRepository"}, nil},
		"RepositoryTags":         {"aws.ecr", FnRepository, []string{DetailAPICall}, []string{"TagResource", "UntagResource"}, nil},
		"CreatePublicRepository": {"aws.ecr-public", FnRepository, []string{DetailAPICall}, []string{"CreateRepository"}, nil},
		"OrganizationsAccount": {"aws.organizations", FnAccount, []string{DetailAPICall, DetailServiceEvent},
			[]string{"CreateAccountResult", "AccountJoinedOrganization", "AccountDepartedOrganization", "MoveAccount", "RemoveAccountFromOrganization", "CloseAccount"}, nil},
		"ControlTowerAccount": {"aws.controltower", FnAccount, []string{DetailAPICall, DetailServiceEvent},
			[]string{"CreateManagedAccount", "UpdateManagedAccount"}, nil},
		"EcrPolicyDrift": {"aws.ecr", FnDrift, []string{DetailAPICall},
			[]string{"SetRepositoryPolicy", "DeleteRepositoryPolicy", "PutRegistryPolicy", "DeleteRegistryPolicy", "UpdatePullThroughCacheRule", "DeletePullThroughCacheRule"}, nil},
		"RegistryPolicyScope": {"aws.ecr", FnDrift, []string{DetailAPICall}, []string{"PutAccountSetting"},
			map[string]interface{}{"name": []string{"REGISTRY_POLICY_SCOPE"}}},
		"EcrPublicPolicyDrift": {"aws.ecr-public", FnDrift, []string{DetailAPICall}, []string{"SetRepositoryPolicy", "DeleteRepositoryPolicy"}, nil},
		"IamRoleDrift": {"aws.iam", FnDrift, []string{DetailAPICall},
			[]string{"UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole", "DeleteRolePermissionsBoundary", "PutRolePermissionsBoundary"}, map[string]interface{}{"roleName": []string{"ecr-warden-ptc"}}},
		"IamRoleCreated": {"aws.iam", FnDrift, []string{DetailAPICall}, []string{"CreateRole"}, map[string]interface{}{"roleName": []string{"ci", "ecr-warden-execution"}}},
	}
	hub := built.Hubs["us-east-1"]
	rules := rulesByName(t, hubUS)
	if len(rules) != 2*len(want)+1 {
		t.Errorf("us-east-1 hub has %d rules, want %d (each pattern on both buses, plus the sweep): %v", len(rules), 2*len(want)+1, sortedKeys(rules))
	}
	for id, w := range want {
		detail := map[string]interface{}{"eventName": w.names, "errorCode": errorCodeAbsent}
		if w.params != nil {
			detail["requestParameters"] = w.params
		}
		if w.fn == FnDrift {
			detail["$or"] = notByOwnRoles()
		}
		pattern := map[string]interface{}{"source": []string{w.source}, "detail-type": w.detailTypes, "detail": detail}
		// Organizations and Control Tower events come only from the management account (Control
		// Tower's only from its home region, us-east-1 when the declaration names none).
		switch w.source {
		case "aws.organizations":
			pattern["account"] = []string{built.Decl.Hub.ManagementAccountID}
		case "aws.controltower":
			pattern["account"] = []string{built.Decl.Hub.ManagementAccountID}
			pattern["region"] = []string{built.Decl.Hub.ControlTowerRegion()}
		}
		fnID := logicalID(hub.Functions.ByName[w.fn].Node().DefaultChild())
		for _, bus := range []string{"custom", "default"} {
			name := fmt.Sprintf("ecr-warden-%s-%s", bus, id)
			r, ok := rules[name]
			if !ok {
				t.Errorf("no rule %s", name)
				continue
			}
			mustEqual(t, name+" pattern", r["EventPattern"], pattern)
			if bus == "custom" {
				mustEqual(t, name+" bus", r["EventBusName"], map[string]interface{}{"Ref": logicalID(hub.Routing.Bus.Node().DefaultChild())})
			} else if _, set := r["EventBusName"]; set {
				t.Errorf("%s names a bus (%v); the default bus is where the hub's own CloudTrail events arrive", name, r["EventBusName"])
			}
			mustEqual(t, name+" targets", r["Targets"], []interface{}{map[string]interface{}{
				"Arn":              map[string]interface{}{"Fn::GetAtt": []string{fnID, "Arn"}},
				"DeadLetterConfig": map[string]interface{}{"Arn": map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Queues.FailedEvents.Node().DefaultChild()), "Arn"}}},
				"Id":               "Target0",
				"RetryPolicy":      map[string]interface{}{"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8},
			}})
		}
	}
	// ECR Public and IAM events exist only in us-east-1: the eu-west-1 hub has no rules for them.
	eu := rulesByName(t, hubEU)
	for name := range eu {
		if strings.Contains(name, "Public") || strings.Contains(name, "Iam") {
			t.Errorf("eu-west-1 hub has rule %s for an event that exists only in us-east-1", name)
		}
	}
	// The sweep and the deploy-time backfill cover every region and run from the primary one only.
	if len(eu) != 2*6 {
		t.Errorf("eu-west-1 hub has %d rules, want 12 (6 routes exist in every region, on both buses): %v", len(eu), sortedKeys(eu))
	}
	if n := len(resourcesOf(hubEU, "Custom::AWS")); n != 0 {
		t.Errorf("eu-west-1 hub has %d deploy-time backfills, want 0 (the primary region's covers all)", n)
	}
}

// The hub bus admits the events of the organization's registries (from any of its principals) and
// the management account's account events (from that account only), each by source and
// detail-type, and nothing else: no custom event, no Organizations event from a member.
func TestHubBusAcceptsEventsFromTheOrganizationOnly(t *testing.T) {
	localaws.NeedCDK(t)
	hubUS.HasResourceProperties(jsii.String("AWS::Events::EventBus"), map[string]interface{}{"Name": "ecr-warden"})
	pols := resourcesOf(hubUS, "AWS::Events::EventBusPolicy")
	bySid := map[string]map[string]interface{}{}
	for _, p := range pols {
		st := props(p)["Statement"].(map[string]interface{})
		bySid[strings.TrimPrefix(st["Sid"].(string), "cdk-")] = st
	}
	if len(pols) != 2 || len(bySid) != 2 {
		t.Fatalf("%d bus policies (%v), want 2", len(pols), sortedKeys(bySid))
	}
	types := []string{DetailAPICall, DetailServiceEvent}
	registries := bySid["OrganizationMayForwardRegistryEvents"]
	mustEqual(t, "registries principal", registries["Principal"], map[string]interface{}{"AWS": "*"})
	mustEqual(t, "registries action", registries["Action"], "events:PutEvents")
	mustEqual(t, "registries condition", registries["Condition"], map[string]interface{}{
		"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
		"ForAllValues:StringEquals": map[string]interface{}{
			"events:source":      []string{"aws.ecr", "aws.ecr-public", "aws.iam"},
			"events:detail-type": types,
		},
	})
	management := bySid["ManagementMayForwardAccountEvents"]
	mustEqual(t, "management principal", management["Principal"], map[string]interface{}{"AWS": map[string]interface{}{
		"Fn::Join": []interface{}{"", []interface{}{"arn:", map[string]interface{}{"Ref": "AWS::Partition"}, ":iam::999999999999:root"}}}})
	mustEqual(t, "management action", management["Action"], "events:PutEvents")
	mustEqual(t, "management condition", management["Condition"], map[string]interface{}{
		"ForAllValues:StringEquals": map[string]interface{}{
			"events:source":      []string{"aws.controltower", "aws.organizations"},
			"events:detail-type": types,
		},
	})
	// Every route's events are admitted from where they are forwarded.
	for _, r := range trigger.Routes {
		st := registries
		if r.Origin == trigger.FromManagement {
			st = management
		}
		admit := st["Condition"].(map[string]interface{})["ForAllValues:StringEquals"].(map[string]interface{})
		if !contains(admit["events:source"], r.Source) {
			t.Errorf("route %s: source %s is not admitted by %s", r.ID, r.Source, st["Sid"])
		}
		for _, dt := range r.DetailTypes {
			if !contains(admit["events:detail-type"], dt) {
				t.Errorf("route %s: detail-type %s is not admitted by %s", r.ID, dt, st["Sid"])
			}
		}
	}
}

func TestFunctionsRunTheBuiltAssetsWithTheContractEnvironment(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	fns := resourcesOf(hubUS, "AWS::Lambda::Function")
	for _, fn := range FunctionNames {
		id := logicalID(hub.Functions.ByName[fn].Node().DefaultChild())
		p := props(fns[id])
		if p == nil {
			t.Fatalf("function %s (%s) not in the template", fn, id)
		}
		mustEqual(t, fn+" name", p["FunctionName"], Names{}.Function(fn))
		mustEqual(t, fn+" runtime", p["Runtime"], "provided.al2023")
		mustEqual(t, fn+" architecture", p["Architectures"], []string{"arm64"})
		mustEqual(t, fn+" handler", p["Handler"], "bootstrap")
		// The declaration's functions.reservedConcurrency (the example sets none: the defaults).
		mustEqual(t, fn+" reserved concurrency", p["ReservedConcurrentExecutions"], config.DefaultReservedConcurrency[fn])
		mustEqual(t, fn+" role", p["Role"], map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Functions.Roles[fn].Node().DefaultChild()), "Arn"}})
		mustEqual(t, fn+" log group", p["LoggingConfig"], map[string]interface{}{"LogGroup": map[string]interface{}{"Ref": logicalID(hub.Functions.LogGroups[fn].Node().DefaultChild())}})
		all := map[string]interface{}{
			"WARDEN_DECLARATION_FILE": "/var/task/declaration.json",
			"WARDEN_AUDIT_TABLE":      map[string]interface{}{"Ref": logicalID(hub.State.Audit.Node().DefaultChild())},
			"WARDEN_LEASE_TABLE":      map[string]interface{}{"Ref": logicalID(hub.State.Lease.Node().DefaultChild())},
			"WARDEN_WORK_QUEUE_URL":   map[string]interface{}{"Ref": logicalID(hub.Queues.Work.Node().DefaultChild())},
			"WARDEN_ORG_ROLE_ARN":     "arn:aws:iam::999999999999:role/ecr-warden-organization-reader",
			"WARDEN_SELF_ROLE_NAMES": "ecr-warden-repository-us-east-1,ecr-warden-account-us-east-1,ecr-warden-backfill-us-east-1," +
				"ecr-warden-worker-us-east-1,ecr-warden-drift-us-east-1,ecr-warden-repository-eu-west-1,ecr-warden-account-eu-west-1," +
				"ecr-warden-backfill-eu-west-1,ecr-warden-worker-eu-west-1,ecr-warden-drift-eu-west-1",
		}
		want := map[string]interface{}{}
		for _, k := range FunctionEnv[fn] {
			want[k] = all[k]
		}
		mustEqual(t, fn+" environment", p["Environment"], map[string]interface{}{"Variables": want})
	}
	for _, fn := range FunctionNames {
		hubUS.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]interface{}{
			"LogGroupName": "/aws/lambda/ecr-warden-" + fn, "RetentionInDays": 90,
		})
		hubUS.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{"RoleName": "ecr-warden-" + fn + "-us-east-1"})
		hubEU.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{"RoleName": "ecr-warden-" + fn + "-eu-west-1"})
	}
}

func TestFailuresEndInDeadLetterQueues(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	failed := logicalID(hub.Queues.FailedEvents.Node().DefaultChild())
	configs := resourcesOf(hubUS, "AWS::Lambda::EventInvokeConfig")
	byFn := map[string]map[string]interface{}{}
	for _, c := range configs {
		p := props(c)
		byFn[p["FunctionName"].(map[string]interface{})["Ref"].(string)] = p
	}
	for _, fn := range FunctionNames {
		id := logicalID(hub.Functions.ByName[fn].Node().DefaultChild())
		c, ok := byFn[id]
		if fn == FnWorker {
			if ok {
				t.Errorf("worker has an async invoke config; its failures go through the work queue's redrive policy")
			}
			continue
		}
		if !ok {
			t.Errorf("%s has no async invoke config", fn)
			continue
		}
		mustEqual(t, fn+" async config", c, map[string]interface{}{
			"FunctionName":             map[string]interface{}{"Ref": id},
			"Qualifier":                "$LATEST",
			"MaximumRetryAttempts":     2,
			"MaximumEventAgeInSeconds": 6 * 3600,
			"DestinationConfig": map[string]interface{}{"OnFailure": map[string]interface{}{
				"Destination": map[string]interface{}{"Fn::GetAtt": []string{failed, "Arn"}}}},
		})
	}
	hubUS.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]interface{}{
		"QueueName":            "ecr-warden-work",
		"VisibilityTimeout":    3600,
		"SqsManagedSseEnabled": true,
		"RedrivePolicy": map[string]interface{}{
			"deadLetterTargetArn": map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Queues.WorkDeadLetters.Node().DefaultChild()), "Arn"}},
			"maxReceiveCount":     5,
		},
	})
	hubUS.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]interface{}{
		"BatchSize":             1,
		"EventSourceArn":        map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Queues.Work.Node().DefaultChild()), "Arn"}},
		"FunctionName":          map[string]interface{}{"Ref": logicalID(hub.Functions.ByName[FnWorker].Node().DefaultChild())},
		"FunctionResponseTypes": []string{"ReportBatchItemFailures"},
		"ScalingConfig":         map[string]interface{}{"MaximumConcurrency": config.DefaultReservedConcurrency[FnWorker]}, // the worker's reserved concurrency
	})
	// Every queue refuses plain HTTP.
	for id := range resourcesOf(hubUS, "AWS::SQS::Queue") {
		hubUS.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]interface{}{
			"Queues": []interface{}{map[string]interface{}{"Ref": id}},
			"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Effect": "Deny", "Action": "sqs:*", "Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}},
			})})},
		})
	}
}

// The work queue's units are trusted by the worker (their accounts and OU paths for 15 minutes), so
// its policy denies sending to every principal but the functions that queue work (the worker among
// them: it sends on the rest of a unit that stopped before its deadline), and receiving or
// deleting to every principal but the worker, in each region, whatever their identity policies allow.
func TestWorkQueueIsOpenToEcrWardensFunctionsOnly(t *testing.T) {
	localaws.NeedCDK(t)
	for region, tmpl := range map[string]assertions.Template{"us-east-1": hubUS, "eu-west-1": hubEU} {
		hub := built.Hubs[region]
		work := logicalID(hub.Queues.Work.Node().DefaultChild())
		role := func(fn string) string { return "arn:aws:iam::111111111111:role/ecr-warden-" + fn + "-" + region }
		var stmts []interface{}
		for _, p := range resourcesOf(tmpl, "AWS::SQS::QueuePolicy") {
			if qs := props(p)["Queues"].([]interface{}); len(qs) == 1 && qs[0].(map[string]interface{})["Ref"] == work {
				stmts = props(p)["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{})
			}
		}
		bySid := map[string]interface{}{}
		for _, s := range stmts {
			if sid, ok := s.(map[string]interface{})["Sid"].(string); ok {
				bySid[sid] = s
			}
		}
		queueArn := map[string]interface{}{"Fn::GetAtt": []string{work, "Arn"}}
		mustEqual(t, region+" send guard", bySid["OnlyEcrWardenSendsWork"], map[string]interface{}{
			"Sid": "OnlyEcrWardenSendsWork", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
			"Action": "sqs:SendMessage", "Resource": queueArn,
			"Condition": map[string]interface{}{"ArnNotEquals": map[string]interface{}{
				"aws:PrincipalArn": []string{role(FnAccount), role(FnBackfill), role(FnWorker), role(FnDrift)}}},
		})
		// The worker sends on the rest of a unit that stopped before its deadline: to the queue its
		// environment names.
		worker := props(resourcesOf(tmpl, "AWS::Lambda::Function")[logicalID(hub.Functions.ByName[FnWorker].Node().DefaultChild())])
		env, _ := worker["Environment"].(map[string]interface{})
		vars, _ := env["Variables"].(map[string]interface{})
		mustEqual(t, region+" worker's work queue", vars["WARDEN_WORK_QUEUE_URL"], map[string]interface{}{"Ref": work})
		mustEqual(t, region+" consume guard", bySid["OnlyTheWorkerConsumesWork"], map[string]interface{}{
			"Sid": "OnlyTheWorkerConsumesWork", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
			"Action": []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}, "Resource": queueArn,
			"Condition": map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": []string{role(FnWorker)}}},
		})
		// A purge drops the revoking units with the rest, and nothing of ecr-warden purges.
		mustEqual(t, region+" purge guard", bySid["NobodyPurgesWork"], map[string]interface{}{
			"Sid": "NobodyPurgesWork", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
			"Action": "sqs:PurgeQueue", "Resource": queueArn,
		})
	}
}

func TestSweepRunsTheBackfillOnTheDeclaredSchedule(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	r := rulesByName(t, hubUS)[Names{}.SweepRule()]
	if r == nil {
		t.Fatal("no sweep rule")
	}
	mustEqual(t, "schedule", r["ScheduleExpression"], "rate(6 hours)")
	targets := r["Targets"].([]interface{})
	if len(targets) != 1 {
		t.Fatalf("sweep has %d targets", len(targets))
	}
	tg := targets[0].(map[string]interface{})
	mustEqual(t, "sweep target", tg["Arn"], map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Functions.ByName[FnBackfill].Node().DefaultChild()), "Arn"}})
	if _, ok := tg["Input"]; ok {
		t.Errorf("sweep target overrides the event (%v); the backfill recognises the plain scheduled event", tg["Input"])
	}
	mustEqual(t, "sweep DLQ", tg["DeadLetterConfig"], map[string]interface{}{"Arn": map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Queues.FailedEvents.Node().DefaultChild()), "Arn"}}})
}

func TestAlarmsCoverFunctionErrorsAndDeadLetters(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	alarms := resourcesOf(hubUS, "AWS::CloudWatch::Alarm")
	// One errors alarm per function, one destination-failures alarm per function with an on-failure
	// destination (since 2026-12-04), and six more.
	want := len(FunctionNames) + 6
	for _, fn := range FunctionNames {
		if FunctionAccess[fn].DeliverFailures {
			want++
		}
	}
	if len(alarms) != want {
		t.Errorf("%d alarms, want %d", len(alarms), want)
	}
	// A failed pull-through-cache rule validation is not a failed write, and alarms on its own.
	hubUS.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{"AlarmName": "ecr-warden-ptc-validation-failed",
		"Namespace": "ecr-warden", "MetricName": "Decisions", "Dimensions": []interface{}{map[string]interface{}{"Name": "Decision", "Value": "ptc-validation-failed"}}})
	// Every alarm reaches someone: the topic the stack creates when none is given.
	topic := logicalID(hub.Alarms.Topic.Node().DefaultChild())
	for id, a := range alarms {
		acts, _ := props(a)["AlarmActions"].([]interface{})
		if len(acts) != 1 || !strings.Contains(fmt.Sprint(acts[0]), topic) {
			t.Errorf("alarm %s has actions %v, want the alarm topic %s", id, acts, topic)
		}
	}
	common := map[string]interface{}{"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1, "EvaluationPeriods": 1,
		"Period": 300, "TreatMissingData": "notBreaching"}
	for _, fn := range FunctionNames {
		p := map[string]interface{}{"AlarmName": "ecr-warden-" + fn + "-errors", "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
			"Dimensions": []interface{}{map[string]interface{}{"Name": "FunctionName", "Value": map[string]interface{}{"Ref": logicalID(hub.Functions.ByName[fn].Node().DefaultChild())}}}}
		for k, v := range common {
			p[k] = v
		}
		hubUS.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), p)
	}
	// A failed invocation Lambda could not hand to the failed-events queue is lost: every function
	// with that destination is alarmed on DestinationDeliveryFailures.
	for _, fn := range FunctionNames {
		if !FunctionAccess[fn].DeliverFailures {
			continue
		}
		p := map[string]interface{}{"AlarmName": "ecr-warden-" + fn + "-destination-failures", "Namespace": "AWS/Lambda",
			"MetricName": "DestinationDeliveryFailures", "Statistic": "Sum",
			"Dimensions": []interface{}{map[string]interface{}{"Name": "FunctionName", "Value": map[string]interface{}{"Ref": logicalID(hub.Functions.ByName[fn].Node().DefaultChild())}}}}
		for k, v := range common {
			p[k] = v
		}
		hubUS.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), p)
	}
	for name, q := range map[string]string{"work-dlq-depth": logicalID(hub.Queues.WorkDeadLetters.Node().DefaultChild()),
		"failed-events-depth": logicalID(hub.Queues.FailedEvents.Node().DefaultChild())} {
		p := map[string]interface{}{"AlarmName": "ecr-warden-" + name, "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
			"Statistic": "Maximum", "Dimensions": []interface{}{map[string]interface{}{"Name": "QueueName", "Value": map[string]interface{}{"Fn::GetAtt": []string{q, "QueueName"}}}}}
		for k, v := range common {
			p[k] = v
		}
		hubUS.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), p)
	}
}

// CloudWatch alarms can publish to the alarm topic: it is encrypted with a key of the stack whose
// policy lets cloudwatch.amazonaws.com use it (not alias/aws/sns, whose policy does not and cannot),
// and the topic policy lets CloudWatch publish for every alarm of the installation.
func TestAlarmTopicLetsCloudWatchAlarmsPublish(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	key := logicalID(hub.Alarms.Key.Node().DefaultChild())
	topic := logicalID(hub.Alarms.Topic.Node().DefaultChild())
	mustEqual(t, "topic key", props(resourcesOf(hubUS, "AWS::SNS::Topic")[topic])["KmsMasterKeyId"],
		map[string]interface{}{"Fn::GetAtt": []string{key, "Arn"}})
	k := props(resourcesOf(hubUS, "AWS::KMS::Key")[key])
	mustEqual(t, "key rotation", k["EnableKeyRotation"], true)
	var keyGrant, publish interface{}
	for _, s := range k["KeyPolicy"].(map[string]interface{})["Statement"].([]interface{}) {
		if s.(map[string]interface{})["Sid"] == "CloudWatchAlarmsMayPublish" {
			keyGrant = s
		}
	}
	mustEqual(t, "key grant", keyGrant, map[string]interface{}{
		"Sid": "CloudWatchAlarmsMayPublish", "Effect": "Allow", "Principal": map[string]interface{}{"Service": "cloudwatch.amazonaws.com"},
		"Action": []string{"kms:Decrypt", "kms:GenerateDataKey*"}, "Resource": "*",
	})
	for _, p := range resourcesOf(hubUS, "AWS::SNS::TopicPolicy") {
		for _, s := range props(p)["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			if s.(map[string]interface{})["Sid"] == "CloudWatchAlarmsMayPublish" {
				publish = s
			}
		}
	}
	pattern := "arn:aws:cloudwatch:us-east-1:111111111111:alarm:ecr-warden-*"
	mustEqual(t, "topic grant", publish, map[string]interface{}{
		"Sid": "CloudWatchAlarmsMayPublish", "Effect": "Allow", "Principal": map[string]interface{}{"Service": "cloudwatch.amazonaws.com"},
		"Action": "sns:Publish", "Resource": map[string]interface{}{"Ref": topic},
		"Condition": map[string]interface{}{
			"ArnLike": map[string]interface{}{"aws:SourceArn": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
				"arn:", map[string]interface{}{"Ref": "AWS::Partition"}, ":cloudwatch:us-east-1:111111111111:alarm:ecr-warden-*"}}}},
			"StringEquals": map[string]interface{}{"aws:SourceAccount": "111111111111"},
		},
	})
	// Every alarm of the stack is one the grant covers.
	for id, a := range resourcesOf(hubUS, "AWS::CloudWatch::Alarm") {
		name, _ := props(a)["AlarmName"].(string)
		if !strings.HasPrefix("arn:aws:cloudwatch:us-east-1:111111111111:alarm:"+name, strings.TrimSuffix(pattern, "*")) {
			t.Errorf("alarm %s (%s) is not covered by the topic grant %s", id, name, pattern)
		}
	}
}

func TestTablesMatchTheAuditAndLeaseSchemas(t *testing.T) {
	localaws.NeedCDK(t)
	s := func(n string) map[string]interface{} {
		return map[string]interface{}{"AttributeName": n, "AttributeType": "S"}
	}
	gsi := func(name, hash string) map[string]interface{} {
		return map[string]interface{}{"IndexName": name, "Projection": map[string]interface{}{"ProjectionType": "ALL"},
			"KeySchema": []interface{}{map[string]interface{}{"AttributeName": hash, "KeyType": "HASH"}, map[string]interface{}{"AttributeName": "sk", "KeyType": "RANGE"}}}
	}
	hubUS.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]interface{}{
		"DeletionPolicy": "Retain",
		"Properties": map[string]interface{}{
			"TableName":                        "ecr-warden-audit",
			"BillingMode":                      "PAY_PER_REQUEST",
			"KeySchema":                        []interface{}{map[string]interface{}{"AttributeName": "pk", "KeyType": "HASH"}, map[string]interface{}{"AttributeName": "sk", "KeyType": "RANGE"}},
			"AttributeDefinitions":             []interface{}{s("pk"), s("sk"), s("day"), s("name"), s("pending")},
			"GlobalSecondaryIndexes":           []interface{}{gsi("by-day", "day"), gsi("by-name", "name"), gsi("by-pending", "pending")},
			"TimeToLiveSpecification":          map[string]interface{}{"AttributeName": "expiresAt", "Enabled": true},
			"SSESpecification":                 map[string]interface{}{"SSEEnabled": true},
			"PointInTimeRecoverySpecification": map[string]interface{}{"PointInTimeRecoveryEnabled": true},
			"DeletionProtectionEnabled":        true,
		},
	})
	// The lease table's key and TTL are the attributes shared/lease writes.
	hubUS.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]interface{}{
		"TableName":               "ecr-warden-lease",
		"BillingMode":             "PAY_PER_REQUEST",
		"KeySchema":               []interface{}{map[string]interface{}{"AttributeName": lease.AttrPK, "KeyType": "HASH"}},
		"TimeToLiveSpecification": map[string]interface{}{"AttributeName": lease.AttrExpiresAt, "Enabled": true},
		"SSESpecification":        map[string]interface{}{"SSEEnabled": true},
	})
}

// The audit trail is evidence: in each region only that region's functions that record decisions
// may write an item of it, whatever a principal's identity policy allows, and nobody may delete one.
// The lease table (leases and the hub's mailbox, whose entries the next holder writes into the
// hub's grants) is written only by the functions that take leases, of every hub region, and by the
// backfill, which remembers there the members its full runs configured.
func TestStateIsWrittenOnlyByEcrWarden(t *testing.T) {
	localaws.NeedCDK(t)
	for region, tmpl := range map[string]assertions.Template{"us-east-1": hubUS, "eu-west-1": hubEU} {
		audit := props(resourcesOf(tmpl, "AWS::DynamoDB::Table")[logicalID(built.Hubs[region].State.Audit.Node().DefaultChild())])
		table := "arn:aws:dynamodb:" + region + ":111111111111:table/ecr-warden-audit"
		var writers []string
		for _, fn := range []string{FnRepository, FnAccount, FnBackfill, FnWorker, FnDrift} {
			writers = append(writers, "arn:aws:iam::111111111111:role/ecr-warden-"+fn+"-"+region)
		}
		mustEqual(t, region+" audit table policy", audit["ResourcePolicy"], map[string]interface{}{"PolicyDocument": map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{
				map[string]interface{}{"Sid": "OnlyEcrWardenRecords", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
					"Action":    []string{"dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PutItem", "dynamodb:UpdateItem"},
					"Resource":  table,
					"Condition": map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": writers}}},
				map[string]interface{}{"Sid": "NobodyDeletesRecords", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
					"Action": []string{"dynamodb:DeleteItem", "dynamodb:PartiQLDelete"}, "Resource": table},
			},
		}})
		lease := props(resourcesOf(tmpl, "AWS::DynamoDB::Table")[logicalID(built.Hubs[region].State.Lease.Node().DefaultChild())])
		var takers []string
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			for _, fn := range []string{FnRepository, FnAccount, FnBackfill, FnWorker, FnDrift} {
				takers = append(takers, "arn:aws:iam::111111111111:role/ecr-warden-"+fn+"-"+r)
			}
		}
		mustEqual(t, region+" lease table policy", lease["ResourcePolicy"], map[string]interface{}{"PolicyDocument": map[string]interface{}{
			"Version": "2012-10-17",
			"Statement": []interface{}{
				map[string]interface{}{"Sid": "OnlyEcrWardenTakesLeases", "Effect": "Deny", "Principal": map[string]interface{}{"AWS": "*"},
					"Action": []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PartiQLDelete", "dynamodb:PartiQLInsert",
						"dynamodb:PartiQLUpdate", "dynamodb:PutItem", "dynamodb:UpdateItem"},
					"Resource":  "arn:aws:dynamodb:" + region + ":111111111111:table/ecr-warden-lease",
					"Condition": map[string]interface{}{"ArnNotEquals": map[string]interface{}{"aws:PrincipalArn": takers}}},
			},
		}})
	}
}

func TestDeployRunsTheBackfillWheneverTheDeclarationChanges(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	crs := resourcesOf(hubUS, "Custom::AWS")
	if len(crs) != 1 {
		t.Fatalf("%d Custom::AWS resources, want 1", len(crs))
	}
	backfill := logicalID(hub.Functions.ByName[FnBackfill].Node().DefaultChild())
	for _, r := range crs {
		for _, key := range []string{"Create", "Update"} {
			join := props(r)[key].(map[string]interface{})["Fn::Join"].([]interface{})[1].([]interface{})
			call := join[0].(string) + "FN" + join[2].(string)
			mustEqual(t, key+" function", join[1], map[string]interface{}{"Ref": backfill})
			var parsed map[string]interface{}
			if err := jsonUnmarshal(call, &parsed); err != nil {
				t.Fatalf("%s call is not JSON: %v\n%s", key, err, call)
			}
			mustEqual(t, key+" call", parsed, map[string]interface{}{
				"service": "Lambda", "action": "invoke",
				"parameters": map[string]interface{}{"FunctionName": "FN", "InvocationType": "Event",
					"Payload": `{"action":"backfill","targets":{"all":true},"dryRun":false,"requireCleanPlan":true}`},
				"physicalResourceId": map[string]interface{}{"id": "backfill-" + built.Decl.SHA256},
			})
		}
		deps := r["DependsOn"].([]interface{})
		for _, want := range []string{backfill, logicalID(hub.State.Audit.Node().DefaultChild()), logicalID(hub.Queues.Work.Node().DefaultChild())} {
			if !contains(deps, want) {
				t.Errorf("the deploy-time backfill does not wait for %s (depends on %v)", want, deps)
			}
		}
	}
	if len(built.Decl.SHA256) != 64 {
		t.Errorf("declaration hash %q is not a SHA-256", built.Decl.SHA256)
	}
}

// TestRehearsalSendsTheDeployPayload: `local` leaves the custom resource out and the rehearsal sends
// its payload itself, so the two must be the same bytes.
func TestRehearsalSendsTheDeployPayload(t *testing.T) {
	if got, want := rehearsal.DeployBackfillPayload, DeployBackfillPayload(false); got != want {
		t.Errorf("rehearsal sends %s, the custom resource %s", got, want)
	}
}

// TestDashboardAlarmsAndQueriesAreGolden pins the dashboard, the metric alarms, the alarm topic and
// the saved Logs Insights queries of the hub stack; the dashboard's SEARCH expressions use the
// dimension sets of shared/metrics, which the functions' EMF lines carry (shared/audit tests).
func TestDashboardAlarmsAndQueriesAreGolden(t *testing.T) {
	localaws.NeedCDK(t)
	out := map[string]interface{}{}
	for _, typ := range []string{"AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::Logs::QueryDefinition"} {
		rs := resourcesOf(hubUS, typ)
		for _, id := range sortedKeys(rs) {
			out[typ+" "+id] = props(rs[id])
		}
	}
	if n := len(resourcesOf(hubUS, "AWS::Logs::QueryDefinition")); n != 4 {
		t.Errorf("%d query definitions, want 4", n)
	}
	body := fmt.Sprint(out)
	for _, want := range []string{"Decisions", "StalePending", "audit.trigger.eventId", "audit.decision in"} {
		if !strings.Contains(body, want) {
			t.Errorf("observability resources lack %q", want)
		}
	}
	// The refused alarm's description is what its notification says: every kind of refusal it
	// counts, so the reader knows a document AWS refused, or statements left in place (still
	// granting), are among them.
	for id, r := range resourcesOf(hubUS, "AWS::CloudWatch::Alarm") {
		desc := fmt.Sprint(props(r)["AlarmDescription"])
		if !strings.HasPrefix(desc, "ecr-warden refused") {
			continue
		}
		for _, want := range []string{"guardrail", "aws-refused", "left-in-place"} {
			if !strings.Contains(desc, want) {
				t.Errorf("alarm %s: description %q does not name %q", id, desc, want)
			}
		}
	}
	goldenFile(t, "hub-us-east-1-observability", out)
}
