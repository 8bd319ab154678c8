"""Every response an integration suite receives, checked against docs/openapi.yaml.

nextcrm_harness.request() hands each response to check(); a response the
document does not describe fails the test that received it:
- a path no operation matches must be a 404 problem (the document says any
  unlisted path is 404) or a transport-level problem (see TRANSPORT);
- a known path with a method the document does not list must be a 405
  problem whose Allow header lists exactly the document's methods (GET
  implies HEAD);
- an operation's answer must have a status its `responses` list (or a
  transport-level problem), a Content-Type its content lists, and a body
  valid against that schema (problems against components/schemas/Problem);
  a response without content in the document has an empty body.
The schema check is a small subset of JSON Schema 2020-12 (type, enum,
const, pattern, required, properties, additionalProperties, items,
min/maxItems, min/maxLength, minimum/maximum, allOf/anyOf/oneOf, $ref);
formats are not checked. Off with NEXTCRM_OPENAPI_CHECK=0.
"""
import json
import os
import re
import subprocess

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")

# Problems any operation may answer before or beside its handler: HTTP the
# server could not parse, slow or oversized requests, a dependency or the
# server itself failing (docs/protocols/ERROR-CONTRACT.md).
TRANSPORT = {
    400: {"request.malformed"}, 408: {"request.timeout"}, 413: {"request.too_large"},
    414: {"request.uri_too_long"}, 431: {"request.headers_too_large"}, 500: {"internal"},
    503: {"dependency.unavailable"}, 505: {"request.version_not_supported"},
}

_spec = None
_paths = None


def enabled():
    return os.environ.get("NEXTCRM_OPENAPI_CHECK", "1") != "0"


def _load_yaml(path):
    try:
        import yaml
        with open(path) as f:
            return yaml.safe_load(f)
    except ImportError:  # a Python without PyYAML: Debian's python3-yaml converts it
        out = subprocess.run(["/usr/bin/python3", "-c",
                              "import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


def spec():
    global _spec, _paths
    if _spec is None:
        _spec = _load_yaml(SPEC_PATH)
        _paths = []
        for template, item in _spec.get("paths", {}).items():
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            literal = len(re.sub(r"\{[^/]+\}", "", template))
            _paths.append((re.compile(rx), literal, template, item))
        # the most literal template wins (/api/v1/customers/query over /api/v1/customers/{id})
        _paths.sort(key=lambda p: -p[1])
    return _spec


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError("openapi: only local $ref are supported: %s" % ref)
        target = spec()
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def match(path):
    spec()
    for rx, _, template, item in _paths:
        if rx.match(path):
            return template, item
    return None, None


METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _type_ok(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    return True


def validate(value, schema, where="body"):
    """Errors of VALUE against SCHEMA (a list of strings, empty when valid)."""
    schema = resolve(schema)
    if schema is True or schema is None or schema == {}:
        return []
    if schema is False:
        return ["%s: not allowed" % where]
    errors = []
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            return ["%s: %r is not of type %s" % (where, _short(value), t)]
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (where, _short(value), schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (where, _short(value), schema["enum"]))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (where, _short(value), schema["pattern"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: longer than %d" % (where, schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append("%s: shorter than %d" % (where, schema["minLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r < %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r > %r" % (where, value, schema["maximum"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append("%s: %r is required" % (where, name))
        extra = schema.get("additionalProperties", True)
        for name, v in value.items():
            if name in props:
                errors += validate(v, props[name], "%s.%s" % (where, name))
            elif extra is False:
                errors.append("%s: %r is not in the schema" % (where, name))
            elif isinstance(extra, dict):
                errors += validate(v, extra, "%s.%s" % (where, name))
    if isinstance(value, list):
        if "items" in schema:
            for i, v in enumerate(value):
                errors += validate(v, schema["items"], "%s[%d]" % (where, i))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: fewer than %d items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: more than %d items" % (where, schema["maxItems"]))
    for sub in schema.get("allOf", []):
        errors += validate(value, sub, where)
    if "anyOf" in schema and not any(not validate(value, s, where) for s in schema["anyOf"]):
        errors.append("%s: matches none of anyOf" % where)
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not validate(value, s, where))
        if n != 1:
            errors.append("%s: matches %d of oneOf (exactly one needed)" % (where, n))
    return errors


def _short(v):
    text = repr(v)
    return text if len(text) < 80 else text[:77] + "..."


def _problem_errors(status, content_type, body, codes=None):
    if not content_type.startswith("application/problem+json"):
        return ["a %d must be application/problem+json, not %r" % (status, content_type)]
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError as e:
        return ["the problem body is not JSON: %s" % e]
    errors = validate(doc, {"$ref": "#/components/schemas/Problem"}, "problem")
    if codes is not None and doc.get("code") not in codes:
        errors.append("a %d problem with code %r, not one of %s" % (status, doc.get("code"), sorted(codes)))
    return errors


def check(method, path, status, headers, body):
    """The ways a response (STATUS, HEADERS: [(lower-case name, value)],
    BODY: bytes) to METHOD PATH departs from the document; [] when it is
    described."""
    path = path.split("?", 1)[0]
    hmap = {}
    for k, v in headers:
        hmap.setdefault(k, v)
    ctype = hmap.get("content-type", "").split(";")[0].strip().lower()
    full_ctype = hmap.get("content-type", "").lower()
    template, item = match(path)
    head = method.upper() == "HEAD"
    if template is None:
        if status == 404:
            return [] if head else _problem_errors(status, full_ctype, body, {"resource.not_found"})
        if status in TRANSPORT:
            return [] if head else _problem_errors(status, full_ctype, body, TRANSPORT[status])
        return ["%s %s: no operation in docs/openapi.yaml, and %d is not 404" % (method, path, status)]
    op_method = "get" if head else method.lower()
    ops = {m: item[m] for m in METHODS if m in item}
    if op_method not in ops:
        if status == 405:
            allowed = {m.strip().upper() for m in hmap.get("allow", "").split(",") if m.strip()}
            documented = {m.upper() for m in ops} | ({"HEAD"} if "get" in ops else set())
            errors = [] if head else _problem_errors(status, full_ctype, body, {"request.method_not_allowed"})
            if allowed != documented:
                errors.append("%s %s: Allow %s, the document lists %s" % (
                    method, template, sorted(allowed), sorted(documented)))
            return errors
        if status in TRANSPORT:
            return [] if head else _problem_errors(status, full_ctype, body, TRANSPORT[status])
        return ["%s %s: the document has no %s here, and %d is not 405" % (method, template, method, status)]
    op = ops[op_method]
    responses = op.get("responses", {})
    doc = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) or responses.get("default")
    where = "%s %s %d" % (method, template, status)
    if doc is None:
        if status in TRANSPORT:
            return [] if head else _problem_errors(status, full_ctype, body, TRANSPORT[status])
        return ["%s: status not documented (documented: %s)" % (where, ", ".join(sorted(responses)))]
    doc = resolve(doc)
    content = doc.get("content")
    if head or status == 304:
        return []
    if not content:
        return [] if not body else ["%s: the document describes no body, got %d bytes" % (where, len(body))]
    media = None
    for name, m in content.items():
        if name.split(";")[0].strip().lower() == ctype:
            media = m
            break
    if media is None:
        return ["%s: Content-Type %r, the document lists %s" % (where, ctype, sorted(content))]
    schema = media.get("schema")
    if schema is None:
        return []
    if ctype.endswith("json"):
        try:
            value = json.loads(body.decode("utf-8"))
        except ValueError as e:
            return ["%s: body is not JSON: %s" % (where, e)]
        return ["%s: %s" % (where, e) for e in validate(value, schema)]
    return []
