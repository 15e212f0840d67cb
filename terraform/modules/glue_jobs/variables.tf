variable "jobs_dir" {
  description = "The repository's jobs/ directory (glue/ scripts and sql/ files are uploaded from it)."
  type        = string
  default     = null
}

variable "scripts_bucket" {
  description = "Bucket the scripts are uploaded to (`glue/<file>.py`, `sql/<file>.sql`)."
  type        = string
}

variable "warehouse_bucket" {
  description = "Bucket of the Iceberg warehouse (the jobs' `--warehouse`)."
  type        = string
}

variable "role_arn" {
  description = "Role the jobs run as (module iam)."
  type        = string
}

variable "kafka_bootstrap_servers" {
  description = "Kafka/MSK bootstrap brokers for cdc-bronze; empty leaves it to each run's arguments."
  type        = string
  default     = ""
}

variable "kafka_options" {
  description = "Extra Kafka client properties for cdc-bronze (e.g. MSK IAM auth settings)."
  type        = map(string)
  default     = {}
}

variable "connections" {
  description = "Glue connections giving the jobs network access (e.g. to MSK in a VPC)."
  type        = list(string)
  default     = []
}

variable "bronze_workers" {
  description = "G.1X workers of cdc-bronze."
  type        = number
  default     = 2
}

variable "silver_workers" {
  description = "G.1X workers of cdc-silver."
  type        = number
  default     = 2
}

variable "gold_workers" {
  description = "G.1X workers of cdc-gold."
  type        = number
  default     = 2
}

variable "silver_max_concurrent_runs" {
  description = "Concurrent cdc-silver runs (one per silver table can run at once)."
  type        = number
  default     = 4
}

variable "gold_max_concurrent_runs" {
  description = "Concurrent cdc-gold runs."
  type        = number
  default     = 4
}

variable "tags" {
  description = "Tags of the jobs and objects."
  type        = map(string)
  default     = {}
}
