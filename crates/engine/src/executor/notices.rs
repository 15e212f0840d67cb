//! The executor's side of notifications: which ones an ended try or run calls for. They
//! are queued while the loop records the ends, and handed to the notifier only once the
//! batch holding those ends is written (a receiver never hears of a state the store
//! does not have yet, and the attempt's log is complete before a failed delivery adds to it).

use flowctl_model::dag::NotifyEvent;
use flowctl_model::template::RunContext;
use flowctl_state::{RunState, TaskState};

use super::Executor;
use crate::notify::Notice;

impl Executor<'_> {
    /// Queues the notifications of a step's try: the step's own, and for a retry the DAG's
    /// `on_retry` too.
    pub(super) fn queue_notices(
        &mut self,
        i: usize,
        event: NotifyEvent,
        try_number: u32,
        error: Option<String>,
    ) {
        let dag = self.dag.clone();
        let Some((task_id, step)) = dag.steps.get_index(i) else {
            return;
        };
        let node = &self.view.nodes[i];
        let state = match event {
            NotifyEvent::Success => "success",
            NotifyEvent::Retry => "up_for_retry",
            NotifyEvent::Failure => "failed",
        };
        let key = event_key(event);
        let mut lists = vec![(
            step.notifications.for_event(event),
            format!("`{key}` of step `{task_id}`"),
        )];
        if event == NotifyEvent::Retry {
            lists.push((
                dag.notifications.on_retry.as_slice(),
                "`on_retry` of the DAG".to_string(),
            ));
        }
        for (list, origin) in lists {
            if list.is_empty() {
                continue;
            }
            self.notices.push(Notice {
                notifications: list.to_vec(),
                event,
                step: Some(task_id.clone()),
                state,
                error: error.clone(),
                try_number: Some(try_number),
                max_tries: Some(node.max_tries),
                attempt: Some((node.ti_id, try_number)),
                origin,
            });
        }
    }

    /// Hands the queued notifications to the notifier (which delivers them in the background).
    pub(super) fn send_notices(&mut self) {
        if self.notices.is_empty() {
            return;
        }
        let notices = std::mem::take(&mut self.notices);
        let info = &self.info;
        let run = RunContext {
            dag_id: &info.dag_id,
            run_id: &info.run_id,
            logical_date: info.logical_date,
            data_interval: info.interval,
            timezone: info.timezone,
            params: &info.params,
            target: &info.target.name,
        };
        for notice in notices {
            self.engine
                .inner
                .notifier
                .dispatch(&run, notice, &info.store);
        }
    }

    /// Queues the run's `on_failure` / `on_success` for its final state.
    pub(super) fn queue_run_notices(&mut self, state: RunState) {
        let (event, state_name) = match state {
            RunState::Success => (NotifyEvent::Success, "success"),
            RunState::Failed => (NotifyEvent::Failure, "failed"),
            _ => return,
        };
        let list = self.dag.notifications.for_event(event);
        if list.is_empty() {
            return;
        }
        let error = (event == NotifyEvent::Failure).then(|| {
            let failed: Vec<String> = self
                .view
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.state == TaskState::Failed)
                .filter_map(|(i, _)| {
                    let (id, _) = self.dag.steps.get_index(i)?;
                    Some(match self.errors.get(&i) {
                        Some(error) => format!("step `{id}` failed: {error}"),
                        None => format!("step `{id}` failed"),
                    })
                })
                .collect();
            if failed.is_empty() {
                "no step failed, but the final steps did not all succeed".to_string()
            } else {
                failed.join("\n")
            }
        });
        self.notices.push(Notice {
            notifications: list.to_vec(),
            event,
            step: None,
            state: state_name,
            error,
            try_number: None,
            max_tries: None,
            attempt: None,
            origin: format!("`{}` of the DAG", event_key(event)),
        });
    }
}

/// The DAG-file key of an event's notifications.
fn event_key(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Failure => "on_failure",
        NotifyEvent::Retry => "on_retry",
        NotifyEvent::Success => "on_success",
    }
}
