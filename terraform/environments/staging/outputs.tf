# What the aws target in flowctl.yaml needs (see modules/stack/outputs.tf).

output "region" {
  description = "AWS region."
  value       = var.region
}

output "warehouse_bucket" {
  description = "See modules/stack."
  value       = module.stack.warehouse_bucket
}

output "scripts_bucket" {
  description = "See modules/stack."
  value       = module.stack.scripts_bucket
}

output "databases" {
  description = "See modules/stack."
  value       = module.stack.databases
}

output "glue_jobs" {
  description = "See modules/stack."
  value       = module.stack.glue_jobs
}

output "glue_role_arn" {
  description = "See modules/stack."
  value       = module.stack.glue_role_arn
}

output "athena_workgroup" {
  description = "See modules/stack."
  value       = module.stack.athena_workgroup
}

output "athena_output_location" {
  description = "See modules/stack."
  value       = module.stack.athena_output_location
}
