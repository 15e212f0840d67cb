//! Tests of flowctl-server over real runs made by the engine: the JSON API, the UI's HTML,
//! metrics, health, and (with chromium + chromedriver) a real browser.

mod api;
mod browser;
mod fixtures;
mod metrics;
mod support;
mod ui;
