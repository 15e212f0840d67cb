# The staging environment of the aws target: buckets, catalog databases, the Glue job role, the
# cdc-* Glue jobs and the Athena workgroup. flowctl.yaml's aws target points at the outputs.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  tags = {
    "flowctl:environment" = "staging"
    "managed-by"          = "terraform"
    "repository"          = "flowctl"
  }
}

module "stack" {
  source = "../../modules/stack"

  name_prefix             = var.name_prefix
  force_destroy           = false
  workers                 = { bronze = 2, silver = 2, gold = 2 }
  kafka_bootstrap_servers = var.kafka_bootstrap_servers
  kafka_options           = var.kafka_options
  msk_cluster_arn         = var.msk_cluster_arn
  glue_connections        = var.glue_connections
  kms_key_arn             = var.kms_key_arn
}
