// Package app is the ecr-warden CDK app: it turns one validated declaration into the three places
// the product lives in (the hub, the management account, every member account) so that
// `cdk deploy` is the only step a platform team takes.
//
// Each concern is one construct (tables, queues, functions, event routing, sweep, alarms, the
// deploy-time backfill, the organization reader, the forwarding rules, the member StackSet); Build
// composes them into the Hub stacks (one per declared region), the Management stack(s) and the
// Members stack. cdk-nag's AwsSolutions checks run over every stack, including the member template
// the StackSet carries, and every suppression says why it is acceptable.
package app
