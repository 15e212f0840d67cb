output "name" {
  description = "The workgroup's name."
  value       = aws_athena_workgroup.this.name
}

output "output_location" {
  description = "Where query results are written."
  value       = "s3://${var.results_bucket}/results/"
}
