output "database_names" {
  description = "The databases' names."
  value       = [for d in aws_glue_catalog_database.this : d.name]
}

output "database_arns" {
  description = "The databases' ARNs by name."
  value       = { for k, d in aws_glue_catalog_database.this : k => d.arn }
}
