output "warehouse_bucket" {
  description = "Bucket of the Iceberg warehouse."
  value       = aws_s3_bucket.this["warehouse"].id
}

output "scripts_bucket" {
  description = "Bucket of the Glue scripts and gold SQL."
  value       = aws_s3_bucket.this["scripts"].id
}

output "athena_results_bucket" {
  description = "Bucket of Athena query results."
  value       = aws_s3_bucket.this["athena_results"].id
}

output "bucket_arns" {
  description = "ARN of each bucket by role (warehouse, scripts, athena_results)."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}
