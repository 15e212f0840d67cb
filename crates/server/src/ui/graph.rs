//! The DAG graph as inline SVG: steps in layers left to right (a step sits one layer right
//! of its deepest upstream step), edges as curves with arrowheads, nodes coloured by the
//! state of the step in the latest run.

use std::collections::HashMap;

use flowctl_model::dag::Dag;
use maud::{Markup, html};

use crate::read::layers;

const NODE_W: f64 = 170.0;
const NODE_H: f64 = 34.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 18.0;
const MARGIN: f64 = 10.0;
/// Longer step ids are cut in the box (the full id is in its tooltip).
const LABEL_CHARS: usize = 20;

/// Where each step's box is: (x, y) of its top-left corner.
pub fn positions(dag: &Dag) -> HashMap<String, (f64, f64)> {
    let mut pos: HashMap<String, (f64, f64)> = HashMap::new();
    for (depth, layer) in layers(dag).into_iter().enumerate() {
        // Order a layer by the mean height of each step's upstream steps (barycenter): fewer
        // crossings than the topological order alone.
        let mut order: Vec<(f64, usize, &str)> = layer
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let ups: Vec<f64> = dag.steps[*id]
                    .depends_on
                    .iter()
                    .filter_map(|u| pos.get(u).map(|p| p.1))
                    .collect();
                let key = if ups.is_empty() {
                    i as f64 * (NODE_H + GAP_Y)
                } else {
                    ups.iter().sum::<f64>() / ups.len() as f64
                };
                (key, i, *id)
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (row, (_, _, id)) in order.into_iter().enumerate() {
            let x = MARGIN + depth as f64 * (NODE_W + GAP_X);
            let y = MARGIN + row as f64 * (NODE_H + GAP_Y);
            pos.insert(id.to_string(), (x, y));
        }
    }
    pos
}

/// The SVG of `dag`; `states` gives each step's state in the latest run (absent = no run).
pub fn svg(dag: &Dag, states: &HashMap<String, String>) -> Markup {
    let pos = positions(dag);
    let width = pos.values().map(|p| p.0 + NODE_W).fold(0.0, f64::max) + MARGIN;
    let height = pos.values().map(|p| p.1 + NODE_H).fold(0.0, f64::max) + MARGIN;
    html! {
        svg.graph xmlns="http://www.w3.org/2000/svg" role="img"
            aria-label={ "graph of DAG " (dag.id) }
            width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
            defs {
                marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"
                    markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" fill="#555" {}
                }
            }
            @for step in dag.steps.values() {
                @for up in &step.depends_on {
                    @if let (Some(from), Some(to)) = (pos.get(up), pos.get(&step.id)) {
                        @let (x1, y1) = (from.0 + NODE_W, from.1 + NODE_H / 2.0);
                        @let (x2, y2) = (to.0, to.1 + NODE_H / 2.0);
                        path.edge data-from=(up) data-to=(step.id) marker-end="url(#arrow)"
                            d=(format!("M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}",
                                x1 + GAP_X / 2.0, x2 - GAP_X / 2.0)) {}
                    }
                }
            }
            @for step in dag.steps.values() {
                @if let Some((x, y)) = pos.get(&step.id) {
                    @let state = states.get(&step.id).map(String::as_str).unwrap_or("none");
                    g.node data-step=(step.id) data-state=(state) {
                        title { (step.id) ": " (state) }
                        rect class={ "s-" (state) } x=(x) y=(y) width=(NODE_W) height=(NODE_H)
                            rx="5" {}
                        text x=(x + 10.0) y=(y + NODE_H / 2.0 + 4.5) { (label(&step.id)) }
                    }
                }
            }
        }
    }
}

fn label(id: &str) -> String {
    if id.chars().count() <= LABEL_CHARS {
        id.to_string()
    } else {
        let cut: String = id.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}
