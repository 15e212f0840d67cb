# The role the cdc-* Glue jobs run as, with least privilege:
# - S3: read the scripts bucket's `glue/` and `sql/` prefixes; read and write only the warehouse
#   prefixes of the flowctl databases (each database's `location_uri`);
# - Glue catalog: only the flowctl databases and their tables (Iceberg commits are UpdateTable);
# - CloudWatch: Glue's own log groups and metrics namespace;
# - MSK (optional): connect and read the CDC topics of one cluster, with IAM auth.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  catalog   = "arn:${local.partition}:glue:${local.region}:${local.account}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "glue" {
  name               = var.role_name
  description        = "flowctl cdc-* Glue jobs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "ReadScripts"
    actions   = ["s3:GetObject"]
    resources = ["${var.scripts_bucket_arn}/glue/*", "${var.scripts_bucket_arn}/sql/*"]
  }

  statement {
    sid       = "ListWarehouse"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.warehouse_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for d in var.databases : [d, "${d}/*"]])
    }
  }

  statement {
    sid       = "ReadWriteWarehouse"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for d in var.databases : "${var.warehouse_bucket_arn}/${d}/*"]
  }

  statement {
    sid = "GlueCatalog"
    actions = [
      "glue:GetDatabase",
      "glue:GetDatabases",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:DeleteTable",
      "glue:GetPartitions",
    ]
    resources = concat(
      ["${local.catalog}:catalog"],
      [for d in var.databases : "${local.catalog}:database/${d}"],
      [for d in var.databases : "${local.catalog}:table/${d}/*"],
    )
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws-glue/*"]
  }

  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource type; the condition scopes it.
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "Kms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.msk_cluster_arn == null ? [] : [var.msk_cluster_arn]
    content {
      sid     = "MskRead"
      actions = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      resources = [
        statement.value,
        replace("${statement.value}/*", ":cluster/", ":topic/"),
      ]
    }
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "flowctl-glue-jobs"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}
