# One environment of the aws target: buckets, catalog databases, the Glue job role, the cdc-*
# Glue jobs and the Athena workgroup. environments/<env> call it with that environment's values
# (and their own provider and isolated state), so the environments cannot drift apart by edit.

locals {
  databases = ["bronze", "silver", "gold"]
}

module "s3_buckets" {
  source = "../s3_buckets"

  name_prefix   = var.name_prefix
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
}

module "glue_catalog" {
  source = "../glue_catalog"

  databases        = local.databases
  warehouse_bucket = module.s3_buckets.warehouse_bucket
}

module "iam" {
  source = "../iam"

  scripts_bucket_arn   = module.s3_buckets.bucket_arns["scripts"]
  warehouse_bucket_arn = module.s3_buckets.bucket_arns["warehouse"]
  databases            = module.glue_catalog.database_names
  kms_key_arn          = var.kms_key_arn
  msk_cluster_arn      = var.msk_cluster_arn
}

module "glue_jobs" {
  source = "../glue_jobs"

  scripts_bucket          = module.s3_buckets.scripts_bucket
  warehouse_bucket        = module.s3_buckets.warehouse_bucket
  role_arn                = module.iam.glue_role_arn
  kafka_bootstrap_servers = var.kafka_bootstrap_servers
  kafka_options           = var.kafka_options
  connections             = var.glue_connections
  bronze_workers          = var.workers.bronze
  silver_workers          = var.workers.silver
  gold_workers            = var.workers.gold
}

module "athena" {
  source = "../athena"

  name           = "flowctl"
  results_bucket = module.s3_buckets.athena_results_bucket
  kms_key_arn    = var.kms_key_arn
  force_destroy  = var.force_destroy
}
