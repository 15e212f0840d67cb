terraform {
  # 1.10+: the S3 backend locks with a lock file next to the state (no DynamoDB table).
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}
