# The Glue Data Catalog databases of the medallion layers. The names are the ones DAGs, the Glue
# jobs and `flowctl drift` use: keep them in step with dags/ and the aws target in flowctl.yaml.
# Each database's tables live under its own warehouse prefix, which the Glue job role is limited to.

resource "aws_glue_catalog_database" "this" {
  for_each = toset(var.databases)

  name         = each.value
  description  = "flowctl ${each.value}: Iceberg tables written by the cdc-* Glue jobs and Athena"
  location_uri = "s3://${var.warehouse_bucket}/${each.value}/"
  tags         = var.tags
}
