variable "role_name" {
  description = "Name of the Glue job role."
  type        = string
  default     = "flowctl-glue-jobs"
}

variable "scripts_bucket_arn" {
  description = "ARN of the scripts bucket (read: `glue/*`, `sql/*`)."
  type        = string
}

variable "warehouse_bucket_arn" {
  description = "ARN of the warehouse bucket (read/write: `<database>/*` of each database)."
  type        = string
}

variable "databases" {
  description = "Glue catalog databases the jobs may read and write."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key of the buckets when SSE-KMS is used; null for SSE-S3."
  type        = string
  default     = null
}

variable "msk_cluster_arn" {
  description = "MSK cluster the bronze job reads with IAM auth; null when Kafka is reached otherwise."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}
