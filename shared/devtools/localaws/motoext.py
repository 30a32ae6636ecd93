"""ecr-warden's local AWS: moto server plus the ECR and ECR Public calls moto lacks.

Started by shared/devtools/localaws (Go), which embeds this file. Before moto's server
starts we register, on moto 5.2.1:

* ECR (private), on moto's own ECRBackend / ECRResponse so state lives next to
  moto's repositories, per account and region, and is wiped by /moto-api/reset:
  pull-through-cache rules, account settings (REGISTRY_POLICY_SCOPE ...),
  registry policies that honour the V1/V2 scope, repository creation templates.
* ECR Public (absent from moto): a small backend registered under the signing
  name "ecr-public". moto's server picks a backend from the SigV4 credential
  scope in the Authorization header (".../<region>/<service>/aws4_request"),
  turns it into a host "<service>.<region>.amazonaws.com" and matches that
  against backend_index.backend_url_patterns; adding a pattern for
  "ecr-public" plus an importable "moto.ecrpublic" module is all it takes.

Validation follows the botocore service models (data/ecr, data/ecr-public):
model constraints (length, pattern, enum) answer ValidationException with the
service's usual "1 validation error detected" text; semantic problems answer
InvalidParameterException. Known differences from AWS are listed in the Go
package comment (localaws.go) and next to the code below.
"""
import base64
import json
import re
import sys
import types
from datetime import datetime, timezone

import moto.backend_index as backend_index
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
import moto.ecr.models as _ecr_models
from moto.ecr.models import ECRBackend
from moto.ecr.responses import ECRResponse
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMPolicyDocumentValidator
from moto.server import main

# ---------------------------------------------------------------- helpers

POLICY_MAX = 10240  # repository and registry policy text, characters
PTC_RULES_MAX = 50  # pull-through-cache rules per registry (account+region)
# ecrRepositoryPrefix / template prefix pattern from the ECR model.
PREFIX_PATTERN = (
    r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$"
)
CREDENTIAL_ARN_PATTERN = (
    r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$"
)


class AWSError(ServiceException):
    """An AWS error: moto serialises it as {"__type": code, "message": ...}
    using the error shape of that name in the service model. Defined here,
    not taken from moto.core, because moto looks up the service model from
    an exception's module name."""

    def __init__(self, code, message):
        self.code = code
        super().__init__(message)


def fail(code, message):
    return AWSError(code, message)


def invalid(field, why):
    return fail(
        "InvalidParameterException",
        f"Invalid parameter at '{field}' failed to satisfy constraint: '{why}'",
    )


def constraint(value, field, why, code="ValidationException"):
    """The text AWS's request validation uses for model constraints."""
    return fail(
        code,
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: Member must {why}",
    )


def check_string(value, field, lo=None, hi=None, pattern=None, enum=None, required=False):
    if value is None:
        if required:
            raise constraint("null", field, "not be null")
        return
    if not isinstance(value, str):
        raise constraint(value, field, "be a string")
    if lo is not None and len(value) < lo:
        raise constraint(value, field, f"have length greater than or equal to {lo}")
    if hi is not None and len(value) > hi:
        raise constraint(value[:64] + "...", field, f"have length less than or equal to {hi}")
    if pattern and not re.fullmatch(pattern, value):
        raise constraint(value, field, f"satisfy regular expression pattern: {pattern}")
    if enum and value not in enum:
        raise constraint(value, field, f"satisfy enum value set: [{', '.join(enum)}]")


def now():
    return datetime.now(timezone.utc)


def page(items, params, default=100):
    """Slice items by maxResults/nextToken (an opaque base64 offset)."""
    size = params.get("maxResults") or default
    if not isinstance(size, int) or not 1 <= size <= 1000:
        raise constraint(size, "maxResults", "have value between 1 and 1000")
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(base64.b64decode(token).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid("nextToken", "Invalid pagination token")
    rest = items[start + size:]
    token = base64.b64encode(str(start + size).encode()).decode() if rest else None
    return items[start:start + size], token


def validate_policy_document(text, field, kind):
    """moto's IAM validator, relaxed the way moto relaxes it for ECR:
    no Resource needed, Version 2008-10-17 allowed, duplicate Sids allowed."""
    try:
        v = IAMPolicyDocumentValidator(text)
        v._validate_resource_exist = lambda: None
        v._validate_version = lambda: None
        v._validate_sid_uniqueness = lambda: None
        v.validate()
    except MalformedPolicyDocument:
        raise invalid(field, f"Invalid {kind} policy provided")
    return json.loads(text)


def actions_of(doc):
    for st in doc.get("Statement", []) if isinstance(doc.get("Statement"), list) else [doc.get("Statement")]:
        acts = st.get("Action", [])
        yield from [acts] if isinstance(acts, str) else acts


def wildcard_match(pattern, value):
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(rx, value, re.IGNORECASE) is not None


# ------------------------------------------------ principals that must exist
# AWS refuses a registry or repository policy naming an IAM role or user that
# does not exist: PutRegistryPolicy with "Invalid registry policy provided"
# (ECR user guide / knowledge center: "make sure that the role you entered
# exists ... If the role doesn't exist, then you receive the 'invalid registry
# policy provided' error"), SetRepositoryPolicy with "Principal not found"
# (as reported against the API by Terraform's ECR resources). The local AWS
# can only know whether a principal exists in an account it has state for:
# an account in an organization it holds, or one whose IAM has a role or a
# user. A principal in any other account (an id a unit test made up) is
# accepted, as before; account roots and "*" are never checked.
PRINCIPAL_ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):iam::([0-9]{12}):(role|user)/(?:[\w+=,.@-]+/)*[\w+=,.@-]+")


def _known_accounts():
    from moto.organizations.models import organizations_backends
    from moto.iam.models import iam_backends
    known = set(organizations_backends.master_accounts)
    for per_account in list(dict.values(organizations_backends)):
        for org in list(dict.values(per_account)):
            if org.org is not None:
                known.add(org.org.master_account_id)
                known.update(a.id for a in org.accounts)
    for account, per_account in list(dict.items(iam_backends)):
        if any(b.roles or b.users for b in list(dict.values(per_account))):
            known.add(account)
    return known


def _principal_exists(partition, account, kind, arn):
    from moto.iam.models import iam_backends
    per_account = dict.get(iam_backends, account)
    backend = dict.get(per_account, partition) if per_account is not None else None
    if backend is None:
        return False
    entities = backend.roles.values() if kind == "role" else backend.users.values()
    return any(e.arn == arn for e in list(entities))


def missing_principals(doc):
    """The IAM role and user ARNs in doc's Principal elements that do not
    exist in an account the local AWS knows."""
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    known = None
    missing = []
    for st in statements:
        principal = st.get("Principal") if isinstance(st, dict) else None
        values = principal.get("AWS", []) if isinstance(principal, dict) else []
        for v in [values] if isinstance(values, str) else values:
            m = PRINCIPAL_ARN.fullmatch(v) if isinstance(v, str) else None
            if not m:
                continue
            if known is None:
                known = _known_accounts()
            partition, account, kind = m.group(1), m.group(2), m.group(3)
            if account in known and not _principal_exists(partition, account, kind, v) and v not in missing:
                missing.append(v)
    return missing


def refuse_missing_principals(doc, field, why):
    if missing_principals(doc):
        raise invalid(field, why)


# ------------------------------------------------------- ECR: backend state

_moto_ecr_init = ECRBackend.__init__


def _ecr_init(self, region_name, account_id):
    """Extra per-registry state; BaseBackend.reset re-runs __init__."""
    _moto_ecr_init(self, region_name, account_id)
    self.ptc_rules = {}  # normalised prefix -> rule dict (wire shape)
    self.creation_templates = {}  # normalised prefix -> template dict
    # AWS: "For new users, your registries are automatically configured to use
    # the V2 registry policy upon creation" (registry-permissions-account-settings).
    self.account_settings = {"REGISTRY_POLICY_SCOPE": "V2",
                             "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
                             "BLOB_MOUNTING": "DISABLED"}


ECRBackend.__init__ = _ecr_init

# RepositoryName as the ECR model gives it: "." or "_" or "__" or a run of
# "-" between letters and digits (the OCI grammar). moto 5.2.1 keeps the
# older one ("[._-]" once) and refused names AWS creates, "base__debug" and
# "my--app"; its CreateRepository reads this module global at each call.
_ecr_models.ECR_REPOSITORY_NAME_PATTERN = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"

# Allowed values per setting. The newest ECR model documents only V2 for
# REGISTRY_POLICY_SCOPE (V1 is legacy); older docs and existing registries
# have V1, so V1 stays settable here to test V1 registries.
ACCOUNT_SETTINGS = {
    "REGISTRY_POLICY_SCOPE": ("V1", "V2"),
    "BASIC_SCAN_TYPE_VERSION": ("AWS_NATIVE", "CLAIR"),
    "BLOB_MOUNTING": ("ENABLED", "DISABLED"),
}
# The only actions a V1-scoped registry policy may hold (registry-permissions.html).
V1_ACTIONS = ("ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository")

# Supported upstream registry URLs and the upstreamRegistry name each implies.
UPSTREAMS = [
    (r"public\.ecr\.aws", "ecr-public"),
    (r"registry-1\.docker\.io", "docker-hub"),
    (r"ghcr\.io", "github-container-registry"),
    (r"registry\.gitlab\.com", "gitlab-container-registry"),
    (r"registry\.k8s\.io", "k8s"),
    (r"quay\.io", "quay"),
    (r"cgr\.dev", "chainguard"),
    (r"[a-z0-9]+\.azurecr\.io", "azure-container-registry"),
    (r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", "ecr"),
]
NEEDS_CREDENTIALS = {"docker-hub", "github-container-registry",
                     "gitlab-container-registry", "azure-container-registry"}


def _prefix_key(prefix):
    # "There is always an assumed / applied to the end of the prefix".
    return prefix if prefix == "ROOT" else prefix.rstrip("/")


# ---------------------------------------------------- ECR: request handlers
# Each handler is installed on moto's ECRResponse under the snake_case name
# moto derives from X-Amz-Target "AmazonEC2ContainerRegistry_V20150921.<Op>".

def ecr_op(fn):
    setattr(ECRResponse, fn.__name__, fn)
    return fn


def _params(self):
    try:
        return json.loads(self.body or "{}")
    except ValueError:
        raise fail("SerializationException", "request body is not valid JSON")


def _registry(self, p):
    """registryId, when given, must be the caller's own registry."""
    rid = p.get("registryId")
    check_string(rid, "registryId", pattern=r"[0-9]{12}")
    if rid and rid != self.current_account:
        raise invalid("registryId", f"registry {rid} is not the caller's registry {self.current_account}")


def _role_arn(self, arn, field):
    """customRoleArn: an IAM role ARN in the caller's account (AWS documents
    'This role must be in the same account as the registry')."""
    check_string(arn, field, hi=2048)
    if arn is None:
        return
    m = re.fullmatch(r"arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[\w+=,.@/-]+", arn)
    if not m:
        raise invalid(field, f"'{arn}' is not an IAM role ARN")
    if m.group(2) != self.current_account:
        raise invalid(field, f"role {arn} must be in the same account as the registry ({self.current_account})")


def _credential_arn(self, arn):
    check_string(arn, "credentialArn", lo=50, hi=612, pattern=CREDENTIAL_ARN_PATTERN)
    if arn is None:
        return
    region, account = arn.split(":")[3:5]
    if (region, account) != (self.region, self.current_account):
        raise invalid("credentialArn", "the secret must be in the registry's account and region")
    # AWS: "the full Amazon Resource Name (ARN) of the AWS Secrets Manager
    # secret" (with the 6-character suffix Secrets Manager appends). moto's
    # own lookups accept names and partial ARNs, so compare full ARNs here.
    if not _secret_exists(account, region, arn):
        raise fail("SecretNotFoundException",
                   f"The ARN of the secret specified in the pull through cache rule was not found: {arn}. "
                   "Update the pull through cache rule with a valid secret ARN and try again.")


def _secret_exists(account, region, arn):
    from moto.secretsmanager.models import secretsmanager_backends
    per_account = dict.get(secretsmanager_backends, account)
    backend = dict.get(per_account, region) if per_account is not None else None
    if backend is None:
        return False
    return any(s.arn == arn and not s.is_deleted() for s in dict.values(backend.secrets))


# AWS: "Pull through cache rules are not supported in the following Regions":
# China (Beijing, Ningxia) and AWS GovCloud (US-East, US-West). The exact
# error AWS answers there is not documented; this one names the region.
PTC_UNSUPPORTED_REGION = re.compile(r"^(cn|us-gov)-")


def _ptc_region(self):
    if PTC_UNSUPPORTED_REGION.match(self.region or ""):
        raise invalid("region", f"Pull through cache rules are not supported in the {self.region} Region")


def _rule_view(rule, *fields):
    return {k: v for k, v in rule.items() if k in fields and v is not None}


RULE_FIELDS = ("registryId", "ecrRepositoryPrefix", "upstreamRegistryUrl", "upstreamRegistry",
               "credentialArn", "customRoleArn", "upstreamRepositoryPrefix", "createdAt", "updatedAt")


@ecr_op
def create_pull_through_cache_rule(self):
    _ptc_region(self)
    p = _params(self)
    _registry(self, p)
    backend = self.ecr_backend
    prefix, url = p.get("ecrRepositoryPrefix"), p.get("upstreamRegistryUrl")
    check_string(prefix, "ecrRepositoryPrefix", 2, 30, PREFIX_PATTERN, required=True)
    check_string(url, "upstreamRegistryUrl", required=True)
    kinds = [name for rx, name in UPSTREAMS if re.fullmatch(rx, url)]
    if not kinds:
        raise fail("UnsupportedUpstreamRegistryException",
                   f"The specified upstream registry {url} is not supported.")
    kind = kinds[0]
    upstream = p.get("upstreamRegistry")
    check_string(upstream, "upstreamRegistry", enum=[n for _, n in UPSTREAMS])
    if upstream and upstream != kind:
        raise invalid("upstreamRegistry", f"'{upstream}' does not match upstreamRegistryUrl {url} ({kind})")
    _credential_arn(self, p.get("credentialArn"))
    _role_arn(self, p.get("customRoleArn"), "customRoleArn")
    if kind in NEEDS_CREDENTIALS and not p.get("credentialArn"):
        raise invalid("credentialArn", f"credentialArn is required for upstream registry {kind} ({url})")
    # AWS: "For Amazon ECR, you must create an IAM role if the upstream and
    # downstream Amazon ECR registries belong to different AWS account"
    # (pull-through-cache user guide): an upstream in the registry's own
    # account needs none.
    if kind == "ecr" and not p.get("customRoleArn") and not url.startswith(self.current_account + "."):
        raise invalid("customRoleArn", "customRoleArn is required for an Amazon ECR upstream registry in another account")
    if kind != "ecr" and p.get("customRoleArn"):
        raise invalid("customRoleArn", f"customRoleArn is only supported for Amazon ECR upstreams, not {kind}")
    if kind == "ecr" and p.get("credentialArn"):
        raise invalid("credentialArn", "credentialArn is not supported for Amazon ECR upstreams")
    up_prefix = p.get("upstreamRepositoryPrefix")
    check_string(up_prefix, "upstreamRepositoryPrefix", 2, 30, PREFIX_PATTERN)
    if up_prefix and prefix == "ROOT":
        raise invalid("upstreamRepositoryPrefix",
                      "upstreamRepositoryPrefix can only be used with a non-ROOT ecrRepositoryPrefix")
    # AWS documents the upstream repository prefix for ECR to ECR rules only
    # ("Customizing repository prefixes for ECR to ECR pull through cache").
    if up_prefix and kind != "ecr":
        raise invalid("upstreamRepositoryPrefix",
                      f"upstreamRepositoryPrefix is only supported for Amazon ECR upstreams, not {kind}")
    key = _prefix_key(prefix)
    if key in backend.ptc_rules:
        raise fail("PullThroughCacheRuleAlreadyExistsException",
                   f"A pull through cache rule with the prefix '{key}' already exists "
                   f"in the registry with id '{self.current_account}'")
    if len(backend.ptc_rules) >= PTC_RULES_MAX:
        raise fail("LimitExceededException",
                   f"The maximum number of pull through cache rules ({PTC_RULES_MAX}) "
                   f"has been reached for the registry with id '{self.current_account}'")
    rule = {"registryId": self.current_account, "ecrRepositoryPrefix": key,
            "upstreamRegistryUrl": url, "upstreamRegistry": kind,
            "credentialArn": p.get("credentialArn"), "customRoleArn": p.get("customRoleArn"),
            "upstreamRepositoryPrefix": up_prefix or ("ROOT" if key != "ROOT" else None),
            "createdAt": now(), "updatedAt": now()}
    backend.ptc_rules[key] = rule
    return ActionResult(_rule_view(rule, *RULE_FIELDS[:-1]))  # all but updatedAt


def _get_rule(self, backend, prefix):
    check_string(prefix, "ecrRepositoryPrefix", 2, 30, PREFIX_PATTERN, required=True)
    rule = backend.ptc_rules.get(_prefix_key(prefix))
    if rule is None:
        raise fail("PullThroughCacheRuleNotFoundException",
                   f"The pull through cache rule with the prefix '{_prefix_key(prefix)}' does not "
                   f"exist in the registry with id '{self.current_account}'")
    return rule


@ecr_op
def describe_pull_through_cache_rules(self):
    _ptc_region(self)
    p = _params(self)
    _registry(self, p)
    backend = self.ecr_backend
    wanted = p.get("ecrRepositoryPrefixes")
    if wanted is not None:
        rules = [_get_rule(self, backend, w) for w in wanted]
    else:
        rules = sorted(backend.ptc_rules.values(), key=lambda r: r["ecrRepositoryPrefix"])
    rules, token = page(rules, p)
    return ActionResult({"pullThroughCacheRules": [_rule_view(r, *RULE_FIELDS) for r in rules],
                         "nextToken": token})


@ecr_op
def update_pull_through_cache_rule(self):
    _ptc_region(self)
    p = _params(self)
    _registry(self, p)
    backend = self.ecr_backend
    rule = _get_rule(self, backend, p.get("ecrRepositoryPrefix"))
    if not p.get("credentialArn") and not p.get("customRoleArn"):
        # The text AWS answers (reported by users of the console and the CLI).
        raise invalid("credentialArn", "Please set either credential arn or role arn")
    _credential_arn(self, p.get("credentialArn"))
    _role_arn(self, p.get("customRoleArn"), "customRoleArn")
    if rule["upstreamRegistry"] == "ecr" and p.get("credentialArn"):
        raise invalid("credentialArn", "credentialArn is not supported for Amazon ECR upstreams")
    if rule["upstreamRegistry"] != "ecr" and p.get("customRoleArn"):
        raise invalid("customRoleArn", "customRoleArn is only supported for Amazon ECR upstreams")
    for field in ("credentialArn", "customRoleArn"):
        if p.get(field):
            rule[field] = p[field]
    rule["updatedAt"] = now()
    return ActionResult(_rule_view(rule, "registryId", "ecrRepositoryPrefix", "credentialArn",
                                   "customRoleArn", "upstreamRepositoryPrefix", "updatedAt"))


@ecr_op
def delete_pull_through_cache_rule(self):
    _ptc_region(self)
    p = _params(self)
    _registry(self, p)
    backend = self.ecr_backend
    rule = _get_rule(self, backend, p.get("ecrRepositoryPrefix"))
    del backend.ptc_rules[rule["ecrRepositoryPrefix"]]
    return ActionResult(_rule_view(rule, "registryId", "ecrRepositoryPrefix", "upstreamRegistryUrl",
                                   "credentialArn", "customRoleArn", "upstreamRepositoryPrefix", "createdAt"))


# The request context the emulated pull-through-cache service sends when it
# assumes a rule's customRoleArn. AWS does not document which keys it sends;
# by default the emulator sends aws:SourceAccount and aws:SourceArn (what AWS
# advises service principals to be limited by). Tests choose other keys with
# localaws.Server.SetPTCServiceContext, which writes this file next to the
# launcher (Reset removes it).
PTC_SERVICE = "pullthroughcache.ecr.amazonaws.com"
PTC_SERVICE_FILE = "ptc-service.json"
PTC_SERVICE_DEFAULT_KEYS = ("aws:SourceAccount", "aws:SourceArn")


def _ptc_service_context(partition, account, region, prefix):
    import os
    keys = PTC_SERVICE_DEFAULT_KEYS
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), PTC_SERVICE_FILE)
    try:
        with open(path) as f:
            keys = tuple(json.load(f)["sends"])
    except FileNotFoundError:
        pass
    full = {"aws:SourceAccount": account,
            "aws:SourceArn": f"arn:{partition}:ecr:{region}:{account}:pull-through-cache-rule/{prefix}"}
    return {k.lower(): v for k, v in full.items() if k in keys}


def _as_list(v):
    return [v] if isinstance(v, str) else list(v or [])


def _condition_holds(cond, context):
    """StringEquals/StringLike/ArnEquals/ArnLike (and their IfExists forms)
    on single-valued keys; a key the context lacks fails the condition unless
    IfExists. Any other operator is not understood and fails it, so the
    emulator never trusts more than AWS would."""
    for op, pairs in (cond or {}).items():
        base, if_exists = (op[:-8], True) if op.endswith("IfExists") else (op, False)
        for key, values in pairs.items():
            got = context.get(key.lower())
            if got is None:
                if if_exists:
                    continue
                return False
            values = _as_list(values)
            if base in ("StringEquals", "ArnEquals"):
                ok = got in values
            elif base in ("StringLike", "ArnLike"):
                ok = any(wildcard_match(v, got) for v in values)
            else:
                return False
            if not ok:
                return False
    return True


def _trust_allows_service(doc, service, context):
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for st in statements:
        principal = st.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if principal != "*" and service not in services:
            continue
        if not any(wildcard_match(a, "sts:AssumeRole") for a in _as_list(st.get("Action"))):
            continue
        if not _condition_holds(st.get("Condition"), context):
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = allowed or st.get("Effect") == "Allow"
    return allowed


def _role_failure(self, rule):
    """Why the pull-through-cache service could not assume the rule's role,
    or None. The failure text is the emulator's own (AWS's is undocumented)."""
    from urllib.parse import unquote
    from moto.iam.models import iam_backends
    arn = rule["customRoleArn"]
    m = re.fullmatch(r"arn:(aws(?:-[a-z]+)*):iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", arn)
    partition, account, name = m.group(1), m.group(2), m.group(3)
    per_account = dict.get(iam_backends, account)
    backend = dict.get(per_account, partition) if per_account is not None else None
    role = next((r for r in list(backend.roles.values()) if r.name == name), None) if backend else None
    if role is None:
        return f"The role {arn} does not exist."
    text = role.assume_role_policy_document
    try:
        doc = json.loads(text)
    except ValueError:
        doc = json.loads(unquote(text))
    context = _ptc_service_context(partition, account, self.region, rule["ecrRepositoryPrefix"])
    if not _trust_allows_service(doc, PTC_SERVICE, context):
        sent = ", ".join(sorted(context)) or "no condition keys"
        return (f"Unable to assume role {arn}: its trust policy does not allow {PTC_SERVICE} "
                f"to call sts:AssumeRole with the request context the service sent ({sent}).")
    return None


@ecr_op
def validate_pull_through_cache_rule(self):
    """AWS's response shape (isValid, failure and the rule's fields). There is
    no upstream to log in to; what can be checked here is: the credential
    secret still exists, and the pull-through-cache service may assume the
    rule's customRoleArn (its trust evaluated against the context the
    emulated service sends, see _ptc_service_context)."""
    _ptc_region(self)
    p = _params(self)
    _registry(self, p)
    backend = self.ecr_backend
    rule = _get_rule(self, backend, p.get("ecrRepositoryPrefix"))
    out = _rule_view(rule, "registryId", "ecrRepositoryPrefix", "upstreamRegistryUrl",
                     "credentialArn", "customRoleArn", "upstreamRepositoryPrefix")
    failure = None
    if rule.get("credentialArn") and not _secret_exists(self.current_account, self.region, rule["credentialArn"]):
        failure = f"The secret {rule['credentialArn']} does not exist."
    elif rule.get("customRoleArn"):
        failure = _role_failure(self, rule)
    out["isValid"] = failure is None
    if failure:
        out["failure"] = failure
    return ActionResult(out)


def _setting_name(p):
    name = p.get("name")
    check_string(name, "name", 1, 64, required=True)
    if name not in ACCOUNT_SETTINGS:
        raise invalid("name", f"unknown account setting '{name}'; valid names: {', '.join(ACCOUNT_SETTINGS)}")
    return name


@ecr_op
def put_account_setting(self):
    p = _params(self)
    name = _setting_name(p)
    value = p.get("value")
    check_string(value, "value", required=True)
    if value not in ACCOUNT_SETTINGS[name]:
        raise invalid("value", f"'{value}' is not valid for {name}; valid values: {', '.join(ACCOUNT_SETTINGS[name])}")
    self.ecr_backend.account_settings[name] = value
    return ActionResult({"name": name, "value": value})


@ecr_op
def get_account_setting(self):
    name = _setting_name(_params(self))
    return ActionResult({"name": name, "value": self.ecr_backend.account_settings[name]})


@ecr_op
def put_registry_policy(self):
    """Replaces moto's version, which hard-codes a V1 action set (and misses
    ecr:BatchImportUpstreamImage). V2 accepts any ecr: action; V1 only the
    three registry-level actions (or wildcards covering them)."""
    text = _params(self).get("policyText")
    check_string(text, "policyText", 0, POLICY_MAX, required=True)
    doc = validate_policy_document(text, "PolicyText", "registry")
    scope = self.ecr_backend.account_settings["REGISTRY_POLICY_SCOPE"]
    for action in actions_of(doc):
        if scope == "V2":
            ok = action == "*" or action.lower().startswith("ecr:")
        else:
            ok = any(wildcard_match(action, a) for a in V1_ACTIONS)
        if not ok:
            raise invalid("PolicyText", "Invalid registry policy provided")
    refuse_missing_principals(doc, "PolicyText", "Invalid registry policy provided")
    self.ecr_backend.registry_policy = text
    return ActionResult({"registryId": self.current_account, "policyText": text})


_moto_set_repository_policy = ECRResponse.set_repository_policy


@ecr_op
def set_repository_policy(self):
    """moto stores any length; AWS caps repository policy text at 10,240
    characters. SetRepositoryPolicy declares no ValidationException, so the
    limit answers InvalidParameterException, naming it."""
    text = _params(self).get("policyText") or ""
    if len(text) > POLICY_MAX:
        raise invalid("policyText", f"policy is {len(text)} characters, the limit is {POLICY_MAX}")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        refuse_missing_principals(doc, "PolicyText", "Principal not found")
    return _moto_set_repository_policy(self)


TEMPLATE_FIELDS = ("prefix", "description", "encryptionConfiguration", "resourceTags",
                   "imageTagMutability", "imageTagMutabilityExclusionFilters", "repositoryPolicy",
                   "lifecyclePolicy", "appliedFor", "customRoleArn")
APPLIED_FOR = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")


def _template_input(self, p, creating):
    check_string(p.get("prefix"), "prefix", 1, 256, PREFIX_PATTERN, required=True)
    check_string(p.get("description"), "description", hi=256)
    applied = p.get("appliedFor")
    if creating and not applied:
        raise constraint("null", "appliedFor", "not be null")
    for i, a in enumerate(applied or []):
        check_string(a, f"appliedFor.{i + 1}.member", enum=APPLIED_FOR)
    check_string(p.get("imageTagMutability"), "imageTagMutability",
                 enum=["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"])
    policy = p.get("repositoryPolicy")
    check_string(policy, "repositoryPolicy", 0, POLICY_MAX)
    if policy:
        validate_policy_document(policy, "repositoryPolicy", "repository")
    check_string(p.get("lifecyclePolicy"), "lifecyclePolicy", 0, 30720)
    _role_arn(self, p.get("customRoleArn"), "customRoleArn")
    for tag in p.get("resourceTags") or []:
        if "Key" not in tag or "Value" not in tag:
            raise invalid("resourceTags", "every tag needs Key and Value")
    return {k: p[k] for k in TEMPLATE_FIELDS if p.get(k) is not None}


def _get_template(self, prefix):
    t = self.ecr_backend.creation_templates.get(_prefix_key(prefix))
    if t is None:
        raise fail("TemplateNotFoundException",
                   f"The repository creation template with prefix '{prefix}' does not exist "
                   f"in the registry with id '{self.current_account}'")
    return t


def _template_out(self, t):
    return ActionResult({"registryId": self.current_account, "repositoryCreationTemplate": t})


@ecr_op
def create_repository_creation_template(self):
    fields = _template_input(self, _params(self), creating=True)
    key = _prefix_key(fields["prefix"])
    if key in self.ecr_backend.creation_templates:
        raise fail("TemplateAlreadyExistsException",
                   f"The repository creation template with prefix '{key}' already exists "
                   f"in the registry with id '{self.current_account}'")
    t = dict(fields, prefix=key, createdAt=now(), updatedAt=now())
    self.ecr_backend.creation_templates[key] = t
    return _template_out(self, t)


@ecr_op
def describe_repository_creation_templates(self):
    p = _params(self)
    temps = self.ecr_backend.creation_templates
    keys = [_prefix_key(x) for x in p.get("prefixes") or []] or sorted(temps)
    found, token = page([temps[k] for k in keys if k in temps], p)
    return ActionResult({"registryId": self.current_account,
                         "repositoryCreationTemplates": found, "nextToken": token})


@ecr_op
def update_repository_creation_template(self):
    p = _params(self)
    fields = _template_input(self, p, creating=False)
    t = _get_template(self, p["prefix"])
    t.update({k: v for k, v in fields.items() if k != "prefix"})
    t["updatedAt"] = now()
    return _template_out(self, t)


@ecr_op
def delete_repository_creation_template(self):
    p = _params(self)
    check_string(p.get("prefix"), "prefix", 1, 256, PREFIX_PATTERN, required=True)
    t = _get_template(self, p["prefix"])
    del self.ecr_backend.creation_templates[t["prefix"]]
    return _template_out(self, t)


# ------------------------------------------------------------- ECR Public

# The ECR Public API is served from us-east-1 (botocore's endpoints.json also
# lists us-west-2, but AWS documents us-east-1 for every management call).
# Any other region gets UnsupportedCommandException ("The action isn't
# supported in this Region"), a typed error of the ecrpublic client; in AWS
# the SDK would fail earlier, resolving api.ecr-public.<region>.amazonaws.com.
ECR_PUBLIC_REGIONS = ("us-east-1",)
PUBLIC_NAME_PATTERN = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"


class ECRPublicBackend(BaseBackend):
    """One public registry per account (the API has no regional state)."""

    def __init__(self, region_name, account_id):
        super().__init__(region_name, account_id)
        self.repositories = {}  # name -> {"repository": {...}, "policy": str|None, "tags": {}}

    @property
    def _url_module(self):
        # moto derives urls from "<module>.urls"; we have no module, so hand
        # over the same single route moto uses for JSON-1.1 services.
        return types.SimpleNamespace(
            url_bases=[r"https?://ecr-public\.(.+)\.amazonaws\.com",
                       r"https?://api\.ecr-public\.(.+)\.amazonaws\.com"],
            url_paths={"{0}/$": ECRPublicResponse.dispatch})


class ECRPublicResponse(BaseResponse):
    def __init__(self):
        super().__init__(service_name="ecr-public")

    @property
    def backend(self):
        return ecrpublic_backends[self.current_account][ECR_PUBLIC_REGIONS[0]]

    def call_action(self):
        if self.region not in ECR_PUBLIC_REGIONS:
            body = json.dumps({"__type": "UnsupportedCommandException",
                               "message": f"ECR Public has no API endpoint in {self.region}: "
                                          f"its API is served only in {', '.join(ECR_PUBLIC_REGIONS)}"})
            return 400, {"Content-Type": "application/x-amz-json-1.1",
                         "x-amzn-ErrorType": "UnsupportedCommandException"}, body
        return super().call_action()

    def _repo(self, p, field="repositoryName"):
        _registry(self, p)
        name = p.get(field)
        if name is None:
            raise invalid(field, "repositoryName is required")
        entry = self.backend.repositories.get(name)
        if entry is None:
            raise fail("RepositoryNotFoundException",
                       f"The repository with name '{name}' does not exist in the registry "
                       f"with id '{self.current_account}'")
        return entry

    def _repo_by_arn(self, p):
        arn = p.get("resourceArn") or ""
        m = re.fullmatch(r"arn:aws:ecr-public::([0-9]{12}):repository/(.+)", arn)
        if not m:
            raise invalid("resourceArn", f"'{arn}' is not an ECR Public repository ARN")
        if m.group(1) != self.current_account:
            raise invalid("resourceArn", f"'{arn}' is not in the caller's account {self.current_account}")
        return self._repo({"repositoryName": m.group(2)})

    def create_repository(self):
        p = _params(self)
        name = p.get("repositoryName")
        if name is None or not 2 <= len(name) <= 205 or not re.fullmatch(PUBLIC_NAME_PATTERN, name):
            raise invalid("repositoryName", f"'{name}' must be 2-205 characters matching {PUBLIC_NAME_PATTERN}")
        if name in self.backend.repositories:
            raise fail("RepositoryAlreadyExistsException",
                       f"The repository with name '{name}' already exists in the registry "
                       f"with id '{self.current_account}'")
        acct = self.current_account
        repo = {"repositoryArn": f"arn:aws:ecr-public::{acct}:repository/{name}",
                "registryId": acct, "repositoryName": name,
                # A registry alias is chosen by AWS; here it is "r<account>".
                "repositoryUri": f"public.ecr.aws/r{acct}/{name}", "createdAt": now()}
        self.backend.repositories[name] = {"repository": repo, "policy": None,
                                           "tags": {t["Key"]: t.get("Value", "") for t in p.get("tags") or []}}
        return ActionResult({"repository": repo, "catalogData": p.get("catalogData") or {}})

    def describe_repositories(self):
        p = _params(self)
        _registry(self, p)
        names = p.get("repositoryNames")
        if names and p.get("nextToken"):
            raise invalid("nextToken", "nextToken cannot be used with repositoryNames")
        if names:
            repos = [self._repo({"repositoryName": n})["repository"] for n in names]
        else:
            repos = [e["repository"] for _, e in sorted(self.backend.repositories.items())]
        repos, token = page(repos, p)
        return ActionResult({"repositories": repos, "nextToken": token})

    def delete_repository(self):
        # No images are ever stored here, so "force" makes no difference.
        p = _params(self)
        entry = self._repo(p)
        del self.backend.repositories[p["repositoryName"]]
        return ActionResult({"repository": entry["repository"]})

    def _policy_out(self, entry, text):
        return ActionResult({"registryId": self.current_account,
                             "repositoryName": entry["repository"]["repositoryName"],
                             "policyText": text})

    def get_repository_policy(self):
        entry = self._repo(_params(self))
        if entry["policy"] is None:
            raise fail("RepositoryPolicyNotFoundException",
                       f"Repository policy does not exist for the repository with name "
                       f"'{entry['repository']['repositoryName']}' in the registry with id "
                       f"'{self.current_account}'")
        return self._policy_out(entry, entry["policy"])

    def set_repository_policy(self):
        p = _params(self)
        entry = self._repo(p)
        text = p.get("policyText")
        if text is None:
            raise invalid("policyText", "policyText is required")
        if len(text) > POLICY_MAX:
            # The model caps policyText at 10,240; ECR Public declares no
            # ValidationException, so the limit answers InvalidParameterException.
            raise invalid("policyText", f"policy is {len(text)} characters, the limit is {POLICY_MAX}")
        doc = validate_policy_document(text, "policyText", "repository")
        # ECR Public's answer for a missing principal is not documented; the
        # private registry's is used.
        refuse_missing_principals(doc, "PolicyText", "Principal not found")
        entry["policy"] = text
        return self._policy_out(entry, text)

    def delete_repository_policy(self):
        entry = self._repo(_params(self))
        if entry["policy"] is None:
            return self.get_repository_policy()  # raises RepositoryPolicyNotFoundException
        text, entry["policy"] = entry["policy"], None
        return self._policy_out(entry, text)

    def list_tags_for_resource(self):
        entry = self._repo_by_arn(_params(self))
        return ActionResult({"tags": [{"Key": k, "Value": v} for k, v in sorted(entry["tags"].items())]})

    def tag_resource(self):
        p = _params(self)
        entry = self._repo_by_arn(p)
        entry["tags"].update({t["Key"]: t.get("Value", "") for t in p.get("tags") or []})
        return EmptyResult()

    def untag_resource(self):
        p = _params(self)
        entry = self._repo_by_arn(p)
        for k in p.get("tagKeys") or []:
            entry["tags"].pop(k, None)
        return EmptyResult()


# Registered like a moto service: BackendDict makes /moto-api/reset wipe it,
# "moto.ecrpublic" is what backends.get_backend("ecr-public") imports, and the
# URL pattern is what the server matches the inferred host against.
ecrpublic_backends = BackendDict(ECRPublicBackend, "ecr-public", use_boto3_regions=False,
                                 additional_regions=list(ECR_PUBLIC_REGIONS))
_module = types.ModuleType("moto.ecrpublic")
_module.ecrpublic_backends = ecrpublic_backends
sys.modules["moto.ecrpublic"] = _module
backend_index.backend_url_patterns.append(
    ("ecr-public", re.compile(r"https?://ecr-public\.(.+)\.amazonaws\.com")))

# ------------------------------------------------------------ Control Tower
# moto has no Control Tower. `make doctor` reads the landing zone's ARN
# (controltower:ListLandingZones), whose region is the landing zone's home
# region: the only region that emits Control Tower lifecycle events. The
# backend keeps at most one landing zone per account (as AWS does), created
# by CreateLandingZone in its home region, and answers ListLandingZones and
# GetLandingZone there only: whether AWS answers them in other regions is
# not documented, and the doctor asks the home region it is given first.


class ControlTowerBackend(BaseBackend):
    def __init__(self, region_name, account_id):
        super().__init__(region_name, account_id)
        self.landing_zones = {}  # arn -> {"arn", "version", "manifest", "status"}

    @property
    def _url_module(self):
        return types.SimpleNamespace(
            url_bases=[r"https?://controltower\.(.+)\.amazonaws\.com"],
            url_paths={"{0}/list-landingzones$": ControlTowerResponse.dispatch,
                       "{0}/create-landingzone$": ControlTowerResponse.dispatch,
                       "{0}/get-landingzone$": ControlTowerResponse.dispatch})


class ControlTowerResponse(BaseResponse):
    def __init__(self):
        super().__init__(service_name="controltower")

    @property
    def backend(self):
        return controltower_backends[self.current_account][self.region]

    def _params(self):
        return json.loads(self.body or "{}")

    def create_landing_zone(self):
        p = self._params()
        check_string(p.get("version"), "version", 3, 10, required=True)
        if not isinstance(p.get("manifest"), dict):
            raise fail("ValidationException", "manifest is required")
        for region, backend in list(dict.items(controltower_backends[self.current_account])):
            if backend.landing_zones:
                raise fail("ConflictException", f"a landing zone already exists in {region}")
        zid = base64.b32encode(self.current_account.encode()).decode().rstrip("=")[:16]
        arn = f"arn:aws:controltower:{self.region}:{self.current_account}:landingzone/{zid}"
        self.backend.landing_zones[arn] = {"arn": arn, "version": p["version"], "manifest": p["manifest"], "status": "ACTIVE"}
        return ActionResult({"arn": arn, "operationIdentifier": "op-" + zid.lower()})

    def list_landing_zones(self):
        return ActionResult({"landingZones": [{"arn": a} for a in self.backend.landing_zones]})

    def get_landing_zone(self):
        arn = self._params().get("landingZoneIdentifier")
        lz = self.backend.landing_zones.get(arn)
        if lz is None:
            raise fail("ResourceNotFoundException", f"landing zone {arn} not found")
        return ActionResult({"landingZone": lz})


controltower_backends = BackendDict(ControlTowerBackend, "controltower")
_ct_module = types.ModuleType("moto.controltower")
_ct_module.controltower_backends = controltower_backends
sys.modules["moto.controltower"] = _ct_module
backend_index.backend_url_patterns.append(
    ("controltower", re.compile(r"https?://controltower\.(.+)\.amazonaws\.com")))

# AWS lets an account be the delegated administrator for CloudFormation
# StackSets (member.org.stacksets.cloudformation.amazonaws.com); moto's list
# of services that support delegation misses it, and refuses it.
from moto.organizations.models import FakeDelegatedAdministrator as _delegated  # noqa: E402

if "member.org.stacksets.cloudformation.amazonaws.com" not in _delegated.SUPPORTED_SERVICES:
    _delegated.SUPPORTED_SERVICES.append("member.org.stacksets.cloudformation.amazonaws.com")

# DynamoDB conditional writes must be atomic, as they are in AWS: ecr-warden's
# lease (one writer per policy document) depends on it. moto evaluates the
# condition and stores the item in two steps without a lock, so concurrent
# requests from separate Lambda processes could both win. Serialise DynamoDB
# actions (the action and its answer, not the HTTP parsing before them: a
# request holding the lock while it waited for the interpreter to parse the
# others made every DynamoDB call queue behind them); every other service
# keeps serving concurrently.
import threading
from moto.dynamodb.responses import DynamoHandler as _DynamoHandler
from moto.moto_server import werkzeug_app as _wapp

_dynamodb_lock = threading.Lock()
_dynamodb_action = _DynamoHandler.call_action


def _serialised_action(self):
    with _dynamodb_lock:
        return _dynamodb_action(self)


_DynamoHandler.call_action = _serialised_action

# DynamoDB item size. moto enforces the 400 KB item limit by summing the size
# of every attribute already set each time it sets one, so building an item
# costs the square of its attributes (an audit record, with its policy
# documents, paid more for that than for the rest of its write). Building an
# item now sums once: the partial sums never exceed the total, so it refuses
# exactly the items moto refused. Later changes to an item keep moto's check.
from moto.dynamodb.models import dynamo_type as _dynamo_type  # noqa: E402


def _item_init(self, hash_key, range_key, attrs):
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: _dynamo_type.DynamoType(value) for key, value in attrs.items()}
    if sum(_dynamo_type.bytesize(key) + value.size() for key, value in values.items()) > 405000:
        raise _dynamo_type.ItemSizeTooLarge
    self.attrs = _dynamo_type.LimitedSizeDict()
    for key, value in values.items():
        dict.__setitem__(self.attrs, key, value)


_dynamo_type.Item.__init__ = _item_init

# DynamoDB expression size. AWS refuses any expression string longer than 4 KB
# (developer guide, "Constraints", "Expression parameters": "The maximum length
# of any expression string is 4 KB"), measured in bytes of the string as sent,
# with a ValidationException and before it reads or writes anything: "Invalid
# UpdateExpression: Expression size has exceeded the maximum allowed size;
# expression size: N" (the other expressions' wording follows the same form).
# moto takes any length, so code whose expressions grow with its data (one
# REMOVE path per mailbox entry) passed here and would fail in AWS. Each
# action that takes expressions checks them first; a request whose
# expressions are all within the limit goes to moto untouched.
from moto.dynamodb.exceptions import MockValidationException as _DynamoValidation  # noqa: E402

EXPRESSION_MAX = 4096  # bytes
EXPRESSION_PARAMS = ("UpdateExpression", "ConditionExpression", "KeyConditionExpression",
                     "FilterExpression", "ProjectionExpression")


def _expressions(params):
    """(name, text) of every expression in a DynamoDB request: its own, each
    transaction item's (Put, Update, Delete, ConditionCheck, Get), and each
    table's in a BatchGetItem."""
    scopes = [params]
    for item in params.get("TransactItems") or []:
        if isinstance(item, dict):
            scopes.extend(op for op in item.values() if isinstance(op, dict))
    request_items = params.get("RequestItems")
    if isinstance(request_items, dict):
        scopes.extend(keys for keys in request_items.values() if isinstance(keys, dict))
    for scope in scopes:
        for name in EXPRESSION_PARAMS:
            text = scope.get(name)
            if isinstance(text, str):
                yield name, text


def _refuse_long_expressions(params):
    for name, text in _expressions(params):
        size = len(text.encode("utf-8"))
        if size > EXPRESSION_MAX:
            raise _DynamoValidation(
                f"Invalid {name}: Expression size has exceeded the maximum allowed size; expression size: {size}")


def _checks_expression_size(action):
    # moto raises its own DynamoDB errors from the action, so a refusal is
    # answered as moto answers every other ValidationException (HTTP 400).
    def checked(self):
        _refuse_long_expressions(self.body)
        return action(self)

    checked.__name__ = action.__name__
    return checked


for _action in ("put_item", "update_item", "delete_item", "get_item", "query", "scan",
                "batch_get_item", "transact_get_items", "transact_write_items"):
    setattr(_DynamoHandler, _action, _checks_expression_size(getattr(_DynamoHandler, _action)))

# Transaction idempotency. TransactWriteItems takes a ClientRequestToken, which
# the SDK fills in once per call, so its retries carry the first attempt's:
# "multiple identical calls have the same effect as one single call", for 10
# minutes after the first one completed, and the same token with other
# parameters is refused with IdempotentParameterMismatchException (DynamoDB
# API reference, TransactWriteItems, ClientRequestToken). moto ignores the
# token, so a retry of a transaction whose answer was lost (a 500, a dropped
# connection) acted again and was cancelled on what its first attempt wrote:
# a lease taker met its own lease and took it for someone else's. A token
# whose transaction succeeded here is answered with that success without
# acting; one whose transaction was refused acts again (it changed nothing).
from moto.dynamodb.exceptions import DynamodbException as _DynamoException  # noqa: E402

TRANSACTION_TOKEN_SECONDS = 600
_transaction_tokens = {}  # (account, region, token) -> (parameters, when, answer)


class _IdempotentParameterMismatch(_DynamoException):
    def __init__(self):
        super().__init__("com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                         "The request uses the same client token as a previous, but non-identical request.")


def _idempotent_transaction(action):
    # Runs under _dynamodb_lock (call_action), like every DynamoDB action.
    def idempotent(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return action(self)
        key = (self.current_account, self.region, token)
        params = json.dumps({k: v for k, v in self.body.items() if k != "ClientRequestToken"}, sort_keys=True)
        now_s = datetime.now(timezone.utc).timestamp()
        seen = _transaction_tokens.get(key)
        if seen is not None and now_s - seen[1] < TRANSACTION_TOKEN_SECONDS:
            if seen[0] != params:
                raise _IdempotentParameterMismatch()
            return seen[2]
        answer = action(self)
        if len(_transaction_tokens) >= _ANSWERS_KEPT_TOKENS:
            _transaction_tokens.pop(next(iter(_transaction_tokens)))
        _transaction_tokens[key] = (params, now_s, answer)
        return answer

    idempotent.__name__ = action.__name__
    return idempotent


_ANSWERS_KEPT_TOKENS = 20000
_DynamoHandler.transact_write_items = _idempotent_transaction(_DynamoHandler.transact_write_items)

# Expressions as long as AWS takes. moto parses "REMOVE a, b, c" into a tree
# one level deeper per path, then copies and walks it recursively: with
# Python's default recursion limit (1000) a REMOVE of about 80 paths failed
# with a RecursionError (HTTP 500), where AWS takes any expression up to
# 4 KB (over 1000 paths). Measured: the longest 4 KB REMOVE needs a limit
# between 5000 and 8000; 10000 leaves room. The deeper recursion needs more
# C stack for the parts that recurse through C, so request threads get
# 32 MB stacks (address space only; Linux gives threads 8 MB by default).
sys.setrecursionlimit(10000)
threading.stack_size(32 << 20)

# Whole-expression checks once. Two of moto's update-expression checks (at
# most one clause of each kind; no path updated twice) look at every action
# of the expression, but moto runs them on every node of the parsed tree
# that is an UpdateExpression, and a REMOVE of n paths has about 3n such
# nodes, each check walking its whole subtree: a REMOVE of 200 paths (a
# mailbox close of 100 entries) took 0.45 s, one of 4 KB 10 s and more. What
# a check sees at a node is a part of what it sees at the root, where moto
# runs it too, so running it at the root alone refuses exactly the
# expressions moto refused, with the same error (when several paths are
# duplicated, its message may name more of them), and valid ones pass as
# before.
from moto.dynamodb.parsing import validators as _ddb_validators  # noqa: E402
from moto.dynamodb.parsing.ast_nodes import UpdateExpression as _UpdateExpression  # noqa: E402


def _check_root_only(self, node):
    return self.process(node) if isinstance(node, _UpdateExpression) else node


_ddb_validators.ActionCountValidator.traverse = _check_root_only
_ddb_validators.OverlappingPathsValidator.traverse = _check_root_only

_dispatch = _wapp.DomainDispatcherApplication.__call__


# Retried calls. The test harness sends one X-Localaws-Call-Id per SDK call,
# the same on the call's retries (localaws.withCallID). Its client retries a
# race in which the answer arrived but could not be read; without this, the
# retry of a write acted twice (a second CreateAccount, RepositoryAlreadyExists).
# A call id seen before gets the answer it got then, as idempotency tokens do in
# AWS. Calls without the header (the product's own) are untouched.
_answers = {}
_answers_lock = threading.Lock()
_ANSWERS_KEPT = 20000


def _dispatch_call(self, environ, start_response):
    if environ.get("PATH_INFO", "").startswith("/moto-api/reset"):
        _key_accounts.clear()
        with _answers_lock:
            _answers.clear()
        with _dynamodb_lock:
            _transaction_tokens.clear()
    call_id = environ.get("HTTP_X_LOCALAWS_CALL_ID")
    if not call_id:
        return _dispatch(self, environ, start_response)
    with _answers_lock:
        seen = _answers.get(call_id)
    if seen is not None:
        status, headers, body = seen
        start_response(status, headers)
        return [body]
    answer = {}

    def keep(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, list(headers)
        return start_response(status, headers, exc_info)

    body = b"".join(_dispatch(self, environ, keep))
    with _answers_lock:
        if len(_answers) >= _ANSWERS_KEPT:
            _answers.pop(next(iter(_answers)))
        _answers[call_id] = (answer["status"], answer["headers"], body)
    return [body]


_wapp.DomainDispatcherApplication.__call__ = _dispatch_call

# Routing cost. moto's dispatcher finds a request's backend under one global
# lock by listing moto's package directory and stat-ing every entry
# (backends.list_of_moto_modules, twice per request), then trying the URL
# patterns of every service in turn. Measured with cProfile over `make bench`
# that was most of the emulator's CPU per call (5 ms a call, on one core), so
# the local AWS answered every program at the speed of its own routing, not of
# the calls made. The package directory does not change while the server runs
# and a host always maps to the same backend, so both are computed once. What
# the backends do with a call is untouched.
import moto.backends as _moto_backends  # noqa: E402

_moto_modules = tuple(_moto_backends.list_of_moto_modules())
_moto_backends.list_of_moto_modules = lambda: iter(_moto_modules)
_backend_for_host = _wapp.DomainDispatcherApplication.get_backend_for_host
_host_backends = {}


def _cached_backend_for_host(self, host):
    if host in _host_backends:
        return _host_backends[host]
    backend = _backend_for_host(self, host)
    if backend:
        _host_backends[host] = backend
    return backend


_wapp.DomainDispatcherApplication.get_backend_for_host = _cached_backend_for_host

# Garbage collection. A bench organization holds hundreds of thousands of
# objects (repositories, audit items); every full collection scanned them all
# and stopped every request for 200-430 ms (measured with gc.callbacks), so
# calls arriving at once waited for the collector instead of each other. After
# each full collection the survivors are frozen (gc.freeze: never scanned
# again), so the next full collection looks only at what is new. Reference
# counting still frees them; only cyclic garbage among frozen objects would
# stay, which a test server's life does not notice.
import gc  # noqa: E402


def _freeze_after_full_collection(phase, info):
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


gc.callbacks.append(_freeze_after_full_collection)

# The caller's account. moto finds it for every request by looking the access
# key up in every account's IAM, in every partition, creating the backends it
# has not seen (moto.iam.models.get_account_id_from): with the bench's sixty
# accounts that scan cost more than most calls themselves, and the default
# keys ("testing", the hub's) always scan to the end. A key never changes
# account, and callers use only keys the local AWS issued (or the default),
# so the answer is remembered per key until the next reset.
import moto.iam.models as _iam_models  # noqa: E402

_scan_account_id = _iam_models.get_account_id_from
_key_accounts = {}


def _account_id_from(access_key):
    account = _key_accounts.get(access_key)
    if account is None:
        account = _key_accounts[access_key] = _scan_account_id(access_key)
    return account


_iam_models.get_account_id_from = _account_id_from

# Which methods of a response class are actions: moto asks inspect for every
# member of the class on every request. Classes do not change once the server
# answers (this file adds its methods before), so the answer is kept per class.
import moto.core.responses as _core_responses  # noqa: E402

_class_methods = _core_responses.method_names_from_class
_methods_of = {}


def _method_names(cls):
    names = _methods_of.get(cls)
    if names is None:
        names = _methods_of[cls] = frozenset(_class_methods(cls))
    return names


_core_responses.method_names_from_class = _method_names


# ------------------------------- Resource Groups Tagging API: ECR repositories
# moto's tag:GetResources covers many services but not ECR. ecr-warden
# resolves tag-based grants with one paginated GetResources query per registry
# (ResourceTypeFilters ["ecr:repository"] plus the grant's tag filters), so
# tags cost listing pages instead of one ListTagsForResource per repository.
# This section makes moto's tagging backend also yield the ECR repositories of
# its account and region, with their tags as moto's ECR backend holds them,
# when the type filters name "ecr" or "ecr:repository" (or there are none).
# Tag filters mean what they mean in AWS and in moto for other services: a
# resource must satisfy every filter (AND); a filter matches when the
# resource has the key and, if values are given, one of them (OR). Untagged
# repositories are left out, as moto leaves out untagged resources of every
# other service. Pagination is moto's own: the repositories are appended to
# the generator that get_resources pages through (ResourcesPerPage,
# TagsPerPage, PaginationToken). Nothing else of the file changes.
#
# moto's tagging module imports every service's backend (about a second), so
# the patch is installed when the server first loads that backend (its first
# tagging request), not at start-up.
import moto.backends as _moto_backends

ECR_RESOURCE_TYPES = ("ecr", "ecr:repository")


def _tags_match(tag_filters, tags):
    for f in tag_filters or []:
        key, values = f.get("Key"), f.get("Values") or []
        if key not in tags or (values and tags[key] not in values):
            return False
    return True


def _install_ecr_tagging():
    from moto.ecr.models import ecr_backends
    from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend as api

    moto_resources = api._get_resources_generator
    if getattr(moto_resources, "ecr_warden", False):
        return  # installed already

    def resources_with_ecr(self, tag_filters=None, resource_type_filters=None):
        # A query for ECR types only skips moto's own generator: it has
        # nothing for ECR, and walking it builds every service's backend for
        # the account and region (EC2's default VPC among them).
        ecr_only = bool(resource_type_filters) and all(
            t in ECR_RESOURCE_TYPES for t in resource_type_filters)
        if not ecr_only:
            yield from moto_resources(
                self, tag_filters=tag_filters or [], resource_type_filters=resource_type_filters)
        if resource_type_filters and not any(t in ECR_RESOURCE_TYPES for t in resource_type_filters):
            return
        ecr = ecr_backends[self.account_id][self.region_name]
        for repo in list(ecr.repositories.values()):
            tags = ecr.tagger.get_tag_dict_for_resource(repo.arn)
            if not tags or not _tags_match(tag_filters, tags):
                continue
            yield {"ResourceARN": repo.arn,
                   "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    resources_with_ecr.ecr_warden = True
    api._get_resources_generator = resources_with_ecr


_moto_get_backend = _moto_backends.get_backend


def _get_backend_with_ecr_tagging(name):
    backend = _moto_get_backend(name)
    if name == "resourcegroupstaggingapi":
        _install_ecr_tagging()
    return backend


_moto_backends.get_backend = _get_backend_with_ecr_tagging

# ------------------------------- CloudFormation: deleting an IAM managed policy
# CloudFormation deletes the managed policies a stack created when the stack
# is deleted (detaching them from the roles, users and groups the template
# attached them to). moto's ManagedPolicy has no delete handler, so a
# deleted stack left its policies behind and a reinstall under the same
# policy name failed with EntityAlreadyExists, which AWS would not do.
# (Whether AWS refuses to delete a policy that a role outside the template
# still uses as its permissions boundary is not documented; README
# "Unverified".)
from moto.iam.models import ManagedPolicy as _ManagedPolicy, iam_backends as _iam_backends  # noqa: E402
from moto.utilities.utils import get_partition as _get_partition  # noqa: E402


def _delete_managed_policy(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = _iam_backends[account_id][_get_partition(region_name)]
    policy = backend.managed_policies.get(resource_name)
    if policy is None:
        name = cloudformation_json.get("Properties", {}).get("ManagedPolicyName", resource_name)
        policy = next((p for p in backend.managed_policies.values() if p.name == name), None)
    if policy is None:
        return
    props = cloudformation_json.get("Properties", {})
    for role in props.get("Roles", []):
        backend.detach_role_policy(policy.arn, role)
    for user in props.get("Users", []):
        backend.detach_user_policy(policy.arn, user)
    for group in props.get("Groups", []):
        backend.detach_group_policy(policy.arn, group)
    backend.delete_policy(policy.arn)


_ManagedPolicy.delete_from_cloudformation_json = classmethod(_delete_managed_policy)

# DescribeAccount answers the account's place in the organization as AWS
# documents it (Organizations API reference, DescribeAccount response syntax:
# Account.Paths, "the paths in the organization where the account exists");
# moto leaves it out, which made ecr-warden climb with ListParents where AWS
# would not make it. The entry is the IAM entity path of the account,
# "o-x/r-y/ou-a/.../<account id>/". AWS's exact rendering (the account id, the
# trailing slash) is not documented: ecr-warden accepts either and climbs with
# ListParents when Paths is missing or unreadable (README "Unverified").
from moto.organizations.models import OrganizationsBackend as _OrgsBackend  # noqa: E402

_describe_account = _OrgsBackend.describe_account


def _describe_account_with_paths(self, **kwargs):
    out = _describe_account(self, **kwargs)
    account = self.get_account_by_id(kwargs["AccountId"])
    parents = {ou.id: ou.parent_id for ou in self.ou if ou.type != "ROOT"}
    chain, cur = [], account.parent_id
    while cur in parents and len(chain) <= 5:
        chain.append(cur)
        cur = parents[cur]
    out["Account"]["Paths"] = ["/".join([self.org.id, cur, *reversed(chain), account.id]) + "/"]
    return out


_OrgsBackend.describe_account = _describe_account_with_paths

# ------------------------------------- IAM: a role's inline policies share a quota
# IAM refuses an inline policy that would take a role's inline policies,
# together, past 10,240 characters, whitespace not counted (IAM and AWS STS
# quotas: "Role policy size cannot exceed 10,240 characters", an aggregate),
# with LimitExceeded "Maximum policy size of 10240 bytes exceeded for role
# <name>" (the text AWS users report; README "Unverified"); moto stores any
# size. shared/devtools/fakeaws answers the same.
from moto.iam.exceptions import LimitExceededException as _IAMLimitExceeded  # noqa: E402
from moto.iam.models import IAMBackend as _IAMBackend  # noqa: E402

ROLE_INLINE_MAX = 10240
_put_role_policy = _IAMBackend.put_role_policy


def _non_space(text):
    return sum(1 for c in text if c not in " \t\n\r")


def _put_role_policy_within_quota(self, role_name, policy_name, policy_json):
    role = self.get_role(role_name)
    size = _non_space(policy_json) + sum(_non_space(d) for n, d in role.policies.items() if n != policy_name)
    if size > ROLE_INLINE_MAX:
        raise _IAMLimitExceeded(f"Maximum policy size of {ROLE_INLINE_MAX} bytes exceeded for role {role_name}")
    return _put_role_policy(self, role_name, policy_name, policy_json)


_IAMBackend.put_role_policy = _put_role_policy_within_quota

# ------------------------------------- STS: AssumeRole into a role that exists
# AWS refuses sts:AssumeRole into a role that does not exist exactly as into
# one whose trust does not admit the caller: HTTP 403, AccessDenied, "User:
# <caller> is not authorized to perform: sts:AssumeRole on resource: <role
# arn>" (it does not say which). moto hands out keys for any role ARN, so a
# member whose execution role was never created, or was deleted, looked
# converged here and failed only in AWS. The role is looked up by its full
# ARN (a role under a path matches only with that path) in the IAM of the
# ARN's account; an account moto holds no IAM state for has no roles.
#
# One exemption: the session name "localaws", which only the test harness
# uses (localaws.AccountConfig). It stands for the test's own administrator
# access to every account (as OrganizationAccountAccessRole gives an
# organization's management account), which a world needs before it can
# create anything there. ecr-warden's sessions (ecr-warden-<function>) and
# every other caller's are checked. Trust policies are still not evaluated
# (README "Known differences").
from moto.sts.responses import TokenResponse as _STSResponse  # noqa: E402
from werkzeug.exceptions import HTTPException as _HTTPException  # noqa: E402
from xml.sax.saxutils import escape as _xml_escape  # noqa: E402

HARNESS_SESSION = "localaws"
ROLE_ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]+")
_assume_role = _STSResponse.assume_role


class _STSAccessDenied(_HTTPException):
    """STS's error answer in the Query protocol's XML shape, HTTP 403."""
    code = 403

    def __init__(self, message):
        super().__init__()
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>")

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", "AccessDenied")]

    def get_body(self, *args, **kwargs):
        return self.description


def _role_exists(arn):
    m = ROLE_ARN.fullmatch(arn)
    if not m:
        return True  # not a role ARN: moto's own answer stands
    per_account = dict.get(_iam_backends, m.group(2))
    backend = dict.get(per_account, m.group(1)) if per_account is not None else None
    return backend is not None and any(r.arn == arn for r in list(backend.roles.values()))


def _assume_existing_role(self):
    arn = self._get_param("RoleArn") or ""
    if self._get_param("RoleSessionName") != HARNESS_SESSION and not _role_exists(arn):
        _, caller, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
        raise _STSAccessDenied(f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {arn}")
    return _assume_role(self)


_STSResponse.assume_role = _assume_existing_role

# ------------------------------- DynamoDB: what AWS refuses in a request
# moto takes several requests AWS refuses before acting (each check below
# names its source; the wording AWS answers, where the API reference does
# not give it, is README "Unverified"). Every check runs before moto acts,
# so a refused request changes nothing, as in AWS. All answer
# ValidationException (HTTP 400) unless said otherwise.
#
# * Expression attribute names and values (developer guide, "Expression
#   attribute names" / "values"): a map given empty ("ExpressionAttributeValues
#   must not be empty"), given without any expression ("... can only be
#   specified when using expressions"), or holding a placeholder no expression
#   of its request (or transaction action, or BatchGetItem table) uses ("Value
#   provided in ExpressionAttributeValues unused in expressions: keys: {:x}").
#   moto refused unused names but took unused values on PutItem, DeleteItem,
#   Query, Scan and in transactions, and empty maps in most places.
# * Attribute values (developer guide, "Supported data types": "DynamoDB does
#   not support empty sets", "Each value within a set must be unique"; a Number
#   has "up to 38 digits of precision" within 1E-130 .. 9.99..E+125), in every
#   Item, Key and ExpressionAttributeValues, nested maps and lists included.
#   moto checked empty sets and number ranges only in a PutItem's item.
# * BatchWriteItem (API reference, BatchWriteItem: "DynamoDB rejects the
#   entire batch write operation" when two requests name the same item (two
#   puts, or a put and a delete), when there are more than 25 requests, or when
#   an item is over 400 KB). moto compared whole put items (two puts of one key
#   with other attributes passed), took any number of requests, and wrote the
#   items before an oversized one.
# * TransactWriteItems (API reference: "The aggregate size of the items in the
#   transaction cannot exceed 4 MB"; an item that "becomes too large (larger
#   than 400 KB) ... because of changes made by the transaction" cancels it,
#   TransactionCanceledException with a ValidationError reason for that action
#   and None for the others). moto took any aggregate size and answered an
#   oversized item with a bare ValidationException.
from decimal import Decimal, InvalidOperation  # noqa: E402

from moto.dynamodb.models import DynamoDBBackend as _DynamoBackend, dynamodb_backends as _dynamodb_backends  # noqa: E402

BATCH_WRITE_MAX = 25
TRANSACTION_ITEMS_MAX_BYTES = 4 * 1024 * 1024
ITEM_MAX_BYTES = 405000  # moto's own bound for one item (its LimitedSizeDict)
NUMBER_MAX = Decimal("9.9999999999999999999999999999999999999E+125")
NUMBER_MIN = Decimal("1E-130")
PLACEHOLDER = {"Names": re.compile(r"#[A-Za-z0-9_]+"), "Values": re.compile(r":[A-Za-z0-9_]+")}
SET_KINDS = {"SS": "string", "NS": "number", "BS": "binary"}


def _check_number(text):
    try:
        n = Decimal(text.strip()) if isinstance(text, str) else None
    except InvalidOperation:
        n = None
    if n is None or not n.is_finite() or text != text.strip():
        raise _DynamoValidation(f"The parameter cannot be converted to a numeric value: {text}")
    if n == 0:
        return
    digits = "".join(map(str, n.as_tuple().digits)).strip("0")
    if len(digits) > 38:
        raise _DynamoValidation("Attempting to store more than 38 significant digits in a Number")
    if abs(n) > NUMBER_MAX:
        raise _DynamoValidation("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if abs(n) < NUMBER_MIN:
        raise _DynamoValidation("Number underflow. Attempting to store a number with magnitude smaller than supported range")


def _check_value(value):
    """One AttributeValue, recursively: no empty or repeating sets, numbers
    within DynamoDB's precision and range."""
    if not isinstance(value, dict):
        return
    for kind, v in value.items():
        if kind == "N":
            _check_number(v)
        elif kind in SET_KINDS:
            members = v if isinstance(v, list) else []
            if not members:
                raise _DynamoValidation(f"One or more parameter values were invalid: An {SET_KINDS[kind]} set  may not be empty")
            if kind == "NS":
                for m in members:
                    _check_number(m)
                seen = [Decimal(m) for m in members]
            else:
                seen = [m if isinstance(m, str) else repr(m) for m in members]
            if len(set(seen)) != len(seen):
                shown = ", ".join(str(m) for m in members)
                raise _DynamoValidation(f"One or more parameter values were invalid: Input collection [{shown}] contains duplicates.")
        elif kind == "M" and isinstance(v, dict):
            for inner in v.values():
                _check_value(inner)
        elif kind == "L" and isinstance(v, list):
            for inner in v:
                _check_value(inner)


def _check_values(attrs):
    if isinstance(attrs, dict):
        for v in attrs.values():
            _check_value(v)


def _check_placeholders(scope):
    """A request (or transaction action, or BatchGetItem table) uses every
    expression attribute name and value it gives, and gives no empty map."""
    texts = [scope.get(n) for n in EXPRESSION_PARAMS if isinstance(scope.get(n), str)]
    for kind in ("Names", "Values"):
        given = scope.get("ExpressionAttribute" + kind)
        if given is None:
            continue
        if not given:
            raise _DynamoValidation(f"ExpressionAttribute{kind} must not be empty")
        if not texts:
            raise _DynamoValidation(f"ExpressionAttribute{kind} can only be specified when using expressions")
        used = set()
        for text in texts:
            used.update(PLACEHOLDER[kind].findall(text))
        unused = [k for k in given if k not in used]
        if unused:
            raise _DynamoValidation(
                f"Value provided in ExpressionAttribute{kind} unused in expressions: keys: {{{', '.join(unused)}}}")


def _item_bytes(attrs):
    return sum(_dynamo_type.bytesize(k) + _dynamo_type.DynamoType(v).size() for k, v in attrs.items())


def _item_key(table, attrs):
    keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return json.dumps([attrs.get(k) for k in keys], sort_keys=True)


def _refuse_in_request(self, action):
    body = self.body if isinstance(self.body, dict) else {}
    if action == "batch_write_item":
        _refuse_in_batch_write(self, body.get("RequestItems") or {})
        return
    scopes = [body]
    if action == "transact_write_items":
        scopes = [op for item in body.get("TransactItems") or [] if isinstance(item, dict)
                  for op in item.values() if isinstance(op, dict)]
    elif action == "transact_get_items":
        scopes = [op for item in body.get("TransactItems") or [] if isinstance(item, dict)
                  for op in item.values() if isinstance(op, dict)]
    elif action == "batch_get_item":
        scopes = [t for t in (body.get("RequestItems") or {}).values() if isinstance(t, dict)]
        for t in scopes:
            for key in t.get("Keys") or []:
                _check_values(key)
    for scope in scopes:
        _check_placeholders(scope)
        for part in ("Item", "Key", "ExpressionAttributeValues", "ExclusiveStartKey"):
            _check_values(scope.get(part))
    if action == "transact_write_items":
        size = sum(_item_bytes(op["Item"]) for item in body.get("TransactItems") or [] if isinstance(item, dict)
                   for kind, op in item.items() if kind == "Put" and isinstance(op, dict) and isinstance(op.get("Item"), dict))
        if size > TRANSACTION_ITEMS_MAX_BYTES:
            raise _DynamoValidation(
                f"Transaction request size has exceeded the maximum allowed size of {TRANSACTION_ITEMS_MAX_BYTES} bytes; size: {size}")


def _refuse_in_batch_write(self, request_items):
    total = sum(len(reqs) for reqs in request_items.values() if isinstance(reqs, list))
    for name, reqs in request_items.items():
        if isinstance(reqs, list) and len(reqs) > BATCH_WRITE_MAX:
            raise _DynamoValidation(
                f"1 validation error detected: Value at 'requestItems.{name}.member' failed to satisfy constraint: "
                f"Map value must satisfy constraint: [Member must have length less than or equal to {BATCH_WRITE_MAX}, "
                "Member must have length greater than or equal to 1]")
    if total > BATCH_WRITE_MAX:
        raise _DynamoValidation("Too many items requested for the BatchWriteItem call")
    for name, reqs in request_items.items():
        table = self.dynamodb_backend.get_table(name)
        seen = set()
        for req in reqs or []:
            put, delete = req.get("PutRequest"), req.get("DeleteRequest")
            attrs = (put or {}).get("Item") if put else (delete or {}).get("Key")
            if not isinstance(attrs, dict):
                continue
            _check_values(attrs)
            key = _item_key(table, attrs)
            if key in seen:
                raise _DynamoValidation("Provided list of item keys contains duplicates")
            seen.add(key)
            if put and _item_bytes(attrs) > ITEM_MAX_BYTES:
                raise _dynamo_type.ItemSizeTooLarge()


def _refuses_what_aws_refuses(action, name):
    def checked(self):
        _refuse_in_request(self, name)
        return action(self)

    checked.__name__ = action.__name__
    return checked


for _action in ("put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_get_item",
                "batch_write_item", "transact_get_items", "transact_write_items"):
    setattr(_DynamoHandler, _action, _refuses_what_aws_refuses(getattr(_DynamoHandler, _action), _action))


class ValidationError(Exception):
    """An action of a transaction that AWS cancels for validation: moto
    records any exception it does not know as a cancellation reason whose
    Code is the exception's class name."""


_transact_write = _DynamoBackend.transact_write_items
_in_transaction = threading.local()


def _transact_write_cancelling_oversize(self, transact_items):
    _in_transaction.on = True
    try:
        return _transact_write(self, transact_items)
    finally:
        _in_transaction.on = False


def _oversize_cancels(method):
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _DynamoValidation as e:
            if getattr(_in_transaction, "on", False) and "Item size" in e.exception_msg:
                raise ValidationError(e.exception_msg)
            raise

    guarded.__name__ = method.__name__
    return guarded


_DynamoBackend.transact_write_items = _transact_write_cancelling_oversize
_DynamoBackend.put_item = _oversize_cancels(_DynamoBackend.put_item)
_DynamoBackend.update_item = _oversize_cancels(_DynamoBackend.update_item)

# ------------------------------- SQS: what AWS refuses in SendMessageBatch
# SendMessageBatch as the API reference gives it (SendMessageBatch,
# SendMessageBatchRequestEntry): an entry Id of 1 to 80 characters,
# "alphanumeric characters, hyphens(-), and underscores (_)" (moto's pattern,
# Python's \w, also took any Unicode letter or digit: InvalidBatchEntryId);
# a MessageDeduplicationId or MessageGroupId of up to 128 "alphanumeric
# characters (a-z, A-Z, 0-9) and punctuation" (moto took any:
# InvalidParameterValue, wording README "Unverified"); message sizes in bytes
# (moto counted characters, so a body of multi-byte characters passed up to
# four times the limit): each body within the queue's MaximumMessageSize and
# the batch's bodies together within 1 MiB, "the sum of the individual lengths
# of all of the batched messages" (BatchRequestTooLong). Count, distinct Ids,
# DelaySeconds and a FIFO queue's MessageGroupId are moto's own checks.
from moto.sqs import exceptions as _sqs_errors  # noqa: E402
from moto.sqs.models import SQSBackend as _SQSBackend, MAXIMUM_MESSAGE_LENGTH as _SQS_BATCH_MAX  # noqa: E402

SQS_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
SQS_FIFO_TOKEN = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
_send_message_batch = _SQSBackend.send_message_batch


def _send_message_batch_checked(self, queue_name, entries):
    queue = self.get_queue(queue_name)
    total = 0
    for entry in entries.values():
        if not SQS_ENTRY_ID.fullmatch(str(entry.get("Id") or "")):
            raise _sqs_errors.InvalidBatchEntryId()
        for field in ("MessageDeduplicationId", "MessageGroupId"):
            value = entry.get(field)
            if value is not None and not SQS_FIFO_TOKEN.fullmatch(str(value)):
                raise _sqs_errors.InvalidParameterValue(
                    f"Value {value} for parameter {field} is invalid. Reason: {field} can only include "
                    "alphanumeric and punctuation characters. 1 to 128 in length.")
        size = len(str(entry.get("MessageBody") or "").encode("utf-8"))
        if size > int(queue.maximum_message_size):
            raise _sqs_errors.InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {queue.maximum_message_size} bytes.")
        total += size
    if total > _SQS_BATCH_MAX:
        raise _sqs_errors.BatchRequestTooLong(total)
    return _send_message_batch(self, queue_name, entries)


_SQSBackend.send_message_batch = _send_message_batch_checked

# ----------------------------------- STS: what AWS refuses in AssumeRole
# AssumeRole as the STS API reference gives it: RoleSessionName of 2 to 64
# characters matching [\w+=,.@-]* (moto checked only the 64), DurationSeconds
# from 900 to 43200 and not over the role's MaximumSessionDuration ("If you
# specify a value higher than this setting ... the operation fails"), and at
# most one hour for a session that is itself an assumed role ("role chaining
# limits your ... session to a maximum of one hour ... the operation fails");
# moto took any duration. ValidationError, HTTP 400 (wording of the duration
# refusals: README "Unverified").
from moto.sts.exceptions import STSValidationError as _STSValidation  # noqa: E402

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_assume_role_checked_role = _STSResponse.assume_role


def _role_max_session(arn):
    m = ROLE_ARN.fullmatch(arn or "")
    if not m:
        return None
    per_account = dict.get(_iam_backends, m.group(2))
    backend = dict.get(per_account, m.group(1)) if per_account is not None else None
    role = next((r for r in list(backend.roles.values()) if r.arn == arn), None) if backend is not None else None
    return int(role.max_session_duration or 3600) if role is not None else None


def _assume_role_validated(self):
    name = self._get_param("RoleSessionName") or ""
    if not SESSION_NAME.fullmatch(name):
        why = ("have length greater than or equal to 2" if len(name) < 2 else
               "have length less than or equal to 64" if len(name) > 64 else
               r"satisfy regular expression pattern: [\w+=,.@-]*")
        raise _STSValidation(f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must {why}")
    duration = self._get_param("DurationSeconds")
    if duration is not None:
        seconds = int(duration)
        if not 900 <= seconds <= 43200:
            bound = "greater than or equal to 900" if seconds < 900 else "less than or equal to 43200"
            raise _STSValidation(f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value {bound}")
        if name != HARNESS_SESSION:
            _, caller, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
            if ":assumed-role/" in caller and seconds > 3600:
                raise _STSValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
            most = _role_max_session(self._get_param("RoleArn"))
            if most is not None and seconds > most:
                raise _STSValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return _assume_role_checked_role(self)


_STSResponse.assume_role = _assume_role_validated


# ------------------------------------------ IAM: what CreateRole and friends refuse
# moto's IAM takes role names, paths and policy names of any shape, a trust
# policy that is not JSON at CreateRole, a trust naming a role or user that
# does not exist, a permissions boundary that does not exist, and an identity
# policy with a Principal. IAM refuses each (IAM API reference, CreateRole,
# PutRolePolicy, PutRolePermissionsBoundary; IAM User Guide, "IAM JSON policy
# elements: Principal"), with the codes below. Patched on the API answers
# (IAMResponse), not on the backend, so CloudFormation's own resource handlers
# (the member stacks the tests deploy) are untouched.
#
#   - RoleName 1-64 of [\w+=,.@-]+, Path 1-512 "/" or "/.../", PolicyName
#     1-128 of [\w+=,.@-]+: ValidationError with the model's
#     "1 validation error detected" text (IAM's Query protocol code);
#   - a role name already taken in another case ("Names are not distinguished
#     by case"): EntityAlreadyExists, as for the same case;
#   - a trust policy that is not a valid policy at CreateRole:
#     MalformedPolicyDocument, as moto already answers at UpdateAssumeRolePolicy;
#   - a trust policy (CreateRole, UpdateAssumeRolePolicy) whose Principal
#     names an IAM role or user that does not exist in an account the local
#     AWS knows (see missing_principals): MalformedPolicyDocument
#     'Invalid principal in policy: "AWS":"<arn>"' (IAM resolves such a
#     principal to the role's unique id when it saves the policy, so it must
#     exist; the text is the one AWS users report, README "Unverified");
#   - a PermissionsBoundary (CreateRole, PutRolePermissionsBoundary) that is
#     a managed policy of the role's own account that does not exist:
#     NoSuchEntity "Scope ARN: <arn> does not exist or is not attachable."
#     (the text AWS users report; README "Unverified"). AWS managed
#     policies (account "aws") are not loaded here and are taken unchecked;
#   - an inline (identity) policy with a Principal element:
#     MalformedPolicyDocument "Policy document should not specify a principal.";
#   - a trust policy over 2,048 characters, whitespace not counted (IAM
#     quotas: "Role trust policy length", the default of an adjustable
#     quota): LimitExceeded "Cannot exceed quota for ACLSizePerRole: 2048".
from moto.iam.exceptions import (  # noqa: E402
    EntityAlreadyExists as _IAMEntityAlreadyExists,
    MalformedPolicyDocument as _IAMMalformed,
    NotFoundException as _IAMNoSuchEntity,
    ValidationError as _IAMValidationError,
)
from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator as _TrustValidator  # noqa: E402
from moto.iam.responses import IamResponse as _IAMResponse  # noqa: E402

IAM_NAME_PATTERN = r"[\w+=,.@-]+"
IAM_PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
TRUST_POLICY_MAX = 2048


def _iam_check(value, field, lo, hi, pattern):
    """IAM's model validation, answered as IAM answers it (ValidationError)."""
    if value is None:
        return
    why = None
    if len(value) < lo:
        why = f"have length greater than or equal to {lo}"
    elif len(value) > hi:
        why = f"have length less than or equal to {hi}"
    elif not re.fullmatch(pattern, value):
        why = f"satisfy regular expression pattern: {pattern}"
    if why:
        raise _IAMValidationError(f"1 validation error detected: Value '{value}' at '{field}' "
                                  f"failed to satisfy constraint: Member must {why}")


def _trust_checked(text):
    """Refuses a trust policy IAM would not save (see above); text as sent."""
    if text is None:
        return
    _TrustValidator(text).validate()
    if _non_space(text) > TRUST_POLICY_MAX:
        raise _IAMLimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_MAX}")
    missing = missing_principals(json.loads(text))
    if missing:
        raise _IAMMalformed(f'Invalid principal in policy: "AWS":"{missing[0]}"')


def _boundary_checked(self, arn):
    if not arn:
        return
    m = re.fullmatch(r"arn:aws(?:-[a-z]+)*:iam::([0-9]{12}):policy/.+", arn)
    if m and m.group(1) == self.current_account and arn not in self.backend.managed_policies:
        raise _IAMNoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.")


_iam_create_role = _IAMResponse.create_role


def _create_role_checked(self):
    name = self._get_param("RoleName")
    _iam_check(name, "roleName", 1, 64, IAM_NAME_PATTERN)
    _iam_check(self._get_param("Path"), "path", 1, 512, IAM_PATH_PATTERN)
    if name and any(r.name.lower() == name.lower() for r in list(self.backend.get_roles())):
        raise _IAMEntityAlreadyExists(f"Role with name {name} already exists.")
    _trust_checked(self._get_param("AssumeRolePolicyDocument"))
    _boundary_checked(self, self._get_param("PermissionsBoundary"))
    return _iam_create_role(self)


_iam_update_trust = _IAMResponse.update_assume_role_policy


def _update_trust_checked(self):
    self.backend.get_role(self._get_param("RoleName"))  # NoSuchEntity first, as before
    _trust_checked(self._get_param("PolicyDocument"))
    return _iam_update_trust(self)


_iam_put_boundary = _IAMResponse.put_role_permissions_boundary


def _put_boundary_checked(self):
    self.backend.get_role(self._get_param("RoleName"))
    _boundary_checked(self, self._get_param("PermissionsBoundary"))
    return _iam_put_boundary(self)


_iam_put_role_policy = _IAMResponse.put_role_policy


def _put_role_policy_checked(self):
    _iam_check(self._get_param("PolicyName"), "policyName", 1, 128, IAM_NAME_PATTERN)
    text = self._get_param("PolicyDocument")
    try:
        doc = json.loads(text or "")
    except ValueError:
        doc = None  # moto's validator answers it
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    if any(isinstance(st, dict) and ("Principal" in st or "NotPrincipal" in st) for st in statements):
        raise _IAMMalformed("Policy document should not specify a principal.")
    return _iam_put_role_policy(self)


_IAMResponse.create_role = _create_role_checked
_IAMResponse.update_assume_role_policy = _update_trust_checked
_IAMResponse.put_role_permissions_boundary = _put_boundary_checked
_IAMResponse.put_role_policy = _put_role_policy_checked

# ------------------------- Organizations: DescribeAccount of a malformed id
# The Organizations API reference gives AccountId the pattern ^\d{12}$ and
# InvalidInputException for a value that does not match a pattern (reason
# INVALID_PATTERN, "You provided a value that doesn't match the required
# pattern."); moto answers AccountNotFoundException for any id.
from moto.organizations.exceptions import OrganizationsClientError as _OrgsError  # noqa: E402
from moto.organizations.responses import OrganizationsResponse as _OrgsResponse  # noqa: E402

_orgs_describe_account = _OrgsResponse.describe_account


class _OrgsInvalidInput(_OrgsError):
    def __init__(self, reason, message):
        super().__init__("InvalidInputException", message)
        self.reason = reason  # the error shape's Reason member


def _describe_account_checked(self):
    account = self.request_params.get("AccountId")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
        if isinstance(account, str) and len(account) > 12:
            raise _OrgsInvalidInput("MAX_LENGTH_EXCEEDED", "You provided a string parameter that is longer than allowed.")
        raise _OrgsInvalidInput("INVALID_PATTERN", "You provided a value that doesn't match the required pattern.")
    return _orgs_describe_account(self)


_OrgsResponse.describe_account = _describe_account_checked

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
