//! The dependency graph: unknown and self dependencies, cycles, and each step's upstreams.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

/// Steps by index; petgraph is built without `std`, so the hasher is named explicitly.
type Graph = DiGraphMap<usize, (), std::hash::RandomState>;

use super::steps::Draft;
use crate::check::Checker;
use crate::suggest;

/// Answers "is this step upstream of that one" over the dependency graph.
pub(super) struct Upstreams {
    graph: Graph,
}

impl Upstreams {
    /// Whether step `candidate` is a transitive upstream of step `step`. Searches upwards
    /// from `step` and stops at `candidate`: a step usually reads outputs of a near
    /// upstream, and precomputing every step's upstreams is quadratic on long chains.
    pub fn contains(&self, step: usize, candidate: usize) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![step];
        while let Some(at) = stack.pop() {
            for up in self
                .graph
                .neighbors_directed(at, petgraph::Direction::Incoming)
            {
                if up == candidate {
                    return true;
                }
                if seen.insert(up) {
                    stack.push(up);
                }
            }
        }
        false
    }
}

/// Checks every `depends_on` and reports cycles.
pub(super) fn check(ck: &mut Checker, drafts: &[Draft]) -> Upstreams {
    let index: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();
    // Edges go upstream -> downstream, like the data.
    let mut graph = Graph::default();
    for i in 0..drafts.len() {
        graph.add_node(i);
    }
    for (i, draft) in drafts.iter().enumerate() {
        for (dep, node) in &draft.depends_on {
            if *dep == draft.id {
                ck.on(node, format!("step `{dep}` depends on itself"));
            } else if let Some(&up) = index.get(dep.as_str()) {
                graph.add_edge(up, i, ());
            } else {
                let hint = suggest::hint(dep, drafts.iter().map(|d| d.id.as_str()));
                ck.on(
                    node,
                    format!("step `{}` depends on unknown step `{dep}`{hint}", draft.id),
                );
            }
        }
    }
    report_cycles(ck, drafts, &graph);
    Upstreams { graph }
}

/// One message per strongly connected component, showing one cycle through the step
/// that comes first in the file.
fn report_cycles(ck: &mut Checker, drafts: &[Draft], graph: &Graph) {
    let mut components: Vec<Vec<usize>> = tarjan_scc(graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    for component in &mut components {
        component.sort_unstable();
    }
    components.sort();
    for component in components {
        let start = component[0];
        let members: HashSet<usize> = component.iter().copied().collect();
        let Some(path) = shortest_cycle(graph, start, &members) else {
            continue;
        };
        let names: Vec<&str> = path.iter().map(|&i| drafts[i].id.as_str()).collect();
        // `start` closes the cycle: point at its `depends_on` entry naming the last hop.
        let last = path[path.len() - 2];
        let node = drafts[start]
            .depends_on
            .iter()
            .find(|(dep, _)| *dep == drafts[last].id)
            .map(|(_, node)| *node)
            .unwrap_or(drafts[start].key);
        ck.on(
            node,
            format!(
                "dependency cycle: {} (each step depends on the one before it)",
                names.join(" -> ")
            ),
        );
    }
}

/// The shortest path `start -> ... -> start` inside `component` (breadth first, neighbours
/// in file order), as step indices with `start` at both ends.
fn shortest_cycle(graph: &Graph, start: usize, component: &HashSet<usize>) -> Option<Vec<usize>> {
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<usize> = graph
            .neighbors(node)
            .filter(|n| component.contains(n))
            .collect();
        next.sort_unstable();
        for n in next {
            if n == start {
                let mut path = vec![start, node];
                let mut at = node;
                while at != start {
                    at = *came_from.get(&at)?;
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if n != start && !came_from.contains_key(&n) {
                came_from.insert(n, node);
                queue.push_back(n);
            }
        }
    }
    None
}
