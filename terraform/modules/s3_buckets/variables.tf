variable "name_prefix" {
  description = "Prefix of the bucket names (globally unique), e.g. flowctl-prod-123456789012."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be 3-41 lowercase letters, digits or dashes (S3 bucket naming)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow destroying non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
  default     = 30
}

variable "athena_results_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of every bucket."
  type        = map(string)
  default     = {}
}
