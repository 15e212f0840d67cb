# What the aws target in flowctl.yaml needs: the region here, the rest from the stack
# (buckets, databases, Glue jobs and role, Athena workgroup and output location; see
# modules/stack/outputs.tf). `terraform output -json stack` prints them.

output "region" {
  description = "AWS region."
  value       = var.region
}

output "stack" {
  description = "Everything modules/stack outputs."
  value       = module.stack
}
