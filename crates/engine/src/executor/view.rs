//! The executor's in-memory view of a run: task states, upstream counts, the ready queues.
//!
//! The store is written from this view (never polled): when a step ends, its downstream
//! steps' [`UpstreamCounts`] are updated and their trigger rules decided at once; steps that
//! can no longer run are resolved (`skipped` / `upstream_failed`) transitively.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use flowctl_model::dag::{Dag, TriggerRule};
use flowctl_state::{TaskRecord, TaskState};

use crate::rules::{Decision, UpstreamCounts, decide};
use crate::{EngineError, Result};

/// One step of the run.
#[derive(Debug)]
pub(crate) struct Node {
    pub ti_id: i64,
    pub state: TaskState,
    pub try_number: u32,
    pub max_tries: u32,
    pub next_try_at: Option<DateTime<Utc>>,
    /// For a `running` step this executor does not run (an orphan of a dead process).
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Whether this executor runs the current try.
    pub mine: bool,
    /// Whether the step sits in a ready queue.
    pub ready: bool,
    /// Index of the step's pool in [`View::pool_names`] (0 = no pool).
    pub pool: usize,
    pub rule: TriggerRule,
    pub upstream: Vec<usize>,
    pub downstream: Vec<usize>,
    pub counts: UpstreamCounts,
}

/// A step the view resolved without running it.
pub(crate) type Resolved = (usize, TaskState);

#[derive(Debug)]
pub(crate) struct View {
    /// In the DAG's step order (`dag.steps` index = node index).
    pub nodes: Vec<Node>,
    /// `None` first, then every pool the run's steps use.
    pub pool_names: Vec<Option<String>>,
    /// Ready steps per pool, in step order.
    pub ready: Vec<VecDeque<usize>>,
    /// Steps waiting for a retry (`up_for_retry`).
    pub retrying: Vec<usize>,
    /// Steps found `running` under another process's lease when the view was built.
    orphans: Vec<usize>,
    terminal: usize,
}

impl View {
    /// Builds the view of a run of `dag` from its stored task instances.
    pub fn new(dag: &Dag, records: Vec<TaskRecord>) -> Result<Self> {
        let mut by_task: HashMap<String, TaskRecord> = records
            .into_iter()
            .map(|r| (r.task_id.clone(), r))
            .collect();
        let mut pool_names: Vec<Option<String>> = vec![None];
        let mut nodes = Vec::with_capacity(dag.steps.len());
        for (id, step) in &dag.steps {
            let record = by_task.remove(id).ok_or_else(|| {
                EngineError::Conflict(format!("the run has no task instance for step `{id}`"))
            })?;
            let pool = match &step.pool {
                None => 0,
                Some(name) => match pool_names.iter().position(|p| p.as_deref() == Some(name)) {
                    Some(i) => i,
                    None => {
                        pool_names.push(Some(name.clone()));
                        pool_names.len() - 1
                    }
                },
            };
            let upstream: Vec<usize> = step
                .depends_on
                .iter()
                .filter_map(|d| dag.steps.get_index_of(d))
                .collect();
            nodes.push(Node {
                ti_id: record.id,
                state: record.state,
                try_number: record.try_number,
                max_tries: record.max_tries,
                next_try_at: record.next_try_at,
                lease_expires_at: record.lease_expires_at,
                mine: false,
                ready: false,
                pool,
                rule: step.trigger_rule,
                counts: UpstreamCounts {
                    total: upstream.len() as u32,
                    ..Default::default()
                },
                upstream,
                downstream: Vec::new(),
            });
        }
        for i in 0..nodes.len() {
            for u in nodes[i].upstream.clone() {
                nodes[u].downstream.push(i);
            }
        }
        let ready = vec![VecDeque::new(); pool_names.len()];
        let mut view = Self {
            nodes,
            pool_names,
            ready,
            retrying: Vec::new(),
            orphans: Vec::new(),
            terminal: 0,
        };
        for i in 0..view.nodes.len() {
            let state = view.nodes[i].state;
            if state == TaskState::Running {
                view.orphans.push(i);
            } else if state.is_terminal() {
                view.terminal += 1;
                for d in view.nodes[i].downstream.clone() {
                    view.nodes[d].counts.record(state);
                }
            } else if state == TaskState::UpForRetry {
                view.retrying.push(i);
            }
        }
        Ok(view)
    }

    /// Decides every queued step (after [`View::new`]); returns the steps resolved as
    /// skipped / upstream_failed.
    pub fn decide_all(&mut self) -> Vec<Resolved> {
        let mut resolved = Vec::new();
        for i in 0..self.nodes.len() {
            if let Some(state) = self.decide(i) {
                self.cascade(i, state, &mut resolved);
                resolved.push((i, state));
            }
        }
        resolved
    }

    /// Whether every step ended.
    pub fn all_terminal(&self) -> bool {
        self.terminal == self.nodes.len()
    }

    /// Steps that ended.
    pub fn terminal_count(&self) -> usize {
        self.terminal
    }

    /// Records that step `i` ended in `state` (terminal) and decides its downstream steps.
    /// Returns the steps resolved without running, transitively.
    pub fn set_terminal(&mut self, i: usize, state: TaskState) -> Vec<Resolved> {
        let mut resolved = Vec::new();
        if !self.nodes[i].state.is_terminal() {
            self.cascade(i, state, &mut resolved);
        }
        resolved
    }

    /// Records that step `i` failed because its try was cut short by a shutdown that ends the
    /// run: it is terminal, and its downstream steps are left undecided (they did not run).
    pub fn set_cut_short(&mut self, i: usize) {
        if !self.nodes[i].state.is_terminal() {
            self.mark_terminal(i, TaskState::Failed);
        }
    }

    /// Marks `start` terminal and propagates through its downstream steps (iteratively: a
    /// failure at the head of a 10,000-step chain must not overflow the stack).
    fn cascade(&mut self, start: usize, state: TaskState, resolved: &mut Vec<Resolved>) {
        self.mark_terminal(start, state);
        let mut work = vec![start];
        while let Some(i) = work.pop() {
            let state = self.nodes[i].state;
            for k in 0..self.nodes[i].downstream.len() {
                let d = self.nodes[i].downstream[k];
                self.nodes[d].counts.record(state);
                if let Some(next) = self.decide(d) {
                    self.mark_terminal(d, next);
                    resolved.push((d, next));
                    work.push(d);
                }
            }
        }
    }

    fn mark_terminal(&mut self, i: usize, state: TaskState) {
        let node = &mut self.nodes[i];
        node.state = state;
        node.mine = false;
        node.ready = false;
        self.terminal += 1;
        if !self.retrying.is_empty() {
            self.retrying.retain(|r| *r != i);
        }
    }

    /// Applies the trigger rule of a queued, not yet ready step: queues it when it may run,
    /// returns the state it must take when it cannot.
    fn decide(&mut self, i: usize) -> Option<TaskState> {
        let node = &mut self.nodes[i];
        if node.state != TaskState::Queued || node.ready {
            return None;
        }
        match decide(node.rule, &node.counts) {
            Decision::Wait => None,
            Decision::Run => {
                node.ready = true;
                let pool = node.pool;
                self.ready[pool].push_back(i);
                None
            }
            Decision::Skip => Some(TaskState::Skipped),
            Decision::UpstreamFailed => Some(TaskState::UpstreamFailed),
        }
    }

    /// A step whose try failed with tries left waits for `at`.
    pub fn set_retrying(&mut self, i: usize, at: DateTime<Utc>) {
        let node = &mut self.nodes[i];
        node.state = TaskState::UpForRetry;
        node.next_try_at = Some(at);
        node.mine = false;
        if !self.retrying.contains(&i) {
            self.retrying.push(i);
        }
    }

    /// A step going back to `queued` (a lost try): it ran before, so its rule allowed it.
    pub fn requeue(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.state = TaskState::Queued;
        node.mine = false;
        node.lease_expires_at = None;
        self.retrying.retain(|r| *r != i);
        if !node.ready {
            node.ready = true;
            let pool = node.pool;
            self.ready[pool].push_back(i);
        }
    }

    /// Earliest retry time among retrying steps.
    pub fn next_retry_at(&self) -> Option<DateTime<Utc>> {
        self.retrying
            .iter()
            .filter_map(|i| self.nodes[*i].next_try_at)
            .min()
    }

    /// Steps running under another (dead or dying) process's lease, and the earliest expiry.
    pub fn orphans(&self) -> (usize, Option<DateTime<Utc>>) {
        let mut count = 0;
        let mut earliest: Option<DateTime<Utc>> = None;
        for node in self.orphans.iter().map(|i| &self.nodes[*i]) {
            if node.state == TaskState::Running && !node.mine {
                count += 1;
                if let Some(at) = node.lease_expires_at {
                    earliest = Some(earliest.map_or(at, |e| e.min(at)));
                }
            }
        }
        (count, earliest)
    }

    /// Whether any step is ready to claim.
    pub fn has_ready(&self) -> bool {
        self.ready.iter().any(|q| !q.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view over a hand-built graph: `edges` are (upstream, downstream) node indices.
    fn view(rules: &[TriggerRule], edges: &[(usize, usize)]) -> View {
        let mut nodes: Vec<Node> = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Node {
                ti_id: i as i64,
                state: TaskState::Queued,
                try_number: 0,
                max_tries: 1,
                next_try_at: None,
                lease_expires_at: None,
                mine: false,
                ready: false,
                pool: 0,
                rule: *rule,
                upstream: vec![],
                downstream: vec![],
                counts: UpstreamCounts::default(),
            })
            .collect();
        for (u, d) in edges {
            nodes[*u].downstream.push(*d);
            nodes[*d].upstream.push(*u);
            nodes[*d].counts.total += 1;
        }
        View {
            nodes,
            pool_names: vec![None],
            ready: vec![VecDeque::new()],
            retrying: vec![],
            orphans: vec![],
            terminal: 0,
        }
    }

    #[test]
    fn a_failure_cascades_down_a_long_chain_without_recursion() {
        let n = 20_000;
        let mut v = view(
            &vec![TriggerRule::AllSuccess; n],
            &(0..n - 1).map(|i| (i, i + 1)).collect::<Vec<_>>(),
        );
        assert!(v.decide_all().is_empty());
        assert_eq!(v.ready[0], [0]);
        let resolved = v.set_terminal(0, TaskState::Failed);
        assert_eq!(resolved.len(), n - 1);
        assert!(
            resolved
                .iter()
                .all(|(_, s)| *s == TaskState::UpstreamFailed)
        );
        assert!(v.all_terminal());
    }

    #[test]
    fn joins_wait_for_every_upstream_and_resolve_once() {
        // 0 -> {1, 2} -> 3 (all_success), 3 -> 4 (all_done)
        let mut v = view(
            &[
                TriggerRule::AllSuccess,
                TriggerRule::AllSuccess,
                TriggerRule::AllSuccess,
                TriggerRule::AllSuccess,
                TriggerRule::AllDone,
            ],
            &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)],
        );
        v.decide_all();
        v.ready[0].clear();
        v.nodes[0].ready = false;
        assert!(v.set_terminal(0, TaskState::Success).is_empty());
        assert_eq!(v.ready[0], [1, 2]);
        assert!(
            v.set_terminal(1, TaskState::Failed)
                .iter()
                .eq([(3, TaskState::UpstreamFailed)].iter())
        );
        // 4 (all_done) becomes ready once 3 is resolved; 2 ending changes nothing more.
        assert_eq!(v.ready[0], [1, 2, 4]);
        assert!(v.set_terminal(2, TaskState::Success).is_empty());
        assert_eq!(v.terminal_count(), 4);
    }

    #[test]
    fn retries_and_requeues_are_tracked() {
        let mut v = view(&[TriggerRule::AllSuccess, TriggerRule::AllSuccess], &[]);
        let at = Utc::now();
        v.set_retrying(1, at + chrono::Duration::seconds(5));
        v.set_retrying(0, at);
        assert_eq!(v.next_retry_at(), Some(at));
        v.requeue(0);
        assert_eq!(v.next_retry_at(), Some(at + chrono::Duration::seconds(5)));
        assert!(v.has_ready());
        v.set_terminal(1, TaskState::Failed);
        assert_eq!(v.next_retry_at(), None);
    }
}
