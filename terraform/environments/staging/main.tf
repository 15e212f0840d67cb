# The staging environment of the aws target: buckets, catalog databases, the Glue job role, the
# cdc-* Glue jobs and the Athena workgroup. flowctl.yaml's aws target points at the outputs.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  environment = "staging"
  databases   = ["bronze", "silver", "gold"]
  tags = {
    "flowctl:environment" = local.environment
    "managed-by"          = "terraform"
    "repository"          = "flowctl"
  }
}

module "s3_buckets" {
  source = "../../modules/s3_buckets"

  name_prefix   = var.name_prefix
  kms_key_arn   = var.kms_key_arn
  force_destroy = false
}

module "glue_catalog" {
  source = "../../modules/glue_catalog"

  databases        = local.databases
  warehouse_bucket = module.s3_buckets.warehouse_bucket
}

module "iam" {
  source = "../../modules/iam"

  scripts_bucket_arn   = module.s3_buckets.bucket_arns["scripts"]
  warehouse_bucket_arn = module.s3_buckets.bucket_arns["warehouse"]
  databases            = module.glue_catalog.database_names
  kms_key_arn          = var.kms_key_arn
  msk_cluster_arn      = var.msk_cluster_arn
}

module "glue_jobs" {
  source = "../../modules/glue_jobs"

  scripts_bucket          = module.s3_buckets.scripts_bucket
  warehouse_bucket        = module.s3_buckets.warehouse_bucket
  role_arn                = module.iam.glue_role_arn
  kafka_bootstrap_servers = var.kafka_bootstrap_servers
  kafka_options           = var.kafka_options
  connections             = var.glue_connections
  bronze_workers          = 2
  silver_workers          = 2
  gold_workers            = 2
}

module "athena" {
  source = "../../modules/athena"

  name           = "flowctl"
  results_bucket = module.s3_buckets.athena_results_bucket
  kms_key_arn    = var.kms_key_arn
  force_destroy  = false
}
