"""The blind-overwrite loop that ecr-warden's issue measures it against: what a
copied sample script does today. For each account (the hub, then every member
through sts:AssumeRole), list the repositories and set every repository
policy to one fixed document, one call after another, reading nothing first.

Run by the bench (loop.go) with a JSON job on stdin; prints the number of
policies written and the seconds the loop took from its first call (the
interpreter's start and boto3's import are not charged to it; building each
account's client is, as in the script it stands for).
"""
import json
import sys
import time

import boto3
from botocore.config import Config


def main():
    job = json.load(sys.stdin)
    endpoint, region = job["endpoint"], job["region"]
    # No retries: the bench counts every call the loop makes.
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    hub = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    sts = hub.client("sts", endpoint_url=endpoint, config=config)
    writes = 0
    start = time.perf_counter()
    for account in [job["hub"]] + job["members"]:
        if account == job["hub"]:
            session = hub
        else:
            role = f"arn:aws:iam::{account}:role/{job['role']}"
            creds = sts.assume_role(RoleArn=role, RoleSessionName="blind-loop")["Credentials"]
            session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                            aws_secret_access_key=creds["SecretAccessKey"],
                                            aws_session_token=creds["SessionToken"], region_name=region)
        ecr = session.client("ecr", endpoint_url=endpoint, config=config)
        for page in ecr.get_paginator("describe_repositories").paginate():
            for repo in page["repositories"]:
                ecr.set_repository_policy(repositoryName=repo["repositoryName"], policyText=job["policy"])
                writes += 1
    json.dump({"writes": writes, "seconds": time.perf_counter() - start}, sys.stdout)


if __name__ == "__main__":
    main()
