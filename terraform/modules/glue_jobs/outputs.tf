output "job_names" {
  description = "The Glue jobs' names."
  value       = [for j in aws_glue_job.this : j.name]
}

output "script_locations" {
  description = "Each job's script location in S3."
  value       = { for k, j in aws_glue_job.this : k => j.command[0].script_location }
}

output "sql_locations" {
  description = "The gold SQL files in S3 (for cdc-gold's --sql-file)."
  value       = { for k, o in aws_s3_object.sql : k => "s3://${o.bucket}/${o.key}" }
}
