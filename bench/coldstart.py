"""Cold start of the ingest Lambda: what importing its handler module costs (the init phase), what its
first request adds by building the app (settings, SQS queue, S3 store: clients made, nothing sent),
and then by answering it and loading ua-parser's rules, as the first event's User-Agent does; and
what a first event costs, validated and enqueued through the handler (the embedded default's queue and
store stand in for SQS and S3, so nothing leaves the process: no boto3 in that figure).

    python -m bench.coldstart [--quick] [--rounds N] [--json FILE]

Deferred from the import to the first request: Mangum, boto3/botocore (the SQS queue and S3 store,
made by `adapter()`), ua-parser (the first parse) and the event validators (the first event builds
the one its body needs). Only what moves out of all the figures is saved: a Lambda's init phase is
billed, and its first request waits on whatever was deferred.

Each figure is the median over `--rounds` fresh interpreters (15; quick: 5), run in turns so a
busy machine slows them alike, all in the ingest function's environment (deploy/template.py) and with
its packages: what this environment installs beyond the image's lock (requirements/run.txt), the test
tools, is hidden from them, as PyYAML, which ua-parser imports whenever it is installed. Import
times are Python's own `-X importtime` cumulative figure of the top-level module; baselines from the
same rounds: `import starlette.applications` (the framework's app class, which any Starlette service
imports) and `python -c pass` (interpreter start).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import REPO, Report

HANDLER = "gateway.lambda_ingest"
FRAMEWORK = "starlette.applications"
# What the ingest function's environment holds (deploy/template.py); no request leaves the process.
LAMBDA_ENV = {"PERCUS_TOKEN_KEYS": "k1:" + "s" * 32, "PERCUS_VIEWER_KEYS": "v1:" + "v" * 32,
              "PERCUS_QUEUE": "https://sqs.eu-west-1.amazonaws.com/123456789012/percus-events",
              "PERCUS_STORE": "s3://percus-analytics/prod", "AWS_DEFAULT_REGION": "eu-west-1",
              "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "PATH": "/usr/bin:/bin",
              "PYDANTIC_DISABLE_PLUGINS": "1"}
GOAL_MS = 150  # issue 18 (bench/goals.py)
# GET /healthz as API Gateway (HTTP API, payload 2.0) delivers it: answered without the queue.
HEALTHZ = json.loads((REPO / "fixtures" / "aws" / "http-api-v2-event.json").read_text())
HEALTHZ.update(rawPath="/healthz", body=None)
HEALTHZ["requestContext"]["http"].update(method="GET", path="/healthz")
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@functools.cache
def in_image(code: str) -> str:
    """`code`, run with only the packages the Lambda image installs (requirements/run.txt) importable:
    the others' modules are set to None in sys.modules, so importing one fails as if it were absent."""
    def name(text: str) -> str:
        return re.sub(r"[-_.]+", "-", text).lower()

    locked = {name(found[1]) for line in (REPO / "requirements" / "run.txt").read_text().splitlines()
              if (found := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line))}
    locked.add("percus-analytics")  # this project, installed editable here, copied into the image
    absent = sorted(module for module, dists in metadata.packages_distributions().items()
                    if not any(name(dist) in locked for dist in dists))
    return f"import sys; sys.modules.update(dict.fromkeys({absent!r})); {code}"


def first_event(data_dir: str) -> tuple[str, dict[str, str]]:
    """The code and environment of a fresh process that imports the handler and sends it one event
    (session.started, as the SDK's first), to be answered 202; `data_dir` holds the queue and store."""
    env = {**LAMBDA_ENV, "PERCUS_QUEUE": "local", "PERCUS_STORE": f"file://{data_dir}/store",
           "PERCUS_DATA_DIR": data_dir}
    body = {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "session_id": str(uuid.uuid4()), "consent": {"tracking": True}}
    post = json.loads(json.dumps(HEALTHZ))
    post.update(rawPath="/analytics/v1/events", body=json.dumps(body))
    post["requestContext"]["http"].update(method="POST", path="/analytics/v1/events")
    post["headers"].update({"content-type": "application/json", "user-agent": UA})
    code = (f"import {HANDLER}; from gateway.tokens import issue_token; event = {post!r}; "
            f"event['headers']['authorization'] = 'Bearer ' + issue_token({HANDLER}.gateway_settings()"
            ".token_keys, 'acme', 'web'); "
            f"status = {HANDLER}.handler(event, None)['statusCode']; assert status == 202, status")
    return code, env


def import_ms(module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter (-X importtime), in ms."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", in_image(f"import {module}")], cwd=REPO,
                          capture_output=True, text=True, check=True, env=LAMBDA_ENV)
    for line in reversed(done.stderr.splitlines()):  # "import time: self | cumulative | name"
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no import time for {module}:\n{done.stderr[-2000:]}")


def wall_ms(code: str, env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", in_image(code)], cwd=REPO, check=True, env=env)
    return (time.perf_counter() - began) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    answer = (f"import {HANDLER}; status = {HANDLER}.handler({HEALTHZ!r}, None)['statusCode']; "
              "assert status == 200, status; import gateway.enrichment as e; "
              f"e.device_from_user_agent({UA!r})")
    samples: dict[str, list[float]] = {name: [] for name in ("start", "framework", "handler", "first",
                                                             "answer", "event")}
    with tempfile.TemporaryDirectory(prefix="percus-coldstart-") as data_dir:
        event_code, event_env = first_event(data_dir)
        for _ in range(rounds):
            samples["start"].append(wall_ms("pass"))
            samples["framework"].append(import_ms(FRAMEWORK))
            samples["handler"].append(import_ms(HANDLER))
            samples["first"].append(wall_ms(f"import {HANDLER}; {HANDLER}.adapter()", env=LAMBDA_ENV))
            samples["answer"].append(wall_ms(answer, env=LAMBDA_ENV))
            samples["event"].append(wall_ms(event_code, env=event_env))
    start, framework, handler, first, answered, event = (statistics.median(samples[name])
                                                         for name in samples)
    report = Report("coldstart")
    report.add("python -c pass", start, "ms")
    report.add(f"import {FRAMEWORK}", framework, "ms")
    report.add(f"ingest Lambda cold import ({HANDLER}; goal ≤{GOAL_MS} ms)", handler, "ms",
               ratio=handler / framework, baseline=f"import {FRAMEWORK}")
    print("deferred from the import to the first request: Mangum, boto3/botocore (SQS queue, S3 store), "
          "ua-parser and its rules, the event validators", flush=True)
    report.add("ingest Lambda cold start to a built app (process, import, adapter())", first, "ms",
               ratio=first / start, baseline="python -c pass")
    report.add("ingest Lambda cold start to a first answer (process, import, adapter(), GET /healthz "
               "through the handler, ua-parser's rules)", answered, "ms", ratio=answered / start,
               baseline="python -c pass")
    report.add("ingest Lambda cold start to a first event accepted (process, import, one event validated "
               "and enqueued through the handler; the embedded default's queue and store, no boto3)", event,
               "ms", ratio=event / start, baseline="python -c pass")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
