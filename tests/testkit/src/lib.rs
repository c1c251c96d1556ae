//! # cutover-testkit
//!
//! What the test suites and benchmarks build their inputs from, with no dependency on the
//! service (only on `cutover-events`): SQS message bodies in AWS's exact shapes, whole
//! deployments as AWS sequences their events, the recorded scenarios, the benchmark stream, and
//! an example lifecycle detail.
//!
//! # Layout
//! - [`shapes`]: one SQS body per AWS event kind, modelled on `shared/event-samples/`.
//! - [`fixtures`]: the files in `event-schemas/fixtures/`.
//! - [`rollout`]: whole ECS rolling deployments (with the circuit breaker) as event sequences.
//! - [`scenarios`]: the definitions behind `tests/scenarios/*/input.jsonl`.
//! - [`stream`]: the large benchmark stream (about 200k events over 1,000 services).
//! - [`example`]: an emitted lifecycle detail to start a test's own from.

pub mod example;
pub mod fixtures;
pub mod rollout;
pub mod scenarios;
pub mod shapes;
pub mod stream;
