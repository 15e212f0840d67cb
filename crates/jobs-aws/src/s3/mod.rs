//! The S3 job types: `s3_wait` (a sensor) and `s3_upload`.

pub(crate) mod object;
pub mod sensor;
pub mod upload;

pub use object::md5_hex;
pub use sensor::{S3Wait, S3WaitConfig};
pub use upload::{S3Upload, S3UploadConfig};
