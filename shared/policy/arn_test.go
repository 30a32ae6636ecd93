package policy

import (
	"strings"
	"testing"
)

func TestARNBuilders(t *testing.T) {
	cases := map[string]string{
		RepositoryARN("aws", "us-east-1", "111111111111", "team-a/app"):         "arn:aws:ecr:us-east-1:111111111111:repository/team-a/app",
		RepositoryARN("aws-cn", "cn-north-1", "111111111111", "x"):              "arn:aws-cn:ecr:cn-north-1:111111111111:repository/x",
		RegistryResourceARN("aws-us-gov", "us-gov-west-1", "111111111111", ""):  "arn:aws-us-gov:ecr:us-gov-west-1:111111111111:repository/*",
		RegistryResourceARN("aws", "eu-west-1", "111111111111", "/docker-hub/"): "arn:aws:ecr:eu-west-1:111111111111:repository/docker-hub/*",
		RegistryARN("aws", "eu-west-1", "111111111111"):                         "arn:aws:ecr:eu-west-1:111111111111:repository/*",
		AccountRootARN("aws-cn", "222222222222"):                                "arn:aws-cn:iam::222222222222:root",
		RoleARN("aws", "222222222222", "ecr-warden-ptc"):                        "arn:aws:iam::222222222222:role/ecr-warden-ptc",
		RoleARN("aws", "222222222222", "/team/ci"):                              "arn:aws:iam::222222222222:role/team/ci",
		PublicRepositoryARN("111111111111", "tools/cli"):                        "arn:aws:ecr-public::111111111111:repository/tools/cli",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
		if _, err := ParseARN(got); err != nil {
			t.Errorf("ParseARN(%s): %v", got, err)
		}
	}
}

func TestParseARN(t *testing.T) {
	a, err := ParseARN("arn:aws:ecr:us-east-1:111111111111:repository/a/b:c")
	if err != nil {
		t.Fatal(err)
	}
	if a.Partition != "aws" || a.Service != "ecr" || a.Region != "us-east-1" || a.AccountID != "111111111111" || a.Resource != "repository/a/b:c" {
		t.Fatalf("parsed %+v", a)
	}
	if a.String() != "arn:aws:ecr:us-east-1:111111111111:repository/a/b:c" {
		t.Fatalf("String() = %s", a)
	}
	for _, bad := range []string{"", "arn:aws:ecr", "urn:aws:ecr:us-east-1:111111111111:x", "arn:aws-mars:ecr::111111111111:x",
		"arn:aws::us-east-1:111111111111:x", "arn:aws:ecr:us-east-1:1111:x", "arn:aws:ecr:us-east-1:111111111111:"} {
		if _, err := ParseARN(bad); err == nil {
			t.Errorf("ParseARN(%q) succeeded", bad)
		}
	}
}

func TestValidators(t *testing.T) {
	if !ValidAccountID("012345678901") || ValidAccountID("12345678901") || ValidAccountID("1234567890123") || ValidAccountID("12345678901a") {
		t.Error("ValidAccountID")
	}
	// ECR's private names take the OCI grammar ("__", runs of "-"); ECR
	// Public's the older one.
	for _, ok := range []string{"ab", "team-a/app", "a.b_c-d/e", "base__debug", "team-a/my--app", "a---b/c__d"} {
		if !ValidRepositoryName(ok) {
			t.Errorf("ValidRepositoryName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"a", "Team/app", "a//b", "-a", "a/", "a___b", "a_-b", "a--", "__a", "a..b", strings.Repeat("a", 257)} {
		if ValidRepositoryName(bad) {
			t.Errorf("ValidRepositoryName(%q) = true", bad)
		}
	}
	for _, ok := range []string{"ab", "tools/scanner", "a.b_c-d/e"} {
		if !ValidPublicRepositoryName(ok) {
			t.Errorf("ValidPublicRepositoryName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"a", "base__debug", "my--app", "a/", strings.Repeat("a", 206)} {
		if ValidPublicRepositoryName(bad) {
			t.Errorf("ValidPublicRepositoryName(%q) = true", bad)
		}
	}
	for _, ok := range []string{"us-east-1", "cn-north-1", "us-gov-west-1", "ap-southeast-2"} {
		if !ValidRegion(ok) {
			t.Errorf("ValidRegion(%q) = false", ok)
		}
	}
	if ValidRegion("useast1") || ValidPartition("aws-mars") || !ValidPartition("aws-us-gov") {
		t.Error("ValidRegion/ValidPartition")
	}
	if id, ok := accountOfRoot("arn:aws-us-gov:iam::123456789012:root"); !ok || id != "123456789012" {
		t.Error("accountOfRoot")
	}
	if _, ok := accountOfRoot("arn:aws:iam::123456789012:role/root"); ok {
		t.Error("accountOfRoot accepted a role")
	}
}

// TestGlobalEventsRegionsPerPartition: the one table of where IAM's and Organizations' events are
// delivered. Each region is in its own partition (a StackSet instance or stack outside the
// partition fails), aws is us-east-1 for both (the aws templates did not change with the table),
// China splits them (IAM's control plane in Beijing, Organizations' endpoint in Ningxia), and the
// default partition "" reads as aws.
func TestGlobalEventsRegionsPerPartition(t *testing.T) {
	want := map[string]GlobalRegions{
		PartitionAWS:      {IAM: "us-east-1", Organizations: "us-east-1"},
		PartitionGovCloud: {IAM: "us-gov-west-1", Organizations: "us-gov-west-1"},
		PartitionChina:    {IAM: "cn-north-1", Organizations: "cn-northwest-1"},
	}
	for _, p := range []string{PartitionAWS, PartitionGovCloud, PartitionChina} {
		g, ok := PartitionGlobalRegions(p)
		if !ok || g != want[p] {
			t.Errorf("%s: %+v (%v), want %+v", p, g, ok, want[p])
		}
		if IAMEventsRegion(p) != want[p].IAM || OrganizationsEventsRegion(p) != want[p].Organizations {
			t.Errorf("%s: IAM %s, Organizations %s; want %+v", p, IAMEventsRegion(p), OrganizationsEventsRegion(p), want[p])
		}
		for _, r := range []string{g.IAM, g.Organizations} {
			if !ValidRegion(r) || RegionPartition(r) != p {
				t.Errorf("%s: region %q is not a region of the partition", p, r)
			}
		}
	}
	if len(partitionGlobalRegions) != len(want) {
		t.Errorf("the table has %d partitions, want exactly the %d supported ones", len(partitionGlobalRegions), len(want))
	}
	if g, ok := PartitionGlobalRegions(""); !ok || g != want[PartitionAWS] {
		t.Errorf("default partition: %+v (%v), want aws's", g, ok)
	}
	if _, ok := PartitionGlobalRegions("aws-iso"); ok {
		t.Error("an unsupported partition has a row")
	}
}
