//! Pseudonymisation in SQL: the `pseudonymize(value)` function and the `pseudonymize:` column
//! option, both `lowercase hex(sha256(value_text || '::' || salt))` (see
//! [`flowctl_cdc::pseudonymize`]).
//!
//! The salt is read at run time from an environment variable or a file the step names, never
//! from the DAG file; it is held as a [`Salt`], whose `Debug`/`Display` are redacted, and no
//! message of this module ever includes it.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use flowctl_cdc::Salt;

use crate::error::SqlError;

/// The SQL function's name.
pub const FUNCTION_NAME: &str = "pseudonymize";

/// Where a step's salt comes from (at most one of the two).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaltSource {
    /// Name of the environment variable holding the salt.
    pub salt_env: Option<String>,
    /// Path of a file holding the salt (trailing newline ignored); relative to the project
    /// directory.
    pub salt_file: Option<String>,
}

impl SaltSource {
    /// Whether the step names a salt at all.
    pub fn is_set(&self) -> bool {
        self.salt_env.is_some() || self.salt_file.is_some()
    }

    /// Reads the salt. Errors name the variable or file, never a value.
    pub fn load(&self, project_dir: &Path) -> Result<Salt, SqlError> {
        match (&self.salt_env, &self.salt_file) {
            (Some(_), Some(_)) => Err(SqlError::Config(
                "give either `salt_env` or `salt_file`, not both".into(),
            )),
            (Some(var), None) => {
                let value = std::env::var(var).map_err(|e| {
                    SqlError::Config(format!(
                        "the pseudonymisation salt variable `{var}` is not usable: {e}"
                    ))
                })?;
                Salt::new(value).ok_or_else(|| {
                    SqlError::Config(format!(
                        "the pseudonymisation salt variable `{var}` is empty"
                    ))
                })
            }
            (None, Some(file)) => {
                let path = project_dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|source| SqlError::File {
                    what: "the pseudonymisation salt file",
                    path: path.clone(),
                    source,
                })?;
                // Editors add a final newline; it is not part of the secret.
                Salt::new(text.trim_end_matches(['\n', '\r'])).ok_or_else(|| {
                    SqlError::Config(format!(
                        "the pseudonymisation salt file {} is empty",
                        path.display()
                    ))
                })
            }
            (None, None) => Err(SqlError::Config(
                "pseudonymisation needs a salt: set `salt_env` (an environment variable name) \
                 or `salt_file` (a file path) on the step"
                    .into(),
            )),
        }
    }
}

const NO_SALT: &str = "pseudonymize() needs a salt: set `salt_env` (an environment variable \
     name) or `salt_file` (a file path) on the step";

/// `pseudonymize(value)` as a DataFusion function. Without a salt, a query using it is rejected
/// with a message saying how to configure one.
pub fn pseudonymize_udf(salt: Option<Salt>) -> ScalarUDF {
    ScalarUDF::from(PseudonymizeUdf {
        salt,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug)]
struct PseudonymizeUdf {
    salt: Option<Salt>,
    signature: Signature,
}

// DataFusion compares and hashes functions to deduplicate expressions; two instances are the
// same function only with the same salt (compared, never hashed or printed).
impl PartialEq for PseudonymizeUdf {
    fn eq(&self, other: &Self) -> bool {
        self.salt == other.salt
    }
}

impl Eq for PseudonymizeUdf {}

impl Hash for PseudonymizeUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        FUNCTION_NAME.hash(state);
    }
}

impl ScalarUDFImpl for PseudonymizeUdf {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        FUNCTION_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        // Refused while planning (not per row) so the step fails fast and is not retried.
        if self.salt.is_none() {
            return Err(DataFusionError::Plan(NO_SALT.into()));
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let Some(salt) = &self.salt else {
            return Err(DataFusionError::Execution(NO_SALT.into()));
        };
        let [value] = args.args.as_slice() else {
            return Err(DataFusionError::Execution(
                "pseudonymize() takes exactly one argument".into(),
            ));
        };
        let array = value.to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(pseudonymize_array(&array, salt)?))
    }
}

/// Pseudonymises every non-null value of `array` (as its text: numbers as written, decimals
/// with their scale); nulls stay null.
fn pseudonymize_array(array: &ArrayRef, salt: &Salt) -> Result<ArrayRef, DataFusionError> {
    let text = cast(array, &DataType::Utf8)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Internal("cast to Utf8 gave another type".into()))?;
    let out: StringArray = text
        .iter()
        .map(|v| v.map(|v| salt.pseudonymize(v)))
        .collect();
    Ok(Arc::new(out))
}

/// Replaces the named columns of `batch` by their pseudonyms (text columns). An unknown column
/// is an error listing the result's columns.
pub fn pseudonymize_columns(
    batch: &RecordBatch,
    columns: &[String],
    salt: &Salt,
) -> Result<RecordBatch, SqlError> {
    let schema = batch.schema();
    for name in columns {
        if schema.index_of(name).is_err() {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(SqlError::Config(format!(
                "`pseudonymize` names column `{name}`, which the result does not have (columns: {})",
                have.join(", ")
            )));
        }
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut arrays = Vec::with_capacity(batch.num_columns());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        if columns.iter().any(|c| c == field.name()) {
            let hashed = pseudonymize_array(array, salt).map_err(SqlError::Execution)?;
            fields.push(Field::new(
                field.name(),
                DataType::Utf8,
                field.is_nullable(),
            ));
            arrays.push(hashed);
        } else {
            fields.push(field.as_ref().clone());
            arrays.push(array.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    /// `python3 -c 'import hashlib; print(hashlib.sha256(b"alice@example.com::s3cret").hexdigest())'`
    const ALICE: &str = "c7ccfc23a3422e68f7c75d7b03ec2ac409977cbb0750205de29b74ae4423cea3";

    #[test]
    fn columns_are_replaced_and_nulls_kept() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "email",
                Arc::new(StringArray::from(vec![Some("alice@example.com"), None])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ])
        .unwrap();
        let salt = Salt::new("s3cret").unwrap();
        let out = pseudonymize_columns(&batch, &["email".into(), "n".into()], &salt).unwrap();
        let email = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(email.value(0), ALICE);
        assert!(email.is_null(1));
        let n = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(n.value(1), flowctl_cdc::pseudonymize("2", "s3cret"));

        let err = pseudonymize_columns(&batch, &["mail".into()], &salt).unwrap_err();
        assert!(err.to_string().contains("`mail`"), "{err}");
        assert!(err.to_string().contains("email, n"), "{err}");
    }

    #[test]
    fn salt_sources_fail_clearly_without_showing_the_salt() {
        let dir = tempfile::tempdir().unwrap();
        let none = SaltSource::default();
        assert!(
            none.load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("salt_env")
        );

        let missing = SaltSource {
            salt_env: Some("FLOWCTL_TEST_SALT_THAT_IS_NOT_SET".into()),
            salt_file: None,
        };
        let err = missing.load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("FLOWCTL_TEST_SALT_THAT_IS_NOT_SET"), "{err}");

        std::fs::write(dir.path().join("salt.txt"), "s3cret\n").unwrap();
        let file = SaltSource {
            salt_env: None,
            salt_file: Some("salt.txt".into()),
        };
        let salt = file.load(dir.path()).unwrap();
        assert_eq!(salt.pseudonymize("alice@example.com"), ALICE);

        std::fs::write(dir.path().join("empty.txt"), "\n").unwrap();
        let empty = SaltSource {
            salt_env: None,
            salt_file: Some("empty.txt".into()),
        };
        assert!(
            empty
                .load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("empty.txt")
        );
        let both = SaltSource {
            salt_env: Some("A".into()),
            salt_file: Some("salt.txt".into()),
        };
        assert!(
            both.load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
    }
}
