#!/usr/bin/env python3
"""Validate a civicproof DCAT-AP 3 catalog (JSON-LD) against the DCAT-AP 3.0.1 SHACL shapes.

Usage: python3 validate_dcat.py CATALOG.jsonld SHAPES_DIR

SHAPES_DIR holds the files copied from SEMICeu/DCAT-AP releases/3.0.1/html/shacl/
(see /work/shared/vectors/dcat-ap/SOURCE.md):

* shapes.ttl + range.ttl  -- merged into one shapes graph; any result fails the run (exit 1);
* shapes_recommended.ttl  -- validated separately; its warnings are printed and counted but never
                             fail the run.

Validation uses inference='none': the DCAT-AP shapes are written to be run without RDFS
reasoning (sh:class also follows rdfs:subClassOf triples that are in the data graph), and the
catalog asserts every class range.ttl asks for.

Everything runs offline: the catalog must carry an inline @context (a remote context is rejected
before parsing), owl:imports are not followed, and as a belt-and-braces measure outgoing network
connections are disabled for the whole process.

Exit status: 0 when the catalog conforms to shapes.ttl + range.ttl, 1 otherwise (including
unreadable input). Tested with pyshacl 0.40.1 and rdflib 7.6.0 on Python 3.11.
"""

import json
import socket
import sys
from collections import Counter
from pathlib import Path


def _no_network(*_args, **_kwargs):
    raise OSError("validate_dcat.py runs offline: network access is disabled")


# Installed before rdflib/pyshacl are imported so nothing can reach the network.
socket.socket.connect = _no_network  # type: ignore[method-assign]
socket.create_connection = _no_network  # type: ignore[assignment]

from rdflib import Graph, Literal, URIRef  # noqa: E402
from rdflib.namespace import RDF, SH  # noqa: E402
from pyshacl import validate  # noqa: E402


def remote_contexts(ctx):
    """Yield every context reference that would need a fetch (a string or an @import)."""
    if isinstance(ctx, str):
        yield ctx
    elif isinstance(ctx, list):
        for c in ctx:
            yield from remote_contexts(c)
    elif isinstance(ctx, dict):
        if isinstance(ctx.get("@import"), str):
            yield ctx["@import"]
        for value in ctx.values():
            if isinstance(value, dict) and "@context" in value:
                yield from remote_contexts(value["@context"])


def find_contexts(doc):
    """All @context values anywhere in the document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "@context":
                yield value
            else:
                yield from find_contexts(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from find_contexts(item)


def load_catalog(path: Path) -> Graph:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    remote = [r for c in find_contexts(doc) for r in remote_contexts(c)]
    if remote:
        raise ValueError(f"remote JSON-LD context(s) not allowed (offline): {remote}")
    g = Graph()
    # A fixed base, so a stray relative IRI shows up as such instead of as a file: IRI.
    g.parse(data=text, format="json-ld", base="urn:x-relative:")
    relative = sorted({str(t) for triple in g for t in triple
                       if isinstance(t, URIRef) and str(t).startswith("urn:x-relative:")})
    if relative:
        raise ValueError(f"relative IRIs in the catalog: {relative[:5]}")
    return g


def load_shapes(*files: Path) -> Graph:
    g = Graph()
    for f in files:
        g.parse(f, format="turtle")
    return g


def results(report: Graph):
    for r in report.subjects(RDF.type, SH.ValidationResult):
        yield {
            "severity": str(report.value(r, SH.resultSeverity)).rsplit("#", 1)[-1],
            "focus": str(report.value(r, SH.focusNode)),
            "path": str(report.value(r, SH.resultPath) or "(node-level: dcat:dataset or dcat:service)"),
            "message": str(report.value(r, SH.resultMessage) or ""),
        }


def shorten(iri: str) -> str:
    for prefix, ns in (("dcat:", "http://www.w3.org/ns/dcat#"), ("dct:", "http://purl.org/dc/terms/"),
                       ("foaf:", "http://xmlns.com/foaf/0.1/"), ("dcatap:", "http://data.europa.eu/r5r/")):
        if iri.startswith(ns):
            return prefix + iri[len(ns):]
    return iri


def main(argv) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    catalog, shapes_dir = Path(argv[1]), Path(argv[2])
    try:
        data = load_catalog(catalog)
        mandatory = load_shapes(shapes_dir / "shapes.ttl", shapes_dir / "range.ttl")
        recommended = load_shapes(shapes_dir / "shapes_recommended.ttl")
    except Exception as e:  # unreadable input is a failure, not a crash
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"catalog: {catalog} ({len(data)} triples)")

    conforms, _graph, text = validate(
        data, shacl_graph=mandatory, inference="none", abort_on_first=False,
        allow_infos=False, allow_warnings=False, advanced=False, do_owl_imports=False)
    print("== shapes.ttl + range.ttl ==")
    print(text.strip())

    _ok, rec_graph, _text = validate(
        data, shacl_graph=recommended, inference="none", abort_on_first=False,
        advanced=False, do_owl_imports=False)
    rec = list(results(rec_graph))
    print("== shapes_recommended.ttl (informative, never fails the run) ==")
    print(f"recommended results: {len(rec)}")
    by_kind = Counter((r["severity"], shorten(r["path"])) for r in rec)
    for (severity, path), n in sorted(by_kind.items()):
        print(f"  {n:3d} x {severity}: missing/invalid {path}")
    for r in sorted(rec, key=lambda r: (r["path"], r["focus"])):
        print(f"      {shorten(r['path'])} on {r['focus']}")

    print("RESULT:", "conforms" if conforms else "does NOT conform")
    return 0 if conforms else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
