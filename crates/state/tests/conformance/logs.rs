use chrono::Utc;
use flowctl_state::testing::TestStore;
use flowctl_state::{AttemptState, Batch, Finish, TaskState};

use crate::dag_with_run;

#[tokio::test]
async fn logs_are_appended_and_followed_from_an_offset() {
    for t in TestStore::each_backend().await {
        let store = &t.store;
        let run = dag_with_run(store, "d", &["a"]).await;
        let ti = store.list_tasks(run.id).await.unwrap()[0].id;
        let now = Utc::now();
        let claimed = store
            .apply_batch(&Batch {
                holder: "w".into(),
                now,
                lease_until: now + chrono::Duration::seconds(30),
                claims: vec![ti],
                ..Batch::default()
            })
            .await
            .unwrap();
        assert_eq!(claimed.claimed.len(), 1);

        assert_eq!(store.read_log(ti, 1, 0).await.unwrap().text, "");
        store.append_log(ti, 1, 0, "héllo\n").await.unwrap();
        let first = store.read_log(ti, 1, 0).await.unwrap();
        assert_eq!(first.text, "héllo\n");
        assert_eq!(first.next_offset, "héllo\n".len() as u64);
        store
            .append_log(ti, 1, first.next_offset, "world\n")
            .await
            .unwrap();
        // Following: only what is new.
        let next = store.read_log(ti, 1, first.next_offset).await.unwrap();
        assert_eq!(next.text, "world\n");
        // An offset inside a chunk returns the rest of that chunk.
        assert_eq!(store.read_log(ti, 1, 3).await.unwrap().text, "llo\nworld\n");
        // Nothing new past the end.
        let end = store.read_log(ti, 1, next.next_offset).await.unwrap();
        assert_eq!((end.text.as_str(), end.next_offset), ("", next.next_offset));

        // The final chunk arrives with the attempt's end.
        store
            .apply_batch(&Batch {
                holder: "w".into(),
                now,
                lease_until: now,
                finished: vec![Finish {
                    ti_id: ti,
                    try_number: 1,
                    attempt_state: AttemptState::Success,
                    task_state: TaskState::Success,
                    ended_at: now,
                    exit_code: None,
                    error: None,
                    next_try_at: None,
                    extra_tries: 0,
                    outputs: vec![],
                    log_tail: Some((next.next_offset, "bye\n".into())),
                }],
                ..Batch::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.read_log(ti, 1, 0).await.unwrap().text,
            "héllo\nworld\nbye\n"
        );
        assert_eq!(
            store.read_log(ti, 2, 0).await.unwrap().text,
            "",
            "other tries are separate"
        );
    }
}
