# The Athena workgroup the `athena_query` steps use. The workgroup's settings are enforced: a
# query cannot send its results elsewhere or unencrypted, and runaway scans are cut off.

resource "aws_athena_workgroup" "this" {
  name          = var.name
  description   = "flowctl athena_query steps (gold SQL, quality checks)"
  state         = "ENABLED"
  force_destroy = var.force_destroy
  tags          = var.tags

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${var.results_bucket}/results/"

      encryption_configuration {
        encryption_option = var.kms_key_arn == null ? "SSE_S3" : "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}
