"""Tests of tests/python/check_terraform.py: the repository's terraform/ passes, and broken
trees fail with the problem named. Needs PyPI `python-hcl2` (skipped with a message without)."""

import contextlib
import io
import pathlib
import sys
import tempfile
import textwrap
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import hcl2  # noqa: F401

    import check_terraform

    HAVE_HCL2 = True
except (ImportError, SystemExit):
    HAVE_HCL2 = False
    print(
        "test_glue_terraform: python-hcl2 is not installed, skipped (pip install python-hcl2)",
        file=sys.stderr,
    )

GOOD_BUCKET = """
resource "aws_s3_bucket" "b" {
  bucket = "x"
}
resource "aws_s3_bucket_versioning" "b" {
  bucket = aws_s3_bucket.b.id
  versioning_configuration {
    status = "Enabled"
  }
}
resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
  bucket = aws_s3_bucket.b.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}
resource "aws_s3_bucket_public_access_block" "b" {
  bucket                  = aws_s3_bucket.b.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = %s
}
"""

BACKEND = """
terraform {
  backend "s3" {
    bucket       = "%s"
    key          = "state"
    region       = "eu-west-1"
    use_lockfile = true
  }
}
"""


def run(root, jobs=()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = check_terraform.main(["--root", str(root), "--jobs", *jobs])
    return code, out.getvalue(), err.getvalue()


@unittest.skipUnless(HAVE_HCL2, "python-hcl2 is not installed")
class CheckTerraform(unittest.TestCase):
    def tree(self, files):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        root = pathlib.Path(tmp.name)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return root

    def test_the_repository_terraform_passes_with_the_agreed_jobs(self):
        code, out, err = run(check_terraform.DEFAULT_ROOT, ["cdc-bronze", "cdc-silver", "cdc-gold"])
        self.assertEqual(code, 0, err)
        self.assertIn("missing: none", out)
        self.assertIn("dev, prod, staging", out)

    def test_an_undefined_job_fails_and_is_named(self):
        code, _, err = run(check_terraform.DEFAULT_ROOT, ["cdc-bronze", "cdc-platinum"])
        self.assertEqual(code, 1)
        self.assertIn("`cdc-platinum`", err)
        self.assertNotIn("`cdc-bronze`", err)

    def test_literal_job_names_count(self):
        root = self.tree({"m/main.tf": 'resource "aws_glue_job" "j" {\n  name = "solo"\n}\n'})
        self.assertEqual(run(root, ["solo"])[0], 0)

    def test_a_bucket_without_a_full_public_access_block_fails(self):
        root = self.tree({"m/main.tf": GOOD_BUCKET % "false"})
        code, _, err = run(root)
        self.assertEqual(code, 1)
        self.assertIn("aws_s3_bucket.b has no aws_s3_bucket_public_access_block", err)
        self.assertEqual(run(self.tree({"m/main.tf": GOOD_BUCKET % "true"}))[0], 0)

    def test_a_bucket_without_versioning_or_encryption_fails(self):
        root = self.tree({"m/main.tf": 'resource "aws_s3_bucket" "lonely" {\n  bucket = "x"\n}\n'})
        code, _, err = run(root)
        self.assertEqual(code, 1)
        self.assertIn("aws_s3_bucket.lonely has no aws_s3_bucket_versioning", err)
        self.assertIn("server_side_encryption", err)

    def test_unparsable_files_and_shared_state_fail(self):
        root = self.tree(
            {
                "broken.tf": 'resource "x" {\n',
                "environments/a/backend.tf": BACKEND % "shared",
                "environments/b/backend.tf": BACKEND % "shared",
            }
        )
        code, _, err = run(root)
        self.assertEqual(code, 1)
        self.assertIn("broken.tf: does not parse", err)
        self.assertIn("shares its state s3://shared/state with a", err)


if __name__ == "__main__":
    unittest.main()
