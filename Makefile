# ecr-warden: every command a user or CI runs. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
PYTHON ?= python3
EMULATOR_PORT ?= 5000
FUNCTIONS := repository account backfill worker drift
TOOLS := $(CURDIR)/.tools
CDK := $(TOOLS)/node_modules/.bin/cdk
CDK_CLI_VERSION := 2.1148.1
MOTO_VERSION := 5.2.1
CFN_LINT_VERSION := 1.51.0
DECLARATION ?= infra/declaration.json
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: bootstrap-args backfill-status backfill bench golden fuzz help tools moto cfn-lint cdk-cli iamsim truthtable build build-host test test-short gotest lint demo emulator invoke audit doctor synth diff plan deploy deploy-local deploy-local-report destroy import bootstrap clean staticcheck

help: ## list the targets
	@echo 'Start with: make demo (the main job end to end on a local AWS, ~20 s) and make test (everything, ~10 min); make test-short is the fast lane.'
	@echo 'Operating: make plan before a deploy, make audit RESOURCE=|RUN=|SUMMARIES=1 after, make doctor for the prerequisites (README "What an operator runs").'
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

## ---- tools: installed on demand so a fresh machine needs nothing by hand
tools: moto cfn-lint cdk-cli staticcheck iamsim ## install moto, cfn-lint, the CDK CLI, staticcheck and the IAM simulator if missing

moto:
	@$(PYTHON) -c 'import moto.server' 2>/dev/null || $(PYTHON) -m pip install --quiet 'moto[server]==$(MOTO_VERSION)'

# The infra tests and make synth run cfn-lint on the synthesized templates.
cfn-lint:
	@command -v cfn-lint >/dev/null || $(PYTHON) -m pip install --quiet 'cfn-lint==$(CFN_LINT_VERSION)'
	@command -v cfn-lint >/dev/null || { echo "cfn-lint: installed with $(PYTHON) -m pip but not on PATH: add pip's scripts directory ($$($(PYTHON) -m site --user-base)/bin, or the interpreter's bin) to PATH" >&2; exit 1; }

# The independent IAM evaluator of the truth-table test (shared/devtools/iamsim), pinned by its lock file.
iamsim: $(TOOLS)/iamsim/node_modules/@cloud-copilot/iam-simulate/package.json
$(TOOLS)/iamsim/node_modules/@cloud-copilot/iam-simulate/package.json: shared/devtools/iamsim/package-lock.json
	mkdir -p $(TOOLS)/iamsim
	cp shared/devtools/iamsim/package.json shared/devtools/iamsim/package-lock.json $(TOOLS)/iamsim/
	cd $(TOOLS)/iamsim && npm ci --silent --no-audit --no-fund

truthtable: iamsim ## the IAM truth table: example declaration + 200 random ones, shrunk forged documents for 100 more, foreign statements, hand edits and ECR Public grants, evaluated by @cloud-copilot/iam-simulate
	$(GO) test -count=1 -v -timeout 20m -run TruthTable ./shared/devtools/iamsim

cdk-cli: $(CDK)
$(CDK):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) aws-cdk@$(CDK_CLI_VERSION)

## ---- build
# touch: go build leaves an up-to-date binary untouched, and synth compares its time with the sources.
build: ## Lambda bootstrap binaries (linux/arm64) with the declaration, into build/lambda/<fn>/
	@for fn in $(FUNCTIONS); do \
	  mkdir -p build/lambda/$$fn; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/lambda/$$fn/bootstrap ./functions/$$fn; \
	  touch build/lambda/$$fn/bootstrap; \
	  cp $(DECLARATION) build/lambda/$$fn/declaration.json; \
	done

build-host: ## the same binaries for this host, for the local Lambda runtime
	@for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/host/$$fn/bootstrap ./functions/$$fn; \
	done

## ---- the two commands
test: tools lint gotest deploy-local-report ## everything: lint, unit, golden, property, integration (moto + real binaries), CDK assertions, cdk-nag, cfn-lint

# -p 1: the integration tests each run moto and real Lambda processes; on 2 cores, one package at a
# time is faster than contention (2m20s against 3m30s) and keeps timing-sensitive retries honest.
gotest:
	$(GO) test -count=1 -p 1 -timeout 20m ./...

# The fast lane: every test that needs nothing but Go (go test -short; the ones that need the local AWS,
# the real binaries or the CDK skip, saying they run in make test), run with a PATH that holds go and
# gofmt only, so a test that would start Python, Node or the CDK fails loudly instead of passing here
# because they happen to be installed. The C toolchain go uses (go env CC, as, ld) stays, so cgo and
# the build cache are the same as in every other go command.
test-short: ## the fast lane: go test -short ./... with only Go on PATH (no Python, Node, CDK), well under a minute
	@lane=$$(mktemp -d); trap 'rm -rf "$$lane"' EXIT; \
	  for t in "$$(command -v $(GO))" "$$(dirname "$$(command -v $(GO))")/gofmt" $$(command -v "$$($(GO) env CC)" as ld); do ln -s "$$t" "$$lane/$$(basename "$$t")"; done; \
	  PATH="$$lane" PYTHON=python3 go test -short -count=1 $(ARGS) ./...

# The deploy rehearsal runs inside gotest (shared/devtools/rehearsal); its log names what the local AWS skipped.
deploy-local-report:
	@echo "deploy rehearsal (shared/devtools/rehearsal, see build/deploy-local.log):"; sed -n '/skipped (not created/,/^running deployed/p' build/deploy-local.log | grep -v '^running'

demo: moto ## the main job end to end on the local AWS
	$(GO) run ./shared/devtools/demo/cmd/demo -declaration '$(SEED_DECLARATION)' $(ARGS)

## ---- quality
STATICCHECK_VERSION := v0.7.0
STATICCHECK := $(TOOLS)/bin/staticcheck-$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
$(STATICCHECK):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/bin/staticcheck $@

lint: staticcheck ## gofmt, go vet, staticcheck (pinned; cfn-lint runs on the synthesized templates inside the infra tests)
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.tools/*' -not -path './build/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

golden: ## regenerate every golden file in the module after an intended change (then review git diff)
	$(GO) test -count=1 -p 1 -timeout 20m ./... -update

fuzz: ## FUZZTIME=60s: run every fuzz target for a while (their seed corpora run in make test)
	@for t in "FuzzParse ./shared/trigger" "FuzzParse ./shared/config" "FuzzParse ./shared/policy" "FuzzStringList ./shared/policy" "FuzzDocument ./shared/plan"; do \
	  set -- $$t; $(GO) test -run '^$$' -fuzz "^$$1$$" -fuzztime $${FUZZTIME:-60s} $$2; done

## ---- local AWS and local Lambda
emulator: moto ## [SEED=demo] [LOG=1] the local AWS in the foreground on 127.0.0.1:EMULATOR_PORT (default 5000); SEED=demo builds the demo organization and prints the exports; LOG=1 also prints moto's request log
	$(GO) run ./shared/devtools/localaws/cmd/localaws -port $(EMULATOR_PORT) $(if $(LOG),,-quiet) $(if $(SEED),-seed $(SEED) -declaration $(SEED_DECLARATION))

# The seed and the demo map the example's ids onto the ones they create. A shell that sourced
# build/emulator/env.sh exports DECLARATION as a seed's output, whose ids are already mapped (and gone
# once that emulator stops): both take the example again instead.
SEED_DECLARATION = $(if $(filter $(CURDIR)/build/emulator/declaration.json,$(abspath $(DECLARATION))),infra/declaration.json,$(DECLARATION))

invoke: ## FN=<function> EVENT=<file> [DECLARATION=<file> (or CONFIG=)] [ARGS="-repeat 20"]: run the real binary under the local runtime (the command exits 1 function failed, 2 bad input; make exits 2 for either)
	@$(GO) run ./shared/devtools/lambdalocal/cmd/invoke -fn '$(FN)' -event '$(EVENT)' -declaration '$(or $(CONFIG),$(DECLARATION))' $(ARGS)

audit: ## RESOURCE=<arn or name> | RUN=<run id> | ACCOUNT=<id> | SUMMARIES=1 | SINCE=1h [ARGS="-json -decision refused -regions hub"]: the audit trail
	@$(GO) run ./shared/audit/cmd/audit $(if $(RESOURCE),-resource '$(RESOURCE)') $(if $(RUN),-run '$(RUN)') $(if $(ACCOUNT),-account '$(ACCOUNT)') $(if $(SUMMARIES),-summaries -since $(or $(SINCE),24h),$(if $(SINCE),-since $(SINCE))) $(ARGS)

doctor: ## [DECLARATION=<file> (or CONFIG=)] [CT_REGION=<region>] [ARGS="-reader-role R -delegated-admin A"]: check the prerequisites with your own read-only credentials
	@$(GO) run ./shared/doctor/cmd/doctor -declaration '$(or $(CONFIG),$(DECLARATION))' $(if $(CT_REGION),-control-tower-home-region '$(CT_REGION)') $(ARGS)

## ---- CDK (see README "Deploying"; every context key of the app has a variable here)
# Named variables map to the app's context keys; CDK_CONTEXT="key=value key2=value2" passes any
# other (or the same) keys verbatim, last one wins.
CT_REGION ?=
ORG_ROOT ?=
ALARM_TOPIC ?=
STACKSET_CALL_AS ?=
STACKSET_ACCOUNT ?=
NAME_PREFIX ?=
ALLOW_REFUSALS ?=
CDK_CONTEXT ?=
APPROVAL ?= broadening
STACKS ?= --all
CDK_ARGS = -c declaration=$(DECLARATION) -c assetRoot=build/lambda \
  $(if $(CT_REGION),-c controlTowerHomeRegion=$(CT_REGION)) \
  $(if $(ORG_ROOT),-c organizationRootId=$(ORG_ROOT)) \
  $(if $(ALARM_TOPIC),-c alarmTopicArn=$(ALARM_TOPIC)) \
  $(if $(STACKSET_CALL_AS),-c stackSetCallAs=$(STACKSET_CALL_AS)) \
  $(if $(STACKSET_ACCOUNT),-c stackSetAccountId=$(STACKSET_ACCOUNT)) \
  $(if $(NAME_PREFIX),-c namePrefix=$(NAME_PREFIX)) \
  $(if $(ALLOW_REFUSALS),-c allowRefusals=$(ALLOW_REFUSALS)) \
  $(foreach kv,$(CDK_CONTEXT),-c $(kv))

synth: build cdk-cli cfn-lint ## synthesize every stack (declaration validation, bootstrap checks, cdk-nag), then cfn-lint the templates
	$(CDK) synth --quiet $(CDK_ARGS)
	cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

diff: build cdk-cli ## what a deploy would change in the templates (credentials for each stack's account); `make plan` shows the declaration's effect
	$(CDK) diff $(STACKS) $(CDK_ARGS)

# MGMT_REGION is the management stack's region: where Organizations delivers its events
# (policy.PartitionGlobalRegions): us-east-1 in aws, us-gov-west-1 in aws-us-gov, cn-northwest-1 in aws-cn.
MGMT_REGION ?= us-east-1
bootstrap: bootstrap-args cdk-cli ## HUB=<acct> MGMT=<acct> REGIONS="us-east-1 eu-west-1" [CT_REGION=<region>] [MGMT_REGION=us-east-1; us-gov-west-1 or cn-northwest-1 in the other partitions]
	$(CDK) bootstrap $(foreach r,$(REGIONS),aws://$(HUB)/$(r)) aws://$(MGMT)/$(MGMT_REGION) $(if $(CT_REGION),aws://$(MGMT)/$(CT_REGION))

# bootstrap-args runs before the CDK CLI is installed, so a command missing
# its accounts or regions says so at once instead of after an npm install.
bootstrap-args:
	@missing="$(if $(HUB),,HUB=<hub account id> )$(if $(MGMT),,MGMT=<management account id> )$(if $(REGIONS),,REGIONS=\"<the declaration's hub.regions>\")"; \
	  if [ -n "$$missing" ]; then echo "bootstrap: say which accounts and regions: make bootstrap $$missing (README \"Deploying\")" >&2; exit 2; fi

MEMBER_ROLE ?=
ORG_ROLE ?=
plan: moto ## [DECLARATION=...] [MEMBER_ROLE=OrganizationAccountAccessRole] [ORG_ROLE=<reader role ARN>, default WARDEN_ORG_ROLE_ARN] [ARGS=-json]: what a deploy of the declaration would change (the backfill's dry run, run here with your own read-only credentials)
	$(GO) run ./shared/devtools/plan/cmd/plan -declaration '$(DECLARATION)' $(if $(MEMBER_ROLE),-member-role '$(MEMBER_ROLE)') $(if $(ORG_ROLE),-org-role '$(ORG_ROLE)') $(ARGS)

deploy-local: moto cdk-cli ## the deploy rehearsal: every stack on the local AWS's CloudFormation, the deployed functions run, events replayed, destroy and reinstall
	$(GO) run ./shared/devtools/rehearsal/cmd/rehearsal

deploy: build cdk-cli ## [STACKS=...] [APPROVAL=broadening|any-change|never] [DEPLOY_FLAGS=...]: builds, then deploys Management, Members, Hub-* in order
	$(CDK) deploy $(STACKS) --require-approval $(APPROVAL) $(DEPLOY_FLAGS) $(CDK_ARGS)

destroy: cdk-cli ## [STACKS=...]: delete the stacks; the audit table and log groups are retained (README "Uninstall / reinstall")
	$(CDK) destroy $(STACKS) $(CDK_ARGS)

import: build cdk-cli ## STACKS=<hub stack>: adopt the retained audit table and log groups into a new hub stack (cdk import), then make deploy
	$(CDK) import $(STACKS) $(CDK_ARGS)

## ---- backfill and performance
PAYLOAD ?= events/backfill-all-dryrun.json
FUNCTION ?= ecr-warden-backfill

backfill: ## PAYLOAD=<file>: invoke the deployed backfill once (no CLI read timeout, no retry), or with LOCAL=1 run it on the local AWS
ifdef LOCAL
	$(GO) run ./shared/devtools/localrun/cmd/backfill -payload '$(PAYLOAD)' -declaration '$(DECLARATION)'
else
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	  meta=$$(AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard aws lambda invoke --cli-read-timeout 0 --function-name $(FUNCTION) --payload fileb://$(PAYLOAD) --output json "$$out"); \
	  cat "$$out"; echo; \
	  if grep -q '"FunctionError"' <<<"$$meta"; then \
	    echo "backfill: $(FUNCTION) failed (the answer above says why; make audit ARGS=\"-since 1h -decision rejected,refused,failed\" shows its records)" >&2; exit 1; fi; \
	  if grep -q '^{"error"' "$$out"; then echo "backfill: the payload was refused (above: every problem with its field path); nothing was planned or written" >&2; exit 1; fi; \
	  run=$$(grep -o '"runId": *"[^"]*"' "$$out" | sed 's/.*"\([^"]*\)"$$/\1/'); \
	  units=$$(grep -o '"units": *[0-9]*' "$$out" | grep -o '[0-9]*$$'); \
	  if [ -n "$$run" ] && [ "$${units:-1}" != 0 ] && ! grep -q '"dryRun": *true' "$$out"; then echo "follow it: make backfill-status RUN=$$run$${units:+ UNITS=$$units}"; fi; \
	  if grep -q '"missing"' "$$out"; then echo "backfill: targets under \"missing\" above are not in the organization: nothing was planned or written for them (check the ids)" >&2; exit 1; fi
endif

backfill-status: ## RUN=<run id> [UNITS=<n>]: a run's units done, failed and left (from the per-unit summary records) and its records
	@if [ -z "$(RUN)" ]; then echo "backfill-status: say which run: make backfill-status RUN=<runId> UNITS=<units> (both are in the backfill's answer; make audit SUMMARIES=1 lists the last day's runs)" >&2; exit 2; fi
	@$(GO) run ./shared/audit/cmd/audit -run '$(RUN)' $(if $(UNITS),-units $(UNITS)) $(ARGS)

bench: moto ## the product vs the floor and the blind loops (boto3 script, parallel Go) over 20 accounts / 2,000 repositories (ratios last, medians of 5 rounds), 20 joins in series and at once, in-memory plan for 10,000 repositories, per-event costs
	$(GO) run ./shared/devtools/bench -accounts 20 -repositories 2000
	$(GO) test -run '^$$' -bench . -benchtime 100x ./functions/repository
	$(GO) test -run '^$$' -bench AccountJoin -benchtime 20x ./functions/account

clean:
	rm -rf build cdk.out
