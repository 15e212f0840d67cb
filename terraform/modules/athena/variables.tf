variable "name" {
  description = "Workgroup name (the aws target's `athena.workgroup`)."
  type        = string
  default     = "flowctl"
}

variable "results_bucket" {
  description = "Bucket of query results (results go under `results/`)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS results; null uses SSE-S3."
  type        = string
  default     = null
}

variable "bytes_scanned_cutoff_per_query" {
  description = "A query scanning more than this many bytes is cancelled (minimum 10 MB)."
  type        = number
  default     = 107374182400 # 100 GiB
}

variable "force_destroy" {
  description = "Allow destroying the workgroup with its saved queries (dev only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of the workgroup."
  type        = map(string)
  default     = {}
}
