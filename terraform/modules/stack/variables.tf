variable "force_destroy" {
  description = "Whether buckets and the workgroup may be destroyed with their contents (never in prod)."
  type        = bool
  default     = false
}

variable "workers" {
  description = "Glue workers (G.1X) of the bronze, silver and gold jobs."
  type        = object({ bronze = number, silver = number, gold = number })
  default     = { bronze = 2, silver = 2, gold = 2 }
}

variable "name_prefix" {
  description = "Prefix of the bucket names (globally unique: include the account id)."
  type        = string
}

variable "kafka_bootstrap_servers" {
  description = "Kafka/MSK bootstrap brokers of the CDC topics (empty: each run passes them)."
  type        = string
  default     = ""
}

variable "kafka_options" {
  description = "Extra Kafka client properties for cdc-bronze (e.g. MSK IAM auth)."
  type        = map(string)
  default     = {}
}

variable "msk_cluster_arn" {
  description = "MSK cluster read with IAM auth (null: none)."
  type        = string
  default     = null
}

variable "glue_connections" {
  description = "Glue connections for network access to Kafka."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key for bucket and Athena result encryption (null: SSE-S3)."
  type        = string
  default     = null
}
