"""deploy/template.yaml: in step with its generator, valid for cfn-lint (SAM schemas included), with
the properties the design asks for, and Glue tables that moto's Glue takes and gives back intact."""

from __future__ import annotations

import copy
import importlib
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.decode import cfn_yaml
from starlette.routing import Route

from deploy.template import render
from gateway.app import create_api_app, create_app
from gateway.ingest_app import create_ingest_app
from pipeline import layout
from pipeline.config import load_settings
from pipeline.curated import schema
from pipeline.layout import QUARANTINE, curated_key, raw_key, rollup_key
from pipeline.query import ATHENA_DATABASE, ATHENA_SCAN_LIMIT
from pipeline.query.glue import table_inputs
from pipeline.query.tables import CURATED, ROLLUPS, TABLES
from pipeline.queue.local import LocalQueue

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "template.yaml"
BUCKET = "percus-data"
# Written out here rather than taken from the code under test.
HIVE = {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int", pa.float64(): "double",
        pa.bool_(): "boolean", schema.TIMESTAMP: "timestamp", pa.decimal128(38, 0): "decimal(38,0)"}


@pytest.fixture(scope="module")
def text() -> str:
    return TEMPLATE.read_text()


@pytest.fixture(scope="module")
def resources(text: str) -> dict[str, Any]:
    # cfn-lint's loader also reads short-form intrinsics (!Ref, !GetAtt), should anyone write them.
    return cfn_yaml.loads(text)["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == kind}


def resolved(value: Any, bucket: str = BUCKET) -> Any:
    """A value with `Fn::Sub` of the bucket done as CloudFormation would do it."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{!", "${", value["Fn::Sub"].replace("${DataBucket}", bucket))
    if isinstance(value, dict):
        return {key: resolved(item, bucket) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, bucket) for item in value]
    return value


def test_committed_template_is_what_the_generator_writes(text: str) -> None:
    assert text == render(), "deploy/template.yaml is stale: run python -m deploy.template"


def test_cfn_lint_finds_nothing(text: str) -> None:
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_cfn_lint_would_catch_a_broken_sam_resource(text: str) -> None:
    broken = text.replace("ReservedConcurrentExecutions:", "ReservedConcurrency:", 1)
    assert any("ReservedConcurrency" in str(match) for match in lint(broken, config=ManualArgs(
        regions=["us-east-1"])))


def test_every_function_starts_a_handler_of_the_image(resources: dict[str, Any]) -> None:
    functions = of_type(resources, "AWS::Serverless::Function")
    assert len(functions) == 8
    for name, properties in functions.items():
        assert properties["PackageType"] == "Image"
        assert resources[name]["Metadata"]["Dockerfile"] == "deploy/Dockerfile"
        (handler,) = properties["ImageConfig"]["Command"]
        module, _, attribute = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_the_image_holds_every_package_of_the_distribution() -> None:
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = re.findall(r"^COPY (\S+) ", (REPO / "deploy" / "Dockerfile").read_text(), re.MULTILINE)
    assert {pattern.rstrip("*") for pattern in packages["include"]} <= set(copied)


def test_the_image_installs_the_lock_then_the_project_alone() -> None:
    """What runs on Lambda is what `make test` tested: hash-checked pins, nothing resolved at build time."""
    runs = re.findall(r"^RUN (pip install .*?)(?: &&|$)", (REPO / "deploy" / "Dockerfile").read_text(),
                      re.MULTILINE)
    assert runs == ["pip install --no-cache-dir --require-hashes -r /tmp/percus/requirements/run.txt",
                    "pip install --no-cache-dir --no-deps --no-build-isolation /tmp/percus"]


def test_bucket_lifecycle_per_zone(resources: dict[str, Any]) -> None:
    (bucket,) = of_type(resources, "AWS::S3::Bucket").values()
    rules = {rule["Prefix"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())

    def tiers(prefix: str) -> tuple[list[tuple[str, int]], int | None]:
        rule = rules[prefix]
        return ([(t["StorageClass"], t["TransitionInDays"]) for t in rule.get("Transitions", [])],
                rule.get("ExpirationInDays"))

    assert tiers("raw/") == ([("GLACIER_IR", 30)], 365)
    assert tiers("curated/") == ([("GLACIER_IR", 730)], 5 * 365)
    assert tiers("rollups/") == ([], 5 * 365)
    assert tiers(QUARANTINE.prefix) == ([], 30)
    assert tiers("exports/")[1] == 2  # export links live 24 h
    assert rules[""] == {"Id": "incomplete-uploads", "Status": "Enabled", "Prefix": "",
                         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
    for kept in ("audit/", "state/", "config/"):  # the audit log and the pipeline's own state
        assert not any(prefix and kept.startswith(prefix) for prefix in rules)
    # The rules' prefixes are the layout's.
    assert raw_key("acme", datetime(2026, 1, 1), "b").startswith("raw/")
    assert curated_key("acme", datetime(2026, 1, 1)).startswith("curated/")
    assert rollup_key("daily", "acme", datetime(2026, 1, 1).date()).startswith("rollups/")


def test_bucket_is_private_and_encrypted_with_kms(resources: dict[str, Any]) -> None:
    (bucket,) = of_type(resources, "AWS::S3::Bucket").values()
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert resources["DataBucket"]["DeletionPolicy"] == "Retain"
    assert resources["DataKey"]["DeletionPolicy"] == "Retain"
    (policy,) = of_type(resources, "AWS::S3::BucketPolicy").values()
    tls, never_deleted, never_overwritten = policy["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    audit_objects = [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${DataBucket}/audit/*"}]
    assert never_deleted == {"Sid": "AuditLogIsNeverDeleted", "Effect": "Deny", "Principal": "*",
                             "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                             "Resource": audit_objects}
    # Only a create passes: the condition denies a PutObject that lacks If-None-Match, which
    # S3Store.create sends (tests/pipeline/governance/test_audit_log.py) and the audit log writes with.
    assert never_overwritten == {"Sid": "AuditLogIsNeverOverwritten", "Effect": "Deny", "Principal": "*",
                                 "Action": "s3:PutObject", "Resource": audit_objects,
                                 "Condition": {"Null": {"s3:if-none-match": "true"}}}


def test_queue_dead_letters_after_five_receives_and_the_writer_reports_item_failures(
        resources: dict[str, Any]) -> None:
    queue = resources["EventsQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 5}
    writer = resources["WriterFunction"]["Properties"]
    source = writer["Events"]["Queue"]
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["BatchSize"] == 1000
    assert queue["VisibilityTimeout"] >= 6 * writer["Timeout"]


def test_the_queues_keep_events_days_not_weeks(resources: dict[str, Any]) -> None:
    # DSAR cannot reach into SQS: the retention is what bounds an event's stay there (docs/privacy.md).
    queue = resources["EventsQueue"]["Properties"]["MessageRetentionPeriod"]
    dead_letters = resources["EventsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert (queue, dead_letters) == (4 * 86400, 7 * 86400)
    # A dead letter keeps its enqueue time: a shorter retention there would drop it on arrival.
    assert dead_letters > queue


def test_ingest_behind_the_http_api_with_keys_from_secrets_manager(text: str, resources: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    ingest, api = resources["IngestFunction"]["Properties"], resources["ApiFunction"]["Properties"]
    routes = {(event["Properties"]["Method"], event["Properties"]["Path"])
              for event in ingest["Events"].values()}
    # Ingest takes exactly the ingest app's event paths, preflights included; the API function the
    # rest, which its app serves all but those, the demo and `percus serve`'s metrics.
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k:s"})
    with LocalQueue(tmp_path / "queue") as queue:
        ingest_paths = {route.path for route in create_ingest_app(settings, queue).routes
                        if isinstance(route, Route) and "POST" in (route.methods or ())}
        local_paths = {route.path for route in create_app(settings, queue).routes if isinstance(route, Route)}
    api_paths = {route.path for route in create_api_app(settings).routes if isinstance(route, Route)}
    assert {path for _, path in routes} == ingest_paths == {"/analytics/v1/events", "/analytics/v1/indiTrack",
                                                            "/api/indiTrack"}
    assert api_paths == local_paths - ingest_paths - {"/demo", "/metrics"}
    assert {method for method, _ in routes} == {"POST", "OPTIONS"} and len(routes) == 6
    assert all(event["Properties"]["ApiId"] == {"Ref": "HttpApi"} for event in ingest["Events"].values())
    assert api["Events"]["Api"] == {"Type": "HttpApi", "Properties": {
        "ApiId": {"Ref": "HttpApi"}, "Path": "/{proxy+}", "Method": "ANY"}}
    for function in (ingest, api):
        assert function["Environment"]["Variables"] == {
            "PERCUS_TOKEN_KEYS_SECRET": {"Ref": "TokenKeysSecretArn"},
            "PERCUS_VIEWER_KEYS_SECRET": {"Ref": "ViewerKeysSecretArn"}}
    assert "PERCUS_TOKEN_KEYS:" not in text and "PERCUS_VIEWER_KEYS:" not in text  # never inline
    globals_env = cfn_yaml.loads(text)["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["PERCUS_QUEUE"] == {"Ref": "EventsQueue"}
    assert globals_env["PERCUS_STORE"] == {"Fn::Sub": "s3://${DataBucket}"}
    assert globals_env["PERCUS_QUERY_ENGINE"] == "athena"


def test_schedules_and_the_single_compactor(resources: dict[str, Any]) -> None:
    compactor = resources["CompactorFunction"]["Properties"]
    assert compactor["ReservedConcurrentExecutions"] == 1
    assert compactor["Events"]["Hourly"]["Properties"]["Schedule"] == "cron(5 * * * ? *)"
    rollups = resources["RollupsFunction"]["Properties"]
    assert rollups["Events"]["Nightly"]["Properties"]["Schedule"] == "cron(30 0 * * ? *)"
    webhooks = resources["WebhooksFunction"]["Properties"]
    assert webhooks["ReservedConcurrentExecutions"] == 1  # the webhook state has no lock on S3
    assert webhooks["Events"]["Every5Minutes"]["Properties"]["Schedule"] == "rate(5 minutes)"
    assert webhooks["Timeout"] <= 5 * 60  # a run ends before the next one starts
    digest = resources["DigestFunction"]["Properties"]
    assert digest["Events"]["Weekly"]["Properties"]["Schedule"] == "cron(0 7 ? * MON *)"
    assert digest["ReservedConcurrentExecutions"] == 1  # a week is sent once
    assert digest["Environment"]["Variables"] == {"PERCUS_MAIL": "ses",
                                                  "PERCUS_MAIL_FROM": {"Ref": "DigestSender"}}


def test_each_role_grants_named_actions_on_named_resources(resources: dict[str, Any]) -> None:
    granted: dict[str, set[tuple[str, str]]] = {}
    for name, role in of_type(resources, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                assert statement["Resource"] != "*" and "*" not in statement["Action"]
                for action in statement["Action"]:
                    assert not action.endswith("*"), (name, action)
                    for resource in statement["Resource"] if isinstance(statement["Resource"], list) \
                            else [statement["Resource"]]:
                        target = resource.get("Fn::Sub") or str(resource)
                        granted.setdefault(name, set()).add((action, target.rsplit("}/", 1)[-1]))
    writer = granted["WriterRole"]
    assert {action for action, _ in writer if action.startswith("s3:")} == {"s3:PutObject"}
    assert ("s3:PutObject", "raw/*") in writer
    assert not any(action.startswith("secretsmanager:") for action, _ in writer)
    assert {action for action, _ in granted["IngestRole"]} == {
        "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "secretsmanager:GetSecretValue",
        "s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    assert {target for action, target in granted["IngestRole"] if action == "s3:GetObject"} == {
        "config/legacy-group-keys/*"}
    # The API function queries and exports, takes the platform's integration events (dimensions,
    # and the organizations they create or configure) and outcomes and audiences in; it neither
    # enqueues nor deletes anything.
    api = granted["ApiRole"]
    assert not any(action.startswith("sqs:") or action == "s3:DeleteObject" for action, _ in api)
    assert {(a, t) for a, t in api if a == "s3:PutObject"} == {
        ("s3:PutObject", "exports/*"), ("s3:PutObject", "audit/*"), ("s3:PutObject", "athena-results/*"),
        ("s3:PutObject", "dims/*"), ("s3:PutObject", "config/organizations/*"),
        ("s3:PutObject", "outcomes/*"), ("s3:PutObject", "audiences/*")}
    assert {"athena:StartQueryExecution", "glue:GetTable"} <= {action for action, _ in api}
    assert ("s3:DeleteObject", "raw/*") in granted["CompactorRole"]
    assert not any(action == "s3:DeleteObject" for action, _ in granted["RollupsRole"])
    assert ("s3:PutObject", "rollups/*") in granted["RollupsRole"]
    # The compactor's function writes rollups only for the DSAR requests it runs (rebuilt days).
    assert {name for name, grants in granted.items() if ("s3:PutObject", "rollups/*") in grants} == {
        "RollupsRole", "CompactorRole"}
    # Webhooks read what the compactor committed and write only their own state and audit records.
    writes = {(action, target) for action, target in granted["WebhooksRole"]
              if action in ("s3:PutObject", "s3:DeleteObject")}
    assert writes == {("s3:PutObject", "state/webhooks/*"), ("s3:PutObject", "audit/*"),
                      ("s3:DeleteObject", "state/webhooks/*")}
    # The digest reads the data and writes only its state, the audit log and Athena's results.
    assert {(action, target) for action, target in granted["DigestRole"] if action == "s3:PutObject"} == {
        ("s3:PutObject", "state/digest/*"), ("s3:PutObject", "audit/*"), ("s3:PutObject", "athena-results/*")}
    assert not any(action == "s3:DeleteObject" for action, _ in granted["DigestRole"])
    assert {name for name, grants in granted.items() if any(a.startswith("ses:") for a, _ in grants)} == {
        "DigestRole"}
    for function in of_type(resources, "AWS::Serverless::Function").values():
        assert "Policies" not in function  # no SAM-added policies beside the role


def test_athena_workgroup_enforces_output_and_scan_limit(text: str, resources: dict[str, Any]) -> None:
    (workgroup,) = of_type(resources, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    parameter = cfn_yaml.loads(text)["Parameters"]["BytesScannedCutoffPerQuery"]
    assert parameter["Default"] <= parameter["MaxValue"] == ATHENA_SCAN_LIMIT
    assert resolved(configuration["ResultConfiguration"]["OutputLocation"]).startswith(f"s3://{BUCKET}/")
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


# The platform's dimensions (pipeline/platform/dims.py): each entity's latest state, and the histories.
DIMENSION_TABLES = ["dim_projects", "dim_templates", "dim_channels", "dim_shares", "dim_organizations",
                    "dim_projects_history", "dim_templates_history", "dim_channels_history",
                    "dim_shares_history", "dim_organizations_history", "dim_unknown_history"]


def _glue_tables(resources: dict[str, Any]) -> list[dict[str, Any]]:
    tables = of_type(resources, "AWS::Glue::Table").values()
    assert all(table["DatabaseName"] == {"Ref": "GlueDatabase"} for table in tables)
    return [resolved(table["TableInput"]) for table in tables]


def test_glue_tables_are_the_code_tables_with_partition_projection(resources: dict[str, Any]) -> None:
    (database,) = of_type(resources, "AWS::Glue::Database").values()
    assert database["DatabaseInput"]["Name"] == ATHENA_DATABASE
    inputs = _glue_tables(resources)
    assert inputs == table_inputs(f"s3://{BUCKET}")
    assert [table["Name"] for table in inputs] == [*TABLES, *DIMENSION_TABLES]
    for table in inputs:
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert parameters["projection.org.type"] == "injected"  # a query must name its organization
        for key in table["PartitionKeys"]:
            assert parameters[f"projection.{key['Name']}.type"]


def test_dimension_tables_are_located_where_the_handler_writes(resources: dict[str, Any]) -> None:
    by_name = {table["Name"]: table for table in _glue_tables(resources)}
    for table, part in (("projects", "latest"), ("shares", "history")):
        name = layout.dimension_table(table, part)
        template = by_name[name]["Parameters"]["storage.location.template"]
        assert template.replace("${org}", "acme") == f"s3://{BUCKET}/" + layout.dimension_key(
            table, "acme", part).rsplit("/", 1)[0] + "/"
    assert [c["Name"] for c in by_name["dim_projects"]["StorageDescriptor"]["Columns"]] == [
        "entity_id", "project_id", "name", "archived", "updated_at"]


def test_projected_locations_are_the_layout_keys(resources: dict[str, Any]) -> None:
    by_name = {table["Name"]: table for table in _glue_tables(resources)}
    hour = datetime(2026, 3, 7, 10)
    template = by_name[CURATED.name]["Parameters"]["storage.location.template"]
    curated_dir = template.replace("${org}", "acme").replace("${year}", "2026") \
        .replace("${month}", "03").replace("${day}", "07")
    assert curated_dir == f"s3://{BUCKET}/" + curated_key("acme", hour).rsplit("/", 1)[0] + "/"
    for name, table in ROLLUPS.items():
        template = by_name[table.name]["Parameters"]["storage.location.template"]
        rollup_dir = template.replace("${org}", "acme").replace("${date}", "2026-03-07")
        assert rollup_dir == f"s3://{BUCKET}/" + rollup_key(name, "acme", hour.date()).rsplit("/", 1)[0] + "/"


@pytest.mark.aws
def test_moto_glue_takes_the_template_tables_and_gives_them_back(aws: str, resources: dict[str, Any]) -> None:
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": ATHENA_DATABASE})
    inputs = _glue_tables(resources)
    for table in inputs:
        glue.create_table(DatabaseName=ATHENA_DATABASE, TableInput=copy.deepcopy(table))

    stored = {table["Name"]: table for table in glue.get_tables(DatabaseName=ATHENA_DATABASE)["TableList"]}
    assert set(stored) == {*TABLES, *DIMENSION_TABLES}
    curated_table = stored[CURATED.name]
    assert [(c["Name"], c["Type"]) for c in curated_table["StorageDescriptor"]["Columns"]] == [
        (field.name, HIVE[field.type]) for field in schema.SCHEMA]
    assert [(k["Name"], k["Type"]) for k in curated_table["PartitionKeys"]] == [
        ("org", "string"), ("year", "int"), ("month", "int"), ("day", "int")]
    for name, table in ROLLUPS.items():
        got = stored[table.name]
        assert [(c["Name"], c["Type"]) for c in got["StorageDescriptor"]["Columns"]] == [
            (field.name, HIVE[field.type]) for field in table.schema]
        assert [(k["Name"], k["Type"]) for k in got["PartitionKeys"]] == [
            ("org", "string"), ("date", "string")]
        assert got["Parameters"]["projection.date.format"] == "yyyy-MM-dd"
        assert got["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/rollups/{name}/"
    for table in inputs:
        assert stored[table["Name"]]["Parameters"] == table["Parameters"]


def test_platform_events_reach_one_consumer_through_their_own_queue(resources: dict[str, Any]) -> None:
    rule = resources["PlatformEventsRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["percus.campaign", "percus.identity"]}  # every detail-type
    assert rule["Targets"] == [{"Id": "percus", "Arn": {"Fn::GetAtt": ["PlatformEventsQueue", "Arn"]}}]
    [statement] = resources["PlatformEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["PlatformEventsRule", "Arn"]}}}
    queue = resources["PlatformEventsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["PlatformEventsDeadLetterQueue", "Arn"]}
    consumer = resources["PlatformEventsFunction"]["Properties"]
    assert consumer["ReservedConcurrentExecutions"] == 1  # the dimensions' one writer on S3
    assert consumer["Events"]["Queue"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    statements = resources["PlatformEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    written = {resource["Fn::Sub"].rsplit("}/", 1)[-1] for statement in statements
               if statement["Action"] == ["s3:PutObject"] for resource in statement["Resource"]}
    assert written == {"audit/*", "config/organizations/*", "dims/*"}
