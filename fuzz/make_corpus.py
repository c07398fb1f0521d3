#!/usr/bin/env python3
"""Regenerates the seed corpus under fuzz/corpus/ from the project's real inputs.

Sources: web/test/fixtures/bundles.json (bundles, their checkpoint notes and payloads), the
RFC 8785 vectors in shared/vectors/jcs/ and the examples of the input parser's unit tests.
Files are named by the SHA-1 of their content, as libFuzzer names what it adds. Seeds over
64 KiB are left out. Usage: fuzz/make_corpus.py [--shared DIR] (default /work/shared).
"""

import argparse
import base64
import hashlib
import json
import shutil
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
MAX_SEED = 64 * 1024


def write(target, data, written):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) >= MAX_SEED:
        return
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
    written.setdefault(target, set()).add(data)


def jcs(v):
    """Close enough to RFC 8785 for seeds (the fuzzer canonicalizes for real)."""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="/work/shared")
    args = ap.parse_args()
    shared = Path(args.shared)

    out = FUZZ / "corpus"
    if out.exists():
        shutil.rmtree(out)
    written = {}

    fixtures = json.loads((ROOT / "web/test/fixtures/bundles.json").read_text())
    bundles = []
    for f in fixtures:
        raw = f["bundle"].encode() if f["bundle"] is not None else base64.b64decode(f["bundle_base64"])
        bundles.append((f["rust"]["ok"], raw))

    # verify_bundle: every distinct fixture bundle (valid ones and every tampered variant).
    for _, raw in bundles:
        write("verify_bundle", raw, written)

    # Parsed fixtures: notes, payloads, envelopes, valid tlog-proofs.
    notes, payloads, envelopes, proofs = [], [], [], []
    for ok, raw in bundles:
        try:
            b = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(b, dict):
            continue
        if isinstance(b.get("checkpoint"), str):
            notes.append(b["checkpoint"])
        if isinstance(b.get("payload"), dict):
            payloads.append(b["payload"])
        if isinstance(b.get("envelope"), dict):
            envelopes.append(b["envelope"])
        # A tlog-proof of each valid bundle (same index, path and note as the bundle).
        if ok:
            seq = b["envelope"].get("seq")
            path = b.get("inclusion", {}).get("path", [])
            lines = ["c2sp.org/tlog-proof@v1", f"index {seq}"]
            lines += [base64.b64encode(bytes.fromhex(h)).decode() for h in path]
            proofs.append("\n".join(lines) + "\n\n" + b["checkpoint"])

    # note: each distinct checkpoint note (valid, tampered, the 128 KiB edge ones are too big).
    for n in dict.fromkeys(notes):
        write("note", n, written)

    # tlog_proof: the valid proofs, plus refused shapes (extra line, no checkpoint, bad index).
    for p in list(dict.fromkeys(proofs))[:12]:
        write("tlog_proof", p, written)
    if proofs:
        p = proofs[0]
        head, rest = p.split("\n", 1)
        write("tlog_proof", head + "\nextra x\n" + rest, written)
        write("tlog_proof", p.split("\n\n", 1)[0] + "\n\n", written)
        write("tlog_proof", p.replace("\nindex ", "\nindex 0", 1), written)

    # jcs: the RFC 8785 vectors (inputs and outputs), payloads and envelopes of the fixtures.
    vectors = shared / "vectors/jcs"
    for sub in ("input", "output"):
        for f in sorted((vectors / sub).glob("*.json")):
            write("jcs", f.read_bytes(), written)
    for v in list(dict.fromkeys(map(jcs, payloads)))[:20] + list(dict.fromkeys(map(jcs, envelopes)))[:10]:
        write("jcs", v, written)
    for v in ['{"a":1e21,"b":-0,"c":5e-324,"d":9007199254740991}', '"\\ud83d\\ude00"', "[[[[]]]]",
              '{"\\u00e9":"\\u0001","e":"\\u00e9"}', "1.5e+300", '{"x":0.1,"y":1E2}']:
        write("jcs", v, written)

    # Input batches: the unit-test examples and the fixtures' payloads, in the three formats.
    distinct = list(dict.fromkeys(map(jcs, payloads)))[:8]
    records = [{"key": "a", "payload": {"x": 1.50}}, {"payload": {"y": "z"}}]
    json_bodies = [
        '[{"key":"a","payload":{"x":1.50}},{"payload":{"y":"z"}}]',
        '[ {"key":null,"payload":{}} ,\n {"key":"k\u00e9","payload":{"n":[1,2.5e3,-0.0,true,null]}} ]',
        "[]",
        '[{"payload":{"a":1},"payload":{"a":2}}]',
        '[{"payload":{"big":9007199254740992}}]',
        '[{"key":"x","payload":[1]}, 1, "s", {"payload":{"\\u0000":1}}]',
        "[" + ",".join('{"key":"r%d","payload":%s}' % (i, p) for i, p in enumerate(distinct)) + "]",
    ]
    for body in json_bodies:
        write("input_json", body, written)
    ndjson_bodies = [
        '{"key":"a","payload":{"x":1.50}}\n\n{"payload":{"y":"z"}}\n',
        "\n".join('{"key":"r%d","payload":%s}' % (i, p) for i, p in enumerate(distinct)),
        '{"payload":{}}\r\n{"payload":{"a":"\\ud800"}}\r\n',
        '{"payload":{"a":1}} {"payload":{}}\n',
        "\n".join(json.dumps(r) for r in records) + "\n",
    ]
    for body in ndjson_bodies:
        write("input_ndjson", body, written)
    csv_bodies = [
        "key,x,y\na,1.50,\n,,z\n",
        "\ufeffkey,station,pm10,valid\nk1,sensor-0,10,true\nk2,\"sensor, \"\"1\"\"\",1e3,false\n",
        "a,b\r\n007,1,5\r\n",
        "a,b\n1,NaN\n+1,-0\n",
        "a,a\n1,2\n",
        ",x\n1,2\n",
        "x\n\"multi\nline\"\n",
        "key,n\n" + "\n".join(f"k{i},{i / 7}" for i in range(20)) + "\n",
    ]
    for body in csv_bodies:
        write("input_csv", body, written)

    total = 0
    for target in sorted(written):
        size = sum(len(v) for v in written[target])
        total += size
        print(f"{target}: {len(written[target])} seeds, {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
