//! Pseudonymisation: the SQL function, the column option, salt sources, and the salt never
//! showing up in logs, outputs or errors.

use std::sync::Arc;

use flowctl_jobs_sql::arrow::array::{ArrayRef, Int64Array, StringArray};
use flowctl_lakehouse::{Column, ColumnType};
use serde_json::json;

use crate::common::{Project, sql_job};

/// `hashlib.sha256(b"alice@example.com::s3cret").hexdigest()` (python3).
const ALICE: &str = "c7ccfc23a3422e68f7c75d7b03ec2ac409977cbb0750205de29b74ae4423cea3";
const SALT: &str = "s3cret";

async fn users(project: &Project) {
    project
        .table(
            "silver.users",
            vec![
                Column::required("user_id", ColumnType::Long),
                Column::optional("email", ColumnType::String),
            ],
            vec![
                (
                    "user_id",
                    Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
                ),
                (
                    "email",
                    Arc::new(StringArray::from(vec![Some("alice@example.com"), None])),
                ),
            ],
        )
        .await;
}

/// Asserts the salt appears nowhere in `texts`.
fn assert_no_salt<'a>(texts: impl IntoIterator<Item = &'a str>) {
    for text in texts {
        assert!(!text.contains(SALT), "salt leaked: {text}");
    }
}

#[tokio::test]
async fn function_and_option_hash_with_the_salt_from_env_or_file() {
    let project = Project::new().await;
    users(&project).await;
    // SAFETY: the variable name is unique to this test; no other thread reads it.
    unsafe { std::env::set_var("FLOWCTL_TEST_SALT_FN", SALT) };
    let (result, logs) = project
        .run(
            sql_job(),
            json!({
                "sql": "SELECT user_id, pseudonymize(email) AS email_key, \
                        pseudonymize(user_id) AS id_key FROM silver.users",
                "target": "privacy.users",
                "salt_env": "FLOWCTL_TEST_SALT_FN",
            }),
        )
        .await;
    let output = result.unwrap();
    assert_no_salt(logs.iter().map(String::as_str));
    assert_no_salt(output.outputs.values().map(String::as_str));
    let rows = project
        .rows("SELECT user_id, email_key, id_key FROM privacy.users ORDER BY user_id")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"user_id": 1, "email_key": ALICE,
                   "id_key": flowctl_cdc::pseudonymize("1", SALT)}),
            json!({"user_id": 2, "id_key": flowctl_cdc::pseudonymize("2", SALT)}),
        ]
    );

    // The option, with the salt from a file.
    std::fs::write(project.path().join("salt.txt"), format!("{SALT}\n")).unwrap();
    let (result, logs) = project
        .run(
            sql_job(),
            json!({
                "sql": "SELECT email, user_id FROM silver.users",
                "target": "privacy.emails",
                "pseudonymize": ["email"],
                "salt_file": "salt.txt",
            }),
        )
        .await;
    result.unwrap();
    assert_no_salt(logs.iter().map(String::as_str));
    let rows = project
        .rows("SELECT email FROM privacy.emails WHERE user_id = 1")
        .await;
    assert_eq!(rows, vec![json!({"email": ALICE})]);
}

#[tokio::test]
async fn a_missing_salt_is_a_clear_error_that_never_shows_a_salt() {
    let project = Project::new().await;
    users(&project).await;
    // The function without any salt configured.
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT pseudonymize(email) AS k FROM silver.users", "target": "p.k"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable, "{}", err.message);
    assert!(err.message.contains("salt_env"), "{}", err.message);

    // A variable that is not set, and an empty one.
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT email FROM silver.users", "target": "p.k",
                   "pseudonymize": ["email"], "salt_env": "FLOWCTL_TEST_SALT_UNSET"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("FLOWCTL_TEST_SALT_UNSET"),
        "{}",
        err.message
    );
    // SAFETY: unique name, only this test touches it.
    unsafe { std::env::set_var("FLOWCTL_TEST_SALT_EMPTY", "") };
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT email FROM silver.users", "target": "p.k",
                   "pseudonymize": ["email"], "salt_env": "FLOWCTL_TEST_SALT_EMPTY"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(
        err.message.contains("FLOWCTL_TEST_SALT_EMPTY"),
        "{}",
        err.message
    );
    assert!(err.message.contains("empty"), "{}", err.message);

    // A salt file that does not exist.
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT email FROM silver.users", "target": "p.k",
                   "pseudonymize": ["email"], "salt_file": "nope/salt.txt"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(err.message.contains("nope/salt.txt"), "{}", err.message);

    // A bad column name with a real salt: the error lists columns, not the salt.
    // SAFETY: unique name, only this test touches it.
    unsafe { std::env::set_var("FLOWCTL_TEST_SALT_BADCOL", SALT) };
    let (result, logs) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT email FROM silver.users", "target": "p.k",
                   "pseudonymize": ["mail"], "salt_env": "FLOWCTL_TEST_SALT_BADCOL"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(err.message.contains("`mail`"), "{}", err.message);
    assert_no_salt([err.message.as_str()]);
    assert_no_salt(logs.iter().map(String::as_str));

    // A query error with a salt registered: DataFusion's message does not carry the salt.
    let (result, logs) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT pseudonymize(nope) FROM silver.users", "target": "p.k",
                   "salt_env": "FLOWCTL_TEST_SALT_BADCOL"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(err.message.contains("nope"), "{}", err.message);
    assert_no_salt([err.message.as_str()]);
    assert_no_salt(logs.iter().map(String::as_str));
}
