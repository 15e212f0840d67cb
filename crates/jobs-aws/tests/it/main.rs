//! Tests of the AWS job plugins against moto in server mode.

mod support;

mod athena;
mod drift;
mod glue;
mod moto_server;
mod s3;
