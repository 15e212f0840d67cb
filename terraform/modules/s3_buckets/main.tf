# The three buckets of the aws target: the Iceberg warehouse, the Glue scripts (and the gold SQL
# they run), and Athena's query results. Every bucket is versioned (a bad deploy or a deleted
# object can be rolled back), encrypted at rest, closed to the public, owner-enforced (no ACLs)
# and reachable over TLS only.

locals {
  buckets = {
    warehouse      = "${var.name_prefix}-warehouse"
    scripts        = "${var.name_prefix}-scripts"
    athena_results = "${var.name_prefix}-athena-results"
  }
  kms = { for k, _ in local.buckets : k => k == "scripts" ? null : var.kms_key_arn }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "flowctl:bucket" = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      # SSE-KMS with the given key, else SSE-S3: encrypted either way. The scripts bucket stays
      # on SSE-S3: only then is an object's ETag its MD5, which terraform's `etag = filemd5()`
      # and `flowctl drift` compare with the local files (the scripts are code, not data).
      sse_algorithm     = local.kms[each.key] == null ? "AES256" : "aws:kms"
      kms_master_key_id = local.kms[each.key]
    }
    bucket_key_enabled = local.kms[each.key] != null
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  # The public access block must exist first, or S3 may judge the policy before it applies.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  # Old object versions are kept for rollback, not forever.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Athena results are caches: they expire.
  dynamic "rule" {
    for_each = each.key == "athena_results" ? [1] : []
    content {
      id     = "expire-athena-results"
      status = "Enabled"
      filter {}
      expiration {
        days = var.athena_results_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
