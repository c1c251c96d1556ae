//! The embedded store: one SQLite file in WAL mode, one writer at a time (a busy timeout lets
//! the intake and the executors, each with its own connection, take turns).

use std::path::Path;
use std::time::Duration;

use cutover_correlator::Action;
use cutover_events::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Claim, Health, Journal, JournalEntry, Lane, NewAction, Outbox, OutboxItem, Recovery, SinkRefs, SlackMessages,
    Status, StoreError,
};

/// A connection to the store file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    now_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lane TEXT NOT NULL,
    -- What orders the lane: the deployment (a sink's action: sink and deployment).
    deployment_id TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    -- Wall-clock ms: when the decision was committed, last sent (just before the call), and finished.
    created_ms INTEGER,
    started_ms INTEGER,
    finished_ms INTEGER,
    -- W3C traceparent of the message that decided the action.
    traceparent TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (lane, status, id);
-- A deployment's unfinished actions: `due` and `next_due` look for an earlier one per action.
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (lane, deployment_id, id) WHERE status IN ('pending', 'attempting');
CREATE TABLE IF NOT EXISTS slack_messages (
    deployment_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sink_refs (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// The one writer's hold on a store file (DESIGN.md, "One writer per SQLite store"): an
/// exclusive lock on `<file>.lock`, which names the holder's pid, kept for the life of `serve`.
/// SQLite's own locks serialise transactions, not processes: two `serve` on one file would
/// both decide and both act.
#[derive(Debug)]
pub struct WriterLock {
    _file: std::fs::File,
}

/// Why the store file cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the store {path} is in use by another `cutover serve` ({holder}); one process per SQLite file \
         (several replicas share state through [store] backend = \"dynamodb\")"
    )]
    Held { path: String, holder: String },
    #[error("cannot lock the store {path} ({lock})")]
    Io { path: String, lock: String, source: std::io::Error },
}

impl WriterLock {
    /// Takes the lock of the store at `path` at once, or says who holds it.
    pub fn take(path: &Path) -> Result<Self, LockError> {
        use std::io::{Read, Seek, Write};
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = std::path::PathBuf::from(lock_path);
        let io =
            |source| LockError::Io { path: path.display().to_string(), lock: lock_path.display().to_string(), source };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "pid unknown".to_owned(),
                };
                return Err(LockError::Held { path: path.display().to_string(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { _file: file })
    }
}

fn wall_ms() -> i64 {
    crate::clock::now_ms()
}

fn err(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |cause| StoreError::Sqlite { operation, cause }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(err("open"))?;
        Self::init(conn)
    }

    /// Takes the one writer's lock of the store at `path` ([`WriterLock`]).
    pub fn lock(path: &Path) -> Result<WriterLock, LockError> {
        WriterLock::take(path)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(err("open"))?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10)).map_err(err("busy_timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err("journal_mode"))?;
        // FULL: a commit survives a power cut, not only a crash of the process.
        conn.pragma_update(None, "synchronous", "FULL").map_err(err("synchronous"))?;
        conn.execute_batch(SCHEMA).map_err(err("schema"))?;
        // Stores made before the outbox kept traces get the column.
        let has_trace: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'traceparent'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(err("schema"))?
            > 0;
        if !has_trace {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN traceparent TEXT").map_err(err("schema"))?;
        }
        Ok(Self { conn })
    }
}

impl SqliteStore {
    /// The journal entries after `seq`, in order.
    fn journal_after(&self, seq: i64, operation: &'static str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, now_ms, body FROM journal WHERE seq > ?1 ORDER BY seq")
            .map_err(err(operation))?;
        stmt.query_map([seq], |r| Ok(JournalEntry { seq: r.get(0)?, now: Timestamp(r.get(1)?), body: r.get(2)? }))
            .map_err(err(operation))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err(operation))
    }
}

fn row_item(
    id: i64,
    action: &str,
    status: &str,
    attempts: i64,
    next: i64,
    traceparent: Option<String>,
) -> Result<OutboxItem, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { operation: "due", detail };
    Ok(OutboxItem {
        id,
        action: serde_json::from_str::<Action>(action).map_err(|e| corrupt(format!("outbox {id}: {e}")))?,
        traceparent,
        status: Status::parse(status).ok_or_else(|| corrupt(format!("outbox {id}: status {status}")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_ms: next,
    })
}

impl Journal for SqliteStore {
    /// An SQLite transaction has no item limit: a backlog's batches go in one.
    fn gather_max(&self) -> usize {
        super::GATHER_MAX
    }

    fn recover(&mut self) -> Result<Recovery, StoreError> {
        let snapshot: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, state FROM snapshot WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(err("recover"))?;
        let journal = self.journal_after(snapshot.as_ref().map_or(0, |(seq, _)| *seq), "recover")?;
        Ok(Recovery { snapshot, journal })
    }

    fn commit(&mut self, entries: &[(Timestamp, String)], actions: &[NewAction]) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction().map_err(err("commit"))?;
        let mut seqs = Vec::with_capacity(entries.len());
        {
            let mut journal =
                tx.prepare_cached("INSERT INTO journal (now_ms, body) VALUES (?1, ?2)").map_err(err("commit"))?;
            for (now, body) in entries {
                journal.execute(params![now.millis(), body]).map_err(err("commit"))?;
                seqs.push(tx.last_insert_rowid());
            }
            let mut outbox = tx
                .prepare_cached(
                    "INSERT INTO outbox (lane, deployment_id, action, created_ms, traceparent)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err("commit"))?;
            for NewAction { action, traceparent } in actions {
                let json = serde_json::to_string(action)
                    .map_err(|e| StoreError::Corrupt { operation: "commit", detail: e.to_string() })?;
                outbox
                    .execute(params![Lane::of(action).as_str(), action.sequence_key(), json, wall_ms(), traceparent])
                    .map_err(err("commit"))?;
            }
        }
        tx.commit().map_err(err("commit"))?;
        Ok(seqs)
    }

    fn journal_since(&mut self, seq: i64) -> Result<Option<Vec<JournalEntry>>, StoreError> {
        let snapshot: Option<i64> = self
            .conn
            .query_row("SELECT seq FROM snapshot WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(err("journal_since"))?;
        if snapshot.is_some_and(|s| s > seq) {
            return Ok(None);
        }
        self.journal_after(seq, "journal_since").map(Some)
    }

    fn snapshot(&mut self, seq: i64, state: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(err("snapshot"))?;
        tx.execute(
            "INSERT INTO snapshot (id, seq, state) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, state = excluded.state",
            params![seq, state],
        )
        .map_err(err("snapshot"))?;
        tx.execute("DELETE FROM journal WHERE seq <= ?1", [seq]).map_err(err("snapshot"))?;
        tx.commit().map_err(err("snapshot"))
    }
}

impl Outbox for SqliteStore {
    fn due(&mut self, lane: Lane, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, action, status, attempts, next_attempt_ms, traceparent FROM outbox o
                 WHERE lane = ?1 AND status IN ('pending', 'attempting') AND next_attempt_ms <= ?2
                   AND NOT EXISTS (
                     SELECT 1 FROM outbox e
                     WHERE e.lane = o.lane AND e.deployment_id = o.deployment_id AND e.id < o.id
                       AND e.status IN ('pending', 'attempting') AND e.next_attempt_ms > ?2)
                 ORDER BY id LIMIT ?3",
            )
            .map_err(err("due"))?;
        let rows = stmt
            .query_map(params![lane.as_str(), now_ms, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(err("due"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err("due"))?;
        rows.into_iter().map(|(id, a, s, n, next, trace)| row_item(id, &a, &s, n, next, trace)).collect()
    }

    fn next_due(&mut self, lane: Lane) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                // Only the first unfinished action of each deployment: the later ones wait for it
                // (`due`), so their own times would wake the lane for nothing.
                "SELECT MIN(next_attempt_ms) FROM outbox o
                 WHERE lane = ?1 AND status IN ('pending', 'attempting')
                   AND NOT EXISTS (
                     SELECT 1 FROM outbox e
                     WHERE e.lane = o.lane AND e.deployment_id = o.deployment_id AND e.id < o.id
                       AND e.status IN ('pending', 'attempting'))",
                [lane.as_str()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(err("next_due"))
    }

    fn mark_retry(&mut self, id: i64, status: Status, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET status = ?2, next_attempt_ms = ?3, result = ?4, attempts = attempts + 1 WHERE id = ?1",
                params![id, status.as_str(), next_attempt_ms, error],
            )
            .map(drop)
            .map_err(err("mark_retry"))
    }

    fn defer(&mut self, id: i64, next_attempt_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET next_attempt_ms = ?2 WHERE id = ?1 AND status IN ('pending', 'attempting')",
                params![id, next_attempt_ms],
            )
            .map(drop)
            .map_err(err("defer"))
    }

    fn finish(&mut self, id: i64, status: Status, result: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET status = ?2, result = ?3, finished_ms = ?4 WHERE id = ?1",
                params![id, status.as_str(), result, wall_ms()],
            )
            .map(drop)
            .map_err(err("finish"))
    }
}

impl Claim for SqliteStore {
    fn mark_attempting(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET status = 'attempting', attempts = attempts + 1, started_ms = ?2 WHERE id = ?1",
                params![id, wall_ms()],
            )
            .map(drop)
            .map_err(err("mark_attempting"))
    }
}

impl SlackMessages for SqliteStore {
    fn slack_message(&mut self, deployment_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row("SELECT channel, ts FROM slack_messages WHERE deployment_id = ?1", [deployment_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(err("slack_message"))
    }

    fn set_slack_message(&mut self, deployment_id: &str, channel: &str, ts: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO slack_messages (deployment_id, channel, ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (deployment_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
                params![deployment_id, channel, ts],
            )
            .map(drop)
            .map_err(err("set_slack_message"))
    }
}

impl SinkRefs for SqliteStore {
    fn sink_ref(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM sink_refs WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(err("sink_ref"))
    }

    fn set_sink_ref(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO sink_refs (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(err("set_sink_ref"))
    }
}

impl Health for SqliteStore {
    fn outbox_counts(&mut self) -> Result<Vec<(Lane, Status, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT lane, status, COUNT(*) FROM outbox GROUP BY lane, status")
            .map_err(err("counts"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .map_err(err("counts"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err("counts"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(lane, status, n)| {
                let lane = Lane::parse(&lane)?;
                Some((lane, Status::parse(&status)?, u64::try_from(n).unwrap_or(0)))
            })
            .collect())
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(())).map_err(err("ping"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::invalidation;

    #[test]
    fn sqlite_passes_the_store_conformance_suite() {
        crate::store::conformance::run(&mut SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn state_survives_reopening_the_file() {
        let dir = std::env::temp_dir().join(format!("cutover-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.commit(&[(Timestamp(7), "x".into())], &[invalidation("d").into()]).unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.recover().unwrap().journal[0].body, "x");
        assert_eq!(s.due(Lane::CloudFront, 0, 1).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
