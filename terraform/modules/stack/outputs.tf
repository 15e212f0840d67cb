# What the aws target in flowctl.yaml needs.

output "warehouse_bucket" {
  description = "Iceberg warehouse bucket."
  value       = module.s3_buckets.warehouse_bucket
}

output "scripts_bucket" {
  description = "Glue scripts and gold SQL bucket."
  value       = module.s3_buckets.scripts_bucket
}

output "databases" {
  description = "Glue catalog databases."
  value       = module.glue_catalog.database_names
}

output "glue_jobs" {
  description = "Glue job names."
  value       = module.glue_jobs.job_names
}

output "glue_role_arn" {
  description = "Role of the Glue jobs."
  value       = module.iam.glue_role_arn
}

output "athena_workgroup" {
  description = "Athena workgroup."
  value       = module.athena.name
}

output "athena_output_location" {
  description = "Athena query results location."
  value       = module.athena.output_location
}
