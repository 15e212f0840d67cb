#!/usr/bin/env python3
"""Static checks of terraform/ with PyPI `python-hcl2` (no providers, no AWS, no init).

Usage: check_terraform.py [--root DIR] [--jobs NAME ...]

Checks, and prints what it checked:
  (a) every .tf file under --root (default: the repository's terraform/) parses;
  (b) every Glue job named with --jobs (the `job_name`s of the DAGs' aws variants) is defined:
      an `aws_glue_job` with that literal name, or a key of the `locals` map an
      `aws_glue_job` iterates with `for_each = local.<map>` and `name = each.key`;
  (c) every `aws_s3_bucket` has versioning (Enabled), server-side encryption and a public
      access block with all four settings true, each attached to it;
  (d) every environment under environments/ has its own S3 backend (a bucket and key no other
      environment uses) with a lock (`use_lockfile = true` or a `dynamodb_table`).

Exit status: 0 all good; 1 a check failed (each problem printed with its file); 2 usage;
3 python-hcl2 is not installed (callers may skip: `pip install python-hcl2`).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from collections import defaultdict

try:
    import hcl2
except ImportError as exc:  # pragma: no cover - depends on the environment
    print(f"python-hcl2 is not installed ({exc}): pip install python-hcl2", file=sys.stderr)
    sys.exit(3)

DEFAULT_ROOT = pathlib.Path(__file__).resolve().parents[2] / "terraform"


def unquote(value):
    """python-hcl2 8 keeps the quotes of string literals and keys; older versions drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def literal(value) -> str | None:
    """The value when it is a plain string literal (no interpolation), else None."""
    text = unquote(value)
    if isinstance(text, str) and "${" not in text:
        return text
    return None


def blocks(parsed: dict, kind: str):
    """(type, name, body) of each `resource`/`data` block."""
    for entry in parsed.get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                yield unquote(rtype), unquote(name), body


def first(body: dict, key: str):
    """A nested block's first body (python-hcl2 gives blocks as lists)."""
    value = body.get(key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else None


def is_true(value) -> bool:
    return value is True or unquote(value) in ("true", "${true}")


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def ok(self, message: str) -> None:
        self.checked.append(message)


def parse_all(root: pathlib.Path, report: Report) -> dict[pathlib.Path, dict]:
    files = sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)
    if not files:
        report.fail(f"{root}: no .tf files found (is --root the terraform/ directory?)")
    parsed = {}
    for path in files:
        try:
            with path.open(encoding="utf-8") as f:
                parsed[path] = hcl2.load(f)
        except Exception as exc:  # python-hcl2 raises lark errors of several kinds
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            report.fail(f"{path}: does not parse: {first_line}")
    report.ok(f"(a) {len(parsed)}/{len(files)} .tf files parse")
    return parsed


def glue_jobs(parsed: dict[pathlib.Path, dict]) -> dict[str, pathlib.Path]:
    """Glue job names defined, with the file defining each."""
    by_dir: dict[pathlib.Path, list[dict]] = defaultdict(list)
    for path, doc in parsed.items():
        by_dir[path.parent].append(doc)
    found: dict[str, pathlib.Path] = {}
    for path, doc in parsed.items():
        for rtype, _name, body in blocks(doc, "resource"):
            if rtype != "aws_glue_job":
                continue
            name = literal(body.get("name"))
            if name:
                found[name] = path
                continue
            for_each = unquote(body.get("for_each")) or ""
            m = re.fullmatch(r"\$\{local\.(\w+)\}", str(for_each))
            if not m or unquote(body.get("name")) != "${each.key}":
                continue
            for sibling in by_dir[path.parent]:
                for loc in sibling.get("locals", []):
                    jobs = loc.get(m.group(1))
                    if isinstance(jobs, dict):
                        for key in jobs:
                            if not key.startswith("__"):
                                found[unquote(key)] = path
    return found


def check_jobs(parsed, wanted: list[str], report: Report) -> None:
    defined = glue_jobs(parsed)
    missing = [j for j in wanted if j not in defined]
    for job in missing:
        report.fail(
            f"Glue job `{job}` is named by a DAG but not defined in terraform/ "
            f"(add it to `local.jobs` in terraform/modules/glue_jobs/main.tf); defined: "
            f"{', '.join(sorted(defined)) or 'none'}"
        )
    report.ok(
        f"(b) Glue jobs defined: {', '.join(sorted(defined)) or 'none'}; "
        f"asked for: {', '.join(wanted) or 'none'}; missing: {', '.join(missing) or 'none'}"
    )


def attached(body: dict, bucket: str) -> bool:
    """Whether a bucket-settings resource targets `aws_s3_bucket.<bucket>` (directly or by
    iterating it with for_each)."""
    pattern = re.compile(rf"\baws_s3_bucket\.{re.escape(bucket)}\b")
    return any(pattern.search(str(body.get(k, ""))) for k in ("bucket", "for_each"))


def check_buckets(parsed, report: Report) -> None:
    count = 0
    for path, doc in parsed.items():
        siblings = [d for p, d in parsed.items() if p.parent == path.parent]
        settings = [b for d in siblings for b in blocks(d, "resource")]
        for rtype, name, _body in blocks(doc, "resource"):
            if rtype != "aws_s3_bucket":
                continue
            count += 1
            where = f"{path}: aws_s3_bucket.{name}"

            def find(kind, settings=settings, name=name):
                return [b for t, _, b in settings if t == kind and attached(b, name)]

            versioning = find("aws_s3_bucket_versioning")
            if not any(
                unquote((first(b, "versioning_configuration") or {}).get("status")) == "Enabled"
                for b in versioning
            ):
                report.fail(f'{where} has no aws_s3_bucket_versioning with status = "Enabled"')
            encryption = find("aws_s3_bucket_server_side_encryption_configuration")
            if not any(
                (
                    first(first(b, "rule") or {}, "apply_server_side_encryption_by_default") or {}
                ).get("sse_algorithm")
                for b in encryption
            ):
                report.fail(
                    f"{where} has no aws_s3_bucket_server_side_encryption_configuration with an sse_algorithm"
                )
            flags = (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            )
            blocks_public = find("aws_s3_bucket_public_access_block")
            if not any(all(is_true(b.get(f)) for f in flags) for b in blocks_public):
                report.fail(
                    f"{where} has no aws_s3_bucket_public_access_block with {', '.join(flags)} all true"
                )
    report.ok(
        f"(c) {count} aws_s3_bucket resource(s): versioning, encryption and public access block"
    )


def check_backends(root: pathlib.Path, parsed, report: Report) -> None:
    envs = root / "environments"
    if not envs.is_dir():
        report.ok("(d) no environments/ directory: backends not checked")
        return
    seen: dict[tuple[str, str], str] = {}
    names = []
    for env in sorted(p for p in envs.iterdir() if p.is_dir()):
        names.append(env.name)
        backend = None
        for path, doc in parsed.items():
            if path.parent != env:
                continue
            for block in doc.get("terraform", []):
                for b in block.get("backend", []):
                    if '"s3"' in b or "s3" in b:
                        backend = b.get('"s3"', b.get("s3"))
        if not backend:
            report.fail(
                f'{env}: no `backend "s3"` block: each environment needs its own remote state'
            )
            continue
        bucket, key = literal(backend.get("bucket")), literal(backend.get("key"))
        if not bucket or not key:
            report.fail(f"{env}: the s3 backend needs a literal bucket and key")
            continue
        if (bucket, key) in seen:
            report.fail(f"{env}: shares its state s3://{bucket}/{key} with {seen[(bucket, key)]}")
        seen[(bucket, key)] = env.name
        if not is_true(backend.get("use_lockfile")) and not backend.get("dynamodb_table"):
            report.fail(
                f"{env}: the s3 backend has no lock (use_lockfile = true or dynamodb_table)"
            )
    report.ok(f"(d) environments with their own locked S3 state: {', '.join(names) or 'none'}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=pathlib.Path, default=DEFAULT_ROOT, help="the terraform/ directory"
    )
    parser.add_argument("--jobs", nargs="*", default=[], help="Glue job names that must be defined")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(
            f"check_terraform: {args.root} is not a directory (pass --root terraform/)",
            file=sys.stderr,
        )
        return 2
    report = Report()
    parsed = parse_all(args.root, report)
    check_jobs(parsed, args.jobs, report)
    check_buckets(parsed, report)
    check_backends(args.root, parsed, report)
    for line in report.checked:
        print(f"checked {line}")
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        print(f"check_terraform: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_terraform: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
