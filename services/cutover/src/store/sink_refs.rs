//! What the sink lane learned: the ids the tools gave its effects (a GitHub deployment's id,
//! a Grafana region's, a Honeycomb marker's) and which GitHub deployment is current in each
//! environment, so a later step updates that object across restarts and replicas.

use super::StoreError;

/// A sink's remembered ids, by a key the sink's executor makes (`<sink>/<kind of object>/…`).
///
/// Its methods block: the rule is on [`Store`](super::Store).
pub trait SinkRefs: Send + std::fmt::Debug {
    fn sink_ref(&mut self, key: &str) -> Result<Option<String>, StoreError>;

    fn set_sink_ref(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
}
