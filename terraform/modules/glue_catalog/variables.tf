variable "databases" {
  description = "Glue catalog databases, one per layer."
  type        = list(string)
  default     = ["bronze", "silver", "gold"]
}

variable "warehouse_bucket" {
  description = "Bucket of the Iceberg warehouse (each database gets the prefix `<database>/`)."
  type        = string
}

variable "tags" {
  description = "Tags of every database."
  type        = map(string)
  default     = {}
}
