//! The DynamoDB store, for running several replicas against one table. It passes the same
//! conformance suite as SQLite ([`super::conformance`]).
//!
//! One table, string keys `pk` and `sk` (numbers zero-padded so they sort):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | the head | `head` | `head` | `next_seq`, `next_id`, `version` |
//! | a journal entry | `journal` | seq | `now_ms`, `body` |
//! | the snapshot | `snapshot` | `current` | `seq`, `generation`, `chunks` |
//! | a snapshot chunk | `snapshot#<generation>` | index | `data` (the state, 300 KB a chunk: items are at most 400 KB) |
//! | an unfinished action | `open#<lane>` | id | `action`, `status`, `attempts`, `next_attempt_ms`, `version`, ... |
//! | a finished action | `closed#<lane>` | id | the same, `finished_ms`, `expires_at` (a TTL attribute, 7 days) |
//! | a Slack message | `slack` | deployment id | `channel`, `ts` |
//! | a sink's remembered id | `sink` | the sink's key | `value` |
//! | a lane's finished count | `counts` | lane | one number per final status (`done`, `failed`, `superseded`) |
//!
//! Writes that two writers could race on are conditional on a version attribute: a commit on
//! the head's `version` (journal sequence numbers and outbox ids are handed out once, and two
//! writers never both commit decisions from the same state), a claim (`mark_attempting`) on the
//! `version` the claimer read in `due`, a finish on the action's `version` (it is moved to
//! `closed` once), a snapshot on being newer than the one it replaces. A lost race is
//! [`StoreError::Conflict`]: the intake then rebuilds its state from the store and decides
//! again; an executor leaves the action to the replica that claimed it.
//!
//! A claim is a lease (`owner`, `lease_until`): another store's `due` stops at an action
//! claimed by someone else until the lease runs out, so each lane runs in decision order across
//! replicas, and an action whose claimer died is taken over (as `attempting`: its effect is
//! looked for first) when its lease ends.
//!
//! Counting the outbox reads no finished action: each `finish` adds one to its lane's count of
//! that status in the same transaction that closes the action, and `outbox_counts` reads those
//! three items and the open partitions (the backlog, empty in steady state). The counts are of
//! every action finished since the table was created, as SQLite's are (a finished item expires
//! after 7 days; its count stays).
//!
//! An outbox id carries its lane in its two low bits (`1` Slack, `2` CloudFront, `3`
//! EventBridge, `0` sinks: the lane added last takes the value no earlier id has), so `mark_*`
//! and `finish`, which get only the id, find the item.
//!
//! The `Store` trait is synchronous (SQLite is); the AWS SDK is async. Calls run on a small
//! runtime of their own and the caller's thread waits for the answer, as it waits for SQLite.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use cutover_correlator::Action;
use cutover_events::Timestamp;

use super::{
    Claim, Health, Journal, JournalEntry, Lane, NewAction, Outbox, OutboxItem, Recovery, SinkRefs, SlackMessages,
    Status, StoreError,
};

/// A transaction holds at most 100 items; one is the head.
const MAX_COMMIT_ITEMS: usize = 99;
/// Snapshot chunk size: DynamoDB items are at most 400 KB.
const CHUNK_BYTES: usize = 300 * 1024;
/// Finished actions are kept this long (the `expires_at` TTL attribute).
const CLOSED_TTL_SECS: i64 = 7 * 86_400;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store. A clone is the same claimer (same owner token).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Who claims actions through this store: unique per [`DynamoStore::new`].
    owner: String,
    lease_ms: i64,
    /// The `version` of each action as `due` last read it: what a claim is conditional on.
    seen: HashMap<i64, i64>,
    /// The last journal seq the caller's state includes (from `recover`, `journal_since` and
    /// its own commits): a commit lands only if no other entry came after it.
    position: Option<i64>,
}

/// Default lease of a claim.
const DEFAULT_LEASE_MS: i64 = 30_000;

fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cutover-dynamodb")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Runs `fut` on the store's runtime and waits for it.
fn block<T: Send + 'static>(
    operation: &'static str,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let remote = |cause: &str| StoreError::Remote { operation, cause: cause.to_owned() };
    let rt = runtime().ok_or_else(|| remote("cannot start the store's runtime"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| remote("the call was dropped"))?
}

/// A DynamoDB error as the store's: a conditional write that lost (the item changed, or the
/// transaction was cancelled because one of its conditions did not hold) is a
/// [`StoreError::Conflict`], told by its error code, never by searching the text.
fn remote<E>(operation: &'static str) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    move |e| match e.code() {
        Some("ConditionalCheckFailedException" | "TransactionCanceledException") => StoreError::Conflict { operation },
        _ => StoreError::Remote { operation, cause: crate::aws::describe(&e) },
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn pad(v: i64) -> String {
    format!("{v:020}")
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

const LANES: [Lane; 5] = Lane::ALL;

/// The controls lane came after every value of the two low bits was taken: its ids carry this
/// bit too (far above any counter), so ids made before keep their lanes.
const CONTROLS_BIT: i64 = 1 << 58;

fn lane_bits(lane: Lane) -> i64 {
    match lane {
        Lane::Slack => 1,
        Lane::CloudFront => 2,
        Lane::EventBridge => 3,
        Lane::Sinks => 0,
        Lane::Controls => CONTROLS_BIT,
    }
}

fn lane_of(id: i64) -> Option<Lane> {
    if id & CONTROLS_BIT != 0 {
        return Some(Lane::Controls);
    }
    LANES.into_iter().find(|l| *l != Lane::Controls && lane_bits(*l) == id & 3)
}

fn open_pk(lane: Lane) -> String {
    format!("open#{}", lane.as_str())
}

fn closed_pk(lane: Lane) -> String {
    format!("closed#{}", lane.as_str())
}

fn wall_ms() -> i64 {
    crate::clock::now_ms()
}

fn corrupt(operation: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { operation, detail }
}

/// One item, read consistently.
async fn get(client: &Client, table: &str, key: Item, operation: &'static str) -> Result<Option<Item>, StoreError> {
    Ok(client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(remote(operation))?
        .item)
}

/// Every item of a partition, in key order (all pages).
async fn query_all(client: &Client, table: &str, pk: &str, after_sk: Option<String>) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    // Bounded: 100,000 pages of up to 1 MB.
    for _ in 0..100_000 {
        let mut q = client
            .query()
            .table_name(table)
            .consistent_read(true)
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":pk", s(pk))
            .set_exclusive_start_key(start.take());
        q = match &after_sk {
            Some(sk) => q
                .key_condition_expression("#pk = :pk AND #sk > :sk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":sk", s(sk.clone())),
            None => q.key_condition_expression("#pk = :pk"),
        };
        let out = q.send().await.map_err(remote("query"))?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(items),
        }
    }
    Ok(items)
}

async fn delete_all(client: &Client, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
    for k in keys {
        client.delete_item().table_name(table).set_key(Some(k)).send().await.map_err(remote("delete"))?;
    }
    Ok(())
}

fn journal_entry(i: &Item) -> Result<JournalEntry, StoreError> {
    Ok(JournalEntry {
        seq: get_s(i, "sk").and_then(|v| v.parse().ok()).ok_or_else(|| corrupt("journal", "seq".into()))?,
        now: Timestamp(get_n(i, "now_ms").unwrap_or(0)),
        body: get_s(i, "body").unwrap_or_default().to_owned(),
    })
}

fn outbox_item(item: &Item) -> Result<OutboxItem, StoreError> {
    let id = get_s(item, "sk").and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| corrupt("due", "outbox sk".into()))?;
    let action = get_s(item, "action").ok_or_else(|| corrupt("due", format!("outbox {id}: no action")))?;
    let status = get_s(item, "status").unwrap_or_default();
    Ok(OutboxItem {
        id,
        action: serde_json::from_str::<Action>(action).map_err(|e| corrupt("due", format!("outbox {id}: {e}")))?,
        traceparent: get_s(item, "traceparent").map(str::to_owned),
        status: Status::parse(status).ok_or_else(|| corrupt("due", format!("outbox {id}: status {status}")))?,
        attempts: u32::try_from(get_n(item, "attempts").unwrap_or(0)).unwrap_or(u32::MAX),
        next_attempt_ms: get_n(item, "next_attempt_ms").unwrap_or(0),
    })
}

impl DynamoStore {
    /// A store on `table` (keys `pk` and `sk`, both strings; see the module docs).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let owner = format!("{}-{}-{n}", std::process::id(), wall_ms());
        Self { client, table: table.into(), owner, lease_ms: DEFAULT_LEASE_MS, seen: HashMap::new(), position: None }
    }

    /// How long a claim holds off other replicas. Default 30 s.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease_ms = i64::try_from(lease.as_millis()).unwrap_or(DEFAULT_LEASE_MS);
        self
    }

    /// Creates the table (on-demand billing), for tests and the local emulator; the stacks in
    /// `infra/` create it in AWS.
    pub fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let (client, table) = (self.client.clone(), self.table.clone());
        block("create_table", async move {
            let attr = |name: &str| {
                AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
            };
            let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
            client
                .create_table()
                .table_name(&table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr("pk").map_err(|e| corrupt("create_table", e.to_string()))?)
                .attribute_definitions(attr("sk").map_err(|e| corrupt("create_table", e.to_string()))?)
                .key_schema(key("pk", KeyType::Hash).map_err(|e| corrupt("create_table", e.to_string()))?)
                .key_schema(key("sk", KeyType::Range).map_err(|e| corrupt("create_table", e.to_string()))?)
                .send()
                .await
                .map_err(remote("create_table"))?;
            Ok(())
        })
    }

    /// One action item's update: `set` (an update expression's SET list), on `condition`
    /// (`attribute_exists(pk)`: still open); its `version` goes up by one.
    fn update_action(
        &self,
        operation: &'static str,
        id: i64,
        set: &'static str,
        condition: &'static str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let lane = lane_of(id).ok_or_else(|| corrupt(operation, format!("outbox id {id} names no lane")))?;
        let (client, table) = (self.client.clone(), self.table.clone());
        block(operation, async move {
            let mut u = client
                .update_item()
                .table_name(&table)
                .set_key(Some(key(&open_pk(lane), &pad(id))))
                .update_expression(format!("SET {set}, version = version + :one"))
                .condition_expression(condition)
                .expression_attribute_values(":one", n(1));
            for (name, value) in values {
                u = u.expression_attribute_values(name, value);
            }
            // STATUS, RESULT and OWNER are reserved words.
            for (placeholder, name) in [("#status", "status"), ("#result", "result"), ("#owner", "owner")] {
                if set.contains(placeholder) {
                    u = u.expression_attribute_names(placeholder, name);
                }
            }
            u.send().await.map_err(remote(operation))?;
            Ok(())
        })
    }
}

impl Journal for DynamoStore {
    fn recover(&mut self) -> Result<Recovery, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let recovery = block("recover", async move {
            let pointer = get(&client, &table, key("snapshot", "current"), "recover").await?;
            let mut snapshot = None;
            let mut after = None;
            if let Some(p) = pointer {
                let seq = get_n(&p, "seq").ok_or_else(|| corrupt("recover", "snapshot seq".into()))?;
                let generation = get_s(&p, "generation").unwrap_or_default();
                let chunks = query_all(&client, &table, &format!("snapshot#{generation}"), None).await?;
                let state: String = chunks.iter().filter_map(|c| get_s(c, "data")).collect();
                snapshot = Some((seq, state));
                after = Some(pad(seq));
            }
            let journal = query_all(&client, &table, "journal", after)
                .await?
                .iter()
                .map(journal_entry)
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Recovery { snapshot, journal })
        })?;
        self.position = Some(
            recovery.journal.last().map(|e| e.seq).or(recovery.snapshot.as_ref().map(|(seq, _)| *seq)).unwrap_or(0),
        );
        Ok(recovery)
    }

    fn commit(&mut self, entries: &[(Timestamp, String)], actions: &[NewAction]) -> Result<Vec<i64>, StoreError> {
        if entries.len() + actions.len() > MAX_COMMIT_ITEMS {
            return Err(StoreError::Remote {
                operation: "commit",
                cause: format!(
                    "{} journal entries and actions exceed one transaction ({MAX_COMMIT_ITEMS})",
                    entries.len() + actions.len()
                ),
            });
        }
        let (client, table) = (self.client.clone(), self.table.clone());
        let entries = entries.to_vec();
        let actions = actions.to_vec();
        let expected_next = self.position.map(|p| p + 1);
        let seqs = block("commit", async move {
            let head = get(&client, &table, key("head", "head"), "commit").await?;
            let (next_seq, next_id, version) = match &head {
                Some(h) => (
                    get_n(h, "next_seq").unwrap_or(1),
                    get_n(h, "next_id").unwrap_or(1),
                    get_n(h, "version").unwrap_or(0),
                ),
                None => (1, 1, 0),
            };
            let mut items = Vec::with_capacity(entries.len() + actions.len() + 1);
            let mut seqs = Vec::with_capacity(entries.len());
            for (i, (now, body)) in entries.iter().enumerate() {
                let seq = next_seq + i as i64;
                seqs.push(seq);
                let mut item = key("journal", &pad(seq));
                item.insert("now_ms".into(), n(now.millis()));
                item.insert("body".into(), s(body.clone()));
                items.push(put(&table, item)?);
            }
            for (i, NewAction { action, traceparent }) in actions.iter().enumerate() {
                let lane = Lane::of(action);
                let id = (next_id + i as i64) * 4 + lane_bits(lane);
                let json = serde_json::to_string(action).map_err(|e| corrupt("commit", e.to_string()))?;
                let mut item = key(&open_pk(lane), &pad(id));
                item.insert("action".into(), s(json));
                item.insert("deployment_id".into(), s(action.sequence_key().into_owned()));
                item.insert("status".into(), s(Status::Pending.as_str()));
                item.insert("attempts".into(), n(0));
                item.insert("next_attempt_ms".into(), n(0));
                item.insert("created_ms".into(), n(wall_ms()));
                item.insert("version".into(), n(0));
                if let Some(t) = traceparent {
                    item.insert("traceparent".into(), s(t.clone()));
                }
                items.push(put(&table, item)?);
            }
            let mut head_item = key("head", "head");
            head_item.insert("next_seq".into(), n(next_seq + entries.len() as i64));
            head_item.insert("next_id".into(), n(next_id + actions.len() as i64));
            head_item.insert("version".into(), n(version + 1));
            let mut head_put = Put::builder().table_name(&table).set_item(Some(head_item));
            // Decided from a state that includes the whole journal: nothing may have come after
            // it (`next_seq`), and nobody may have written the head since it was read (`version`).
            if let Some(e) = expected_next
                && e != next_seq
            {
                return Err(StoreError::Conflict { operation: "commit" });
            }
            head_put = if head.is_some() {
                head_put
                    .condition_expression("version = :v AND next_seq = :next")
                    .expression_attribute_values(":v", n(version))
                    .expression_attribute_values(":next", n(next_seq))
            } else {
                head_put.condition_expression("attribute_not_exists(pk)")
            };
            items.push(
                TransactWriteItem::builder()
                    .put(head_put.build().map_err(|e| corrupt("commit", e.to_string()))?)
                    .build(),
            );
            client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(remote("commit"))?;
            Ok(seqs)
        })?;
        if let Some(last) = seqs.last() {
            self.position = Some(*last);
        }
        Ok(seqs)
    }

    fn journal_since(&mut self, seq: i64) -> Result<Option<Vec<JournalEntry>>, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let since = block("journal_since", async move {
            let pointer = get(&client, &table, key("snapshot", "current"), "journal_since").await?;
            if pointer.as_ref().and_then(|p| get_n(p, "seq")).is_some_and(|s| s > seq) {
                return Ok(None);
            }
            query_all(&client, &table, "journal", Some(pad(seq)))
                .await?
                .iter()
                .map(journal_entry)
                .collect::<Result<Vec<_>, StoreError>>()
                .map(Some)
        })?;
        if let Some(entries) = &since {
            self.position = Some(entries.last().map_or(seq, |e| e.seq));
        }
        Ok(since)
    }

    fn shared(&self) -> bool {
        true
    }

    fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let state = state.to_owned();
        let generation = format!("{seq}-{}", self.owner);
        block("snapshot", async move {
            let old = get(&client, &table, key("snapshot", "current"), "snapshot").await?;
            let old_generation = old.as_ref().and_then(|o| get_s(o, "generation")).map(str::to_owned);
            let mut chunks = 0i64;
            let mut rest = state.as_str();
            while !rest.is_empty() || chunks == 0 {
                let mut cut = rest.len().min(CHUNK_BYTES);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                let (chunk, tail) = rest.split_at(cut);
                let mut item = key(&format!("snapshot#{generation}"), &pad(chunks));
                item.insert("data".into(), s(chunk));
                client.put_item().table_name(&table).set_item(Some(item)).send().await.map_err(remote("snapshot"))?;
                chunks += 1;
                rest = tail;
            }
            let mut pointer = key("snapshot", "current");
            pointer.insert("seq".into(), n(seq));
            pointer.insert("generation".into(), s(generation.clone()));
            pointer.insert("chunks".into(), n(chunks));
            // Only a newer snapshot replaces the current one (replicas snapshot on their own).
            let replaced = client
                .put_item()
                .table_name(&table)
                .set_item(Some(pointer))
                .condition_expression("attribute_not_exists(pk) OR seq < :seq")
                .expression_attribute_values(":seq", n(seq))
                .send()
                .await
                .map_err(remote("snapshot"));
            if let Err(e) = replaced {
                let pk = format!("snapshot#{generation}");
                let mine: Vec<Item> = (0..chunks).map(|i| key(&pk, &pad(i))).collect();
                delete_all(&client, &table, mine).await?;
                return Err(e);
            }
            // The snapshot is in place: drop the journal it includes and the old chunks.
            let mut stale: Vec<Item> = query_all(&client, &table, "journal", None)
                .await?
                .into_iter()
                .filter(|i| get_s(i, "sk").and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v <= seq))
                .map(|i| key("journal", get_s(&i, "sk").unwrap_or_default()))
                .collect();
            if let Some(g) = old_generation.filter(|g| *g != generation) {
                let pk = format!("snapshot#{g}");
                for c in query_all(&client, &table, &pk, None).await? {
                    stale.push(key(&pk, get_s(&c, "sk").unwrap_or_default()));
                }
            }
            delete_all(&client, &table, stale).await
        })
    }
}

impl Outbox for DynamoStore {
    fn due(&mut self, lane: Lane, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let (client, table, owner) = (self.client.clone(), self.table.clone(), self.owner.clone());
        let items = block("due", async move { query_all(&client, &table, &open_pk(lane), None).await })?;
        let mut out = Vec::new();
        // Deployments with an earlier action waiting for its retry: their later ones wait too.
        let mut waiting = std::collections::HashSet::new();
        let wall = wall_ms();
        for item in items {
            // Claimed by another replica and not yet expired: the lane waits for it.
            let leased = get_n(&item, "lease_until").is_some_and(|until| until > wall);
            if leased && get_s(&item, "owner").is_some_and(|o| o != owner) {
                break;
            }
            let o = outbox_item(&item)?;
            if !matches!(o.status, Status::Pending | Status::Attempting) {
                continue;
            }
            if o.next_attempt_ms > now_ms {
                waiting.insert(o.action.sequence_key().into_owned());
                continue;
            }
            if !waiting.contains(o.action.sequence_key().as_ref()) {
                self.seen.insert(o.id, get_n(&item, "version").unwrap_or(0));
                out.push(o);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn next_due(&mut self, lane: Lane) -> Result<Option<i64>, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        block("next_due", async move {
            // Only the first unfinished action of each deployment (of each sink): the later ones
            // wait for it (`due`), so their own times would wake the lane for nothing.
            let mut first = std::collections::HashSet::new();
            let mut next = None;
            for item in query_all(&client, &table, &open_pk(lane), None).await? {
                let o = outbox_item(&item)?;
                if matches!(o.status, Status::Pending | Status::Attempting)
                    && first.insert(o.action.sequence_key().into_owned())
                {
                    next = Some(next.map_or(o.next_attempt_ms, |n: i64| n.min(o.next_attempt_ms)));
                }
            }
            Ok(next)
        })
    }

    fn mark_retry(&mut self, id: i64, status: Status, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        self.update_action(
            "mark_retry",
            id,
            "#status = :status, next_attempt_ms = :next, #result = :result, attempts = attempts + :one, lease_until = :zero",
            "attribute_exists(pk)",
            vec![(":status", s(status.as_str())), (":next", n(next_attempt_ms)), (":result", s(error)), (":zero", n(0))],
        )
    }

    fn defer(&mut self, id: i64, next_attempt_ms: i64) -> Result<(), StoreError> {
        self.update_action(
            "defer",
            id,
            "next_attempt_ms = :next",
            "attribute_exists(pk)",
            vec![(":next", n(next_attempt_ms))],
        )
    }

    fn finish(&mut self, id: i64, status: Status, result: &str) -> Result<(), StoreError> {
        let lane = lane_of(id).ok_or_else(|| corrupt("finish", format!("outbox id {id} names no lane")))?;
        let (client, table) = (self.client.clone(), self.table.clone());
        let result = result.to_owned();
        block("finish", async move {
            let open_key = key(&open_pk(lane), &pad(id));
            let Some(mut item) = get(&client, &table, open_key.clone(), "finish").await? else {
                return Err(StoreError::Conflict { operation: "finish" });
            };
            let version = get_n(&item, "version").unwrap_or(0);
            item.insert("pk".into(), s(closed_pk(lane)));
            item.insert("status".into(), s(status.as_str()));
            item.insert("result".into(), s(result));
            item.insert("finished_ms".into(), n(wall_ms()));
            item.insert("expires_at".into(), n(wall_ms() / 1000 + CLOSED_TTL_SECS));
            item.insert("version".into(), n(version + 1));
            let delete = Delete::builder()
                .table_name(&table)
                .set_key(Some(open_key))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(version))
                .build()
                .map_err(|e| corrupt("finish", e.to_string()))?;
            let count = Update::builder()
                .table_name(&table)
                .set_key(Some(key("counts", lane.as_str())))
                .update_expression("ADD #status :one")
                .expression_attribute_names("#status", status.as_str())
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(|e| corrupt("finish", e.to_string()))?;
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(put(&table, item)?)
                .transact_items(TransactWriteItem::builder().update(count).build())
                .send()
                .await
                .map_err(remote("finish"))?;
            Ok(())
        })
    }
}

impl Claim for DynamoStore {
    fn mark_attempting(&mut self, id: i64) -> Result<(), StoreError> {
        let now = wall_ms();
        let mut values = vec![
            (":status", s(Status::Attempting.as_str())),
            (":now", n(now)),
            (":owner", s(self.owner.clone())),
            (":until", n(now + self.lease_ms)),
        ];
        let set =
            "#status = :status, attempts = attempts + :one, started_ms = :now, #owner = :owner, lease_until = :until";
        match self.seen.remove(&id) {
            Some(version) => {
                values.push((":seen", n(version)));
                self.update_action("mark_attempting", id, set, "attribute_exists(pk) AND version = :seen", values)
            }
            None => self.update_action("mark_attempting", id, set, "attribute_exists(pk)", values),
        }
    }
}

impl SlackMessages for DynamoStore {
    fn slack_message(&mut self, deployment_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let dep = deployment_id.to_owned();
        block("slack_message", async move {
            let item = get(&client, &table, key("slack", &dep), "slack_message").await?;
            Ok(item.and_then(|i| Some((get_s(&i, "channel")?.to_owned(), get_s(&i, "ts")?.to_owned()))))
        })
    }

    fn set_slack_message(&mut self, deployment_id: &str, channel: &str, ts: &str) -> Result<(), StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let mut item = key("slack", deployment_id);
        item.insert("channel".into(), s(channel));
        item.insert("ts".into(), s(ts));
        block("set_slack_message", async move {
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(remote("set_slack_message"))?;
            Ok(())
        })
    }
}

impl SinkRefs for DynamoStore {
    fn sink_ref(&mut self, key_: &str) -> Result<Option<String>, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let k = key_.to_owned();
        block("sink_ref", async move {
            let item = get(&client, &table, key("sink", &k), "sink_ref").await?;
            Ok(item.and_then(|i| get_s(&i, "value").map(str::to_owned)))
        })
    }

    fn set_sink_ref(&mut self, key_: &str, value: &str) -> Result<(), StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let mut item = key("sink", key_);
        item.insert("value".into(), s(value));
        block("set_sink_ref", async move {
            client.put_item().table_name(&table).set_item(Some(item)).send().await.map_err(remote("set_sink_ref"))?;
            Ok(())
        })
    }
}

impl Health for DynamoStore {
    fn outbox_counts(&mut self) -> Result<Vec<(Lane, Status, u64)>, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        block("counts", async move {
            let mut counts: Vec<(Lane, Status, u64)> = Vec::new();
            let mut add = |lane: Lane, status: Status, by: u64| match counts
                .iter_mut()
                .find(|(l, s, _)| *l == lane && *s == status)
            {
                Some(c) => c.2 += by,
                None => counts.push((lane, status, by)),
            };
            for lane in LANES {
                // Unfinished: the open partition, as long as the backlog.
                for item in query_all(&client, &table, &open_pk(lane), None).await? {
                    if let Some(status) = get_s(&item, "status").and_then(Status::parse) {
                        add(lane, status, 1);
                    }
                }
                // Finished: the lane's counts item, kept by `finish`.
                let Some(item) = get(&client, &table, key("counts", lane.as_str()), "counts").await? else { continue };
                for status in [Status::Done, Status::Failed, Status::Superseded] {
                    if let Some(n) =
                        get_n(&item, status.as_str()).and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0)
                    {
                        add(lane, status, n);
                    }
                }
            }
            Ok(counts)
        })
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        block("ping", async move {
            client
                .get_item()
                .table_name(&table)
                .set_key(Some(key("head", "head")))
                .send()
                .await
                .map_err(remote("ping"))?;
            Ok(())
        })
    }
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| corrupt("commit", e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_lane_and_ids_sort_as_keys() {
        for lane in LANES {
            for counter in [1, 7, 1_000_000] {
                assert_eq!(lane_of(counter * 4 + lane_bits(lane)), Some(lane));
            }
        }
        // Every value of the two bits names a lane: ids made before the sink lane keep theirs.
        assert_eq!(lane_of(8), Some(Lane::Sinks));
        assert_eq!(lane_of(4 * 5 + 3), Some(Lane::EventBridge));
        assert_eq!(lane_of(4 * 5 + lane_bits(Lane::Controls)), Some(Lane::Controls));
        assert!(pad(4 * 5 + CONTROLS_BIT) < pad(4 * 6 + CONTROLS_BIT), "controls ids sort in decision order");
        assert!(pad(9) < pad(10) && pad(99) < pad(1_000));
    }

    #[test]
    fn a_commit_too_large_for_one_transaction_is_refused_before_any_write() {
        let config = aws_sdk_dynamodb::Config::builder().behavior_version_latest().build();
        let mut store = DynamoStore::new(Client::from_conf(config), "t");
        let entries: Vec<(Timestamp, String)> = (0..100).map(|i| (Timestamp(i), "x".to_owned())).collect();
        let e = store.commit(&entries, &[]).unwrap_err();
        assert!(e.to_string().contains("exceed one transaction"), "{e}");
        // So the driver does not gather a backlog's batches into one: one receive at a time.
        assert_eq!(store.gather_max(), 10);
    }
}
