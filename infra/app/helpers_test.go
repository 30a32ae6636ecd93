package app

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// logicalID is the CloudFormation logical id of a construct's default child.
func logicalID(c constructs.IConstruct) string {
	el := c.(awscdk.CfnElement)
	return *awscdk.Stack_Of(el).GetLogicalId(el)
}

func jsonUnmarshal(s string, v interface{}) error { return json.Unmarshal([]byte(s), v) }

func configMembers(accounts []string) config.MemberSelector {
	return config.MemberSelector{Accounts: accounts}
}
