# The Glue jobs the DAGs' aws variants run (`glue_job` steps name them by `job_name`), their
# scripts uploaded from jobs/glue/ and the gold SQL from jobs/sql/. Each object's etag is the
# file's MD5, so a changed file is uploaded again on apply and `flowctl drift` can compare the
# S3 ETag with the local file.
#
# Job names are literal keys of `local.jobs`: tests/python/check_terraform.py finds them there
# and checks that every job a DAG names is defined.

locals {
  # Default: this repository's jobs/ (terraform/modules/glue_jobs -> ../../../jobs).
  jobs_dir = coalesce(var.jobs_dir, "${path.module}/../../../jobs")
  glue_dir = "${local.jobs_dir}/glue"
  sql_dir  = "${local.jobs_dir}/sql"

  common_script = "flowctl_glue.py"

  jobs = {
    "cdc-bronze" = {
      script            = "bronze.py"
      description       = "Debezium events from Kafka/MSK into the Iceberg bronze table, offsets committed with the data"
      number_of_workers = var.bronze_workers
      timeout_minutes   = 60
      # Two runs would read the same offsets: one at a time (flowctl retries on ConcurrentRunsExceeded).
      max_concurrent_runs = 1
      arguments = var.kafka_bootstrap_servers == "" ? {} : {
        "--bootstrap-servers" = var.kafka_bootstrap_servers
        "--kafka-options"     = jsonencode(var.kafka_options)
      }
    }
    "cdc-silver" = {
      script              = "silver.py"
      description         = "MERGE INTO the Iceberg silver tables (current state or SCD2) from bronze"
      number_of_workers   = var.silver_workers
      timeout_minutes     = 60
      max_concurrent_runs = var.silver_max_concurrent_runs
      arguments           = {}
    }
    "cdc-gold" = {
      script              = "gold.py"
      description         = "Gold SQL over the Glue catalog into a replaced Iceberg table"
      number_of_workers   = var.gold_workers
      timeout_minutes     = 30
      max_concurrent_runs = var.gold_max_concurrent_runs
      arguments           = {}
    }
  }

  # Arguments every job gets; a DAG step's `arguments` add to or override them per run.
  common_arguments = {
    "--datalake-formats"                 = "iceberg"
    "--extra-py-files"                   = "s3://${var.scripts_bucket}/glue/${local.common_script}"
    "--warehouse"                        = "s3://${var.warehouse_bucket}/"
    "--job-language"                     = "python"
    "--enable-metrics"                   = "true"
    "--enable-observability-metrics"     = "true"
    "--enable-continuous-cloudwatch-log" = "true"
    "--enable-glue-datacatalog"          = "true"
    "--job-bookmark-option"              = "job-bookmark-disable"
  }

  scripts = toset(concat([local.common_script], [for j in values(local.jobs) : j.script]))
}

resource "aws_s3_object" "script" {
  for_each = local.scripts

  bucket       = var.scripts_bucket
  key          = "glue/${each.value}"
  source       = "${local.glue_dir}/${each.value}"
  etag         = filemd5("${local.glue_dir}/${each.value}")
  content_type = "text/x-python"
  tags         = var.tags
}

resource "aws_s3_object" "sql" {
  for_each = fileset(local.sql_dir, "*.sql")

  bucket       = var.scripts_bucket
  key          = "sql/${each.value}"
  source       = "${local.sql_dir}/${each.value}"
  etag         = filemd5("${local.sql_dir}/${each.value}")
  content_type = "application/sql"
  tags         = var.tags
}

resource "aws_glue_job" "this" {
  for_each = local.jobs

  name              = each.key
  description       = each.value.description
  role_arn          = var.role_arn
  glue_version      = "5.0"
  worker_type       = "G.1X"
  number_of_workers = each.value.number_of_workers
  timeout           = each.value.timeout_minutes
  # flowctl owns retries (with backoff, and reconnecting to a running JobRunId): Glue must not
  # start a second run behind its back.
  max_retries = 0
  connections = var.connections
  tags        = var.tags

  command {
    name            = "glueetl"
    script_location = "s3://${var.scripts_bucket}/${aws_s3_object.script[each.value.script].key}"
    python_version  = "3"
  }

  default_arguments = merge(local.common_arguments, each.value.arguments)

  execution_property {
    max_concurrent_runs = each.value.max_concurrent_runs
  }

  # A script update is an S3 upload; the job definition itself does not change with it.
  depends_on = [aws_s3_object.script]
}
