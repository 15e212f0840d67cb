# The prod environment's own remote state: its own bucket (versioned, encrypted, created once by
# hand, see terraform/README.md) and its own lock file, so a plan or apply of one environment can
# never read, lock or overwrite another's state.
terraform {
  backend "s3" {
    bucket       = "flowctl-tfstate-prod"
    key          = "flowctl/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
