#!/usr/bin/env python3
"""Summarize the schemathesis passes of run.sh from their NDJSON event streams.

Usage: summarize.py OUT_DIR BASE_URL CASES PASS [PASS ...]
Reads OUT_DIR/<pass>.ndjson and OUT_DIR/<pass>.json; writes OUT_DIR/failures.json and prints
the summary: cases per pass, status codes, 5xx responses, schema-conformance failures,
transport errors, and each distinct failure with the shortest reproducing curl command.
Exit status: 0 when the passes together ran at least CASES cases, else 1.
"""

import base64
import collections
import json
import os
import re
import shlex
import sys

CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance", "content_type_conformance")
ORDER = (*CHECKS, "problem_details")  # the last: summarize.py's own check of 4xx/5xx bodies
# The bearer token of each pass, as a shell variable in the printed curl commands.
TOKEN_VAR = {"admin": "$ADMIN", "publisher": "$PUBLISHER", "anonymous": None}
INSTANCE_START = re.compile(r'^[\[{"0-9-]|^(null|true|false)\b')
BASE_URL = ""  # set in main(): curl commands start with "$API"
VERB = re.compile(r" (is|is not|does not|has|was|are|should|must) ")


def failure_signature(failure: dict) -> str:
    """A stable description of a failure: its message's first line, generated values masked."""
    lines = failure.get("message", "").splitlines()
    first = lines[0] if lines else failure.get("title", "")
    if failure.get("code") == "ST108" and INSTANCE_START.match(first):
        # `<instance> is not of type "array"`: the instance differs from case to case.
        m = VERB.search(first)
        if m:
            first = "<value>" + first[m.start():]
    if failure.get("code") in ("ST103", "ST105") and len(lines) > 1:
        first = f"{first}; {lines[1]}"  # Received ...; Documented ...
    return first


def body_bytes(obj):
    if obj is None:
        return None
    if isinstance(obj, dict) and "$base64" in obj:
        return base64.b64decode(obj["$base64"])
    if isinstance(obj, str):
        return obj.encode()
    return json.dumps(obj).encode()


def curl_command(request: dict, pass_name: str) -> str:
    parts = ["curl", "-sS", "-i", "-X", request["method"]]
    for name, values in (request.get("headers") or {}).items():
        if name.lower() == "authorization":
            var = TOKEN_VAR.get(pass_name)
            if var:
                parts.append(f'-H "Authorization: Bearer {var}"')
            continue
        if name.lower() in ("content-length", "user-agent", "accept", "accept-encoding", "connection", "x-schemathesis-testcaseid"):
            continue
        for value in values:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if pass_name in TOKEN_VAR and TOKEN_VAR[pass_name] and not any("Authorization" in p for p in parts):
        parts.append(f'-H "Authorization: Bearer {TOKEN_VAR[pass_name]}"')
    body = body_bytes(request.get("body"))
    prefix = ""
    if body is not None:
        try:
            text = body.decode("utf-8")
            printable = all(c.isprintable() or c in "\n\t" for c in text)
        except UnicodeDecodeError:
            printable = False
        if printable and not text.startswith("@"):  # curl reads `@file`
            parts += ["--data-binary", shlex.quote(text)]
        else:
            prefix = f"printf %s {shlex.quote(base64.b64encode(body).decode())} | base64 -d | "
            parts += ["--data-binary", "@-"]
    uri = request["uri"]
    if BASE_URL and uri.startswith(BASE_URL):
        parts.append('"$API"' + shlex.quote(uri[len(BASE_URL):]))
    else:
        parts.append(shlex.quote(uri))
    return prefix + " ".join(parts)


def problem_violation(response: dict | None) -> str | None:
    """The run's own check: every 4xx/5xx answer is RFC 9457 problem details (API.md).

    None when it is; else what is wrong (content type, or the body against the documented Problem
    schema: required type, title, status and detail, status equal to the HTTP status).
    """
    if not response or response["status_code"] < 400:
        return None
    ctype = ",".join((response.get("headers") or {}).get("content-type", []))
    if ctype.split(";")[0].strip().lower() != "application/problem+json":
        return f"content type {ctype or '(none)'}, not application/problem+json"
    try:
        body = json.loads(body_bytes(response.get("content")) or b"")
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    for name, ty in (("type", str), ("title", str), ("detail", str), ("status", int)):
        if not isinstance(body.get(name), ty):
            return f"member {name} missing or not a {ty.__name__}"
    if body["status"] != response["status_code"]:
        return "member status differs from the HTTP status"
    errors = body.get("errors")
    if errors is not None and not (isinstance(errors, list) and all(isinstance(e, dict) for e in errors)):
        return "member errors is not an array of objects"
    return None


def response_excerpt(response: dict | None, limit: int = 300) -> str:
    if not response:
        return "(no response)"
    ctype = ",".join((response.get("headers") or {}).get("content-type", []))
    content = body_bytes(response.get("content")) or b""
    text = content.decode("utf-8", "replace")
    if len(text) > limit:
        text = text[:limit] + f"... ({len(content)} bytes)"
    return f"{response['status_code']} {ctype} {text}"


def main() -> int:
    out_dir, base_url, cases_wanted, *passes = sys.argv[1:]
    cases_wanted = int(cases_wanted)
    global BASE_URL
    BASE_URL = base_url.rstrip("/")
    distinct: dict[tuple, dict] = {}

    def record(key, interaction, response, pass_name, message):
        curl = curl_command(interaction["request"], pass_name)
        entry = distinct.setdefault(key, {"count": 0, "passes": set(), "curl": None, "response": None, "message": None})
        entry["count"] += 1
        entry["passes"].add(pass_name)
        if entry["curl"] is None or len(curl) < len(entry["curl"]):
            entry["curl"] = curl
            entry["response"] = response_excerpt(response)
            entry["message"] = message
    totals = collections.Counter()
    rows = []
    for pass_name in passes:
        status = collections.Counter()
        cases = fivexx = schema_failures = errors = problems = 0
        error_messages = collections.Counter()
        with open(f"{out_dir}/{pass_name}.ndjson") as fd:
            for line in fd:
                event = json.loads(line)
                if "NonFatalError" in event:
                    err = event["NonFatalError"]
                    errors += 1
                    value = err.get("value")
                    msg = value.get("message") if isinstance(value, dict) and "message" in value else json.dumps(value)
                    error_messages[f"{err.get('label', '?')}: {str(msg)[:200]}"] += 1
                    continue
                finished = event.get("ScenarioFinished")
                if not finished:
                    continue
                recorder = finished["recorder"]
                label = recorder["label"]
                for case_id, interaction in recorder["interactions"].items():
                    cases += 1
                    response = interaction.get("response")
                    code = response["status_code"] if response else None
                    status[code] += 1
                    if code is not None and code >= 500:
                        fivexx += 1
                    case_failed_schema = False
                    problem = problem_violation(response)
                    if problem:
                        problems += 1
                        key = (label, "problem_details", "own", code, problem)
                        record(key, interaction, response, pass_name, problem)
                    for check in recorder["checks"].get(case_id, []):
                        if check["status"] != "failure" or check["name"] not in CHECKS:
                            continue
                        failure = check["failure_info"]["failure"]
                        if check["name"] == "response_schema_conformance":
                            case_failed_schema = True
                        key = (label, check["name"], failure.get("code"), code, failure_signature(failure))
                        record(key, interaction, response, pass_name, failure.get("message", ""))
                    if case_failed_schema:
                        schema_failures += 1
        with open(f"{out_dir}/{pass_name}.json") as fd:
            report = json.load(fd)
        generated = report["test_cases"]["generated"]
        rows.append((pass_name, cases, generated, fivexx, schema_failures, problems, errors, status, error_messages,
                     report["running_time"]))
        totals["cases"] += cases
        totals["fivexx"] += fivexx
        totals["schema"] += schema_failures
        totals["errors"] += errors
        totals["problems"] += problems

    print("=" * 78)
    print(f"schemathesis against {base_url}")
    print("=" * 78)
    print(f"{'pass':<10} {'cases':>6} {'5xx':>5} {'schema-fail':>11} {'non-problem':>11} {'errors':>6} {'time':>7}  status codes")
    for name, cases, generated, fivexx, schema, problems, errors, status, _, secs in rows:
        codes = " ".join(f"{k}:{v}" for k, v in sorted(status.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
        note = "" if generated == cases else f" (report says {generated})"
        print(f"{name:<10} {cases:>6} {fivexx:>5} {schema:>11} {problems:>11} {errors:>6} {secs:>6.0f}s  {codes}{note}")
    print(f"{'total':<10} {totals['cases']:>6} {totals['fivexx']:>5} {totals['schema']:>11} {totals['problems']:>11} {totals['errors']:>6}")
    for name, *_, error_messages, _secs in rows:
        for msg, n in error_messages.most_common(10):
            print(f"  error in {name} ({n}x): {msg}")

    print()
    print(f"{len(distinct)} distinct failures (operation | check | status | count | passes):")
    ordered = sorted(distinct.items(), key=lambda kv: (ORDER.index(kv[0][1]), kv[0][0], kv[0][3] or 0, kv[0][4]))
    for (label, check, code, status, signature), entry in ordered:
        print()
        print(f"- {label} | {check} ({code}) | {status} | {entry['count']}x | {','.join(sorted(entry['passes']))}")
        print(f"    {signature}")
        print(f"    repro: {entry['curl']}")
        print(f"    got:   {entry['response']}")
    with open(f"{out_dir}/failures.json", "w") as fd:
        json.dump(
            [
                {
                    "operation": label,
                    "check": check,
                    "code": code,
                    "status": status,
                    "signature": signature,
                    "count": entry["count"],
                    "passes": sorted(entry["passes"]),
                    "curl": entry["curl"],
                    "response": entry["response"],
                    "message": entry["message"],
                }
                for (label, check, code, status, signature), entry in ordered
            ],
            fd,
            indent=1,
        )
    print()
    ok = totals["cases"] >= cases_wanted
    print(f"cases: {totals['cases']} run, {cases_wanted} wanted: {'ok' if ok else 'SHORT'}")
    print(f"5xx responses: {totals['fivexx']}; schema-conformance failures: {totals['schema']}; "
          f"error responses that are not problem details: {totals['problems']}; "
          f"transport errors: {totals['errors']}; distinct failures: {len(distinct)}")
    clean = totals["fivexx"] == 0 and not distinct and totals["errors"] == 0
    report = os.environ.get("CIVICPROOF_FAULTS_REPORT")
    if report:
        # One row of the fault campaign's table (bench/faults/table.py).
        row = {
            "scenario": "schemathesis",
            "mode": f"{cases_wanted} cases",
            "did": "property-based requests from openapi/openapi.json (anonymous, publisher, admin)",
            "figures": {
                "cases": totals["cases"],
                "5xx": totals["fivexx"],
                "schema failures": totals["schema"],
                "non-problem errors": totals["problems"],
                "distinct failures": len(distinct),
            },
            "kept": "no 5xx; every answer as documented" if ok and clean else "NO (see the summary above)",
        }
        with open(report, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    # Strict (the campaign): any failure fails the run, not only too few cases.
    if os.environ.get("ST_STRICT") == "1":
        return 0 if ok and clean else 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
