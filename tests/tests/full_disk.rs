//! The store on a full disk: a small tmpfs (DESIGN.md: root ignores read-only permissions, so
//! "full" is the honest fault) filled up with a filler file. A commit fails with a clear
//! error, nothing committed is damaged, and once space returns the store and the service go
//! on where they stopped, losing and repeating nothing. Mounting needs root (CI runs as root).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{Moto, Service, Slack, Stack, eventually, expected_lifecycle, scenario_lines, temp_dir, write_config};
use cutover::store::conformance::invalidation;
use cutover::store::sqlite::SqliteStore;
use cutover::store::{Journal as _, Lane, Outbox as _};
use cutover_events::Timestamp;

/// A tmpfs of `size_kib`, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(name: &str, size_kib: u32) -> Self {
        let path = temp_dir(name).join("mnt");
        std::fs::create_dir_all(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs", &path.display().to_string()])
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { path }
    }

    /// Writes a filler file until the disk is full; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        // Bounded: the tmpfs is a few MiB.
        for _ in 0..100_000 {
            if f.write_all(&chunk).and_then(|()| f.sync_all()).is_err() {
                return filler;
            }
        }
        panic!("the tmpfs never filled up");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.path).status();
    }
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap()
}

#[test]
fn a_full_disk_fails_the_commit_clearly_keeps_what_was_committed_and_recovers() {
    let disk = Tmpfs::mount("full-disk-store", 2048);
    let db = disk.path.join("state.db");
    let mut store = SqliteStore::open(&db).unwrap();
    let body = "x".repeat(2000);
    let mut committed = 0;
    let error = loop {
        // Bounded: 2 MiB fills long before 10,000 entries of 2 KB.
        assert!(committed < 10_000, "the disk never filled");
        let dep = format!("d-{committed}");
        match store.commit(&[(Timestamp(committed), body.clone())], &[invalidation(&dep).into()]) {
            Ok(_) => committed += 1,
            Err(e) => break e,
        }
        if committed == 5 {
            disk.fill();
        }
    };
    let text = format!("{error}");
    assert!(text.contains("store commit failed") && text.contains("full"), "a clear error: {text}");
    assert!(committed >= 5, "{committed}");

    // Nothing committed is lost or damaged, and the failed commit left nothing half-done.
    assert_eq!(store.recover().unwrap().journal.len() as i64, committed);
    assert_eq!(store.due(Lane::CloudFront, i64::MAX, 100_000).unwrap().len() as i64, committed);
    drop(store);
    assert_eq!(integrity(&db), "ok");

    // Space returns: the same file takes commits again.
    std::fs::remove_file(disk.path.join("filler")).unwrap();
    let mut store = SqliteStore::open(&db).unwrap();
    store.commit(&[(Timestamp(-1), "after".into())], &[invalidation("d-after").into()]).unwrap();
    let journal = store.recover().unwrap().journal;
    assert_eq!(journal.len() as i64, committed + 1);
    assert_eq!(journal.last().unwrap().body, "after");
    drop(store);
    assert_eq!(integrity(&db), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_a_full_disk_stops_with_a_clear_error_and_after_space_returns_loses_and_repeats_nothing() {
    let moto = Moto::start().await;
    let stack = Stack::create(&moto).await;
    let slack = Slack::start().await;
    let dir = temp_dir("full-disk-serve");
    let disk = Tmpfs::mount("full-disk-serve-mnt", 4096);
    let config = write_config(&dir, &moto, &stack, &slack, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let db = disk.path.join("state.db");
    let text = text
        .lines()
        .map(|l| if l.starts_with("path = ") { format!("path = \"{}\"", db.display()) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();

    // The first half of the scenario goes in while there is space.
    let lines = scenario_lines("rolling");
    let (first, second) = lines.split_at(lines.len() / 2);
    let mut service = Service::start(&config, &dir.join("cutover-1.log"));
    for line in first {
        stack.inject(line).await;
    }
    let mut seen: Vec<String> = Vec::new();
    let started = eventually(30, async || {
        seen.extend(stack.emitted_steps().await.into_iter().map(|(_, t)| t));
        seen.iter().any(|t| t == "Deployment Started")
    })
    .await;
    assert!(started, "{}", service.log_text());

    // The disk fills; the rest arrives. The service cannot commit, says why, and exits 1
    // without deleting what it could not commit.
    let filler = disk.fill();
    for line in second {
        stack.inject(line).await;
    }
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), service.child.wait()).await;
    let log = std::fs::read_to_string(dir.join("cutover-1.log")).unwrap();
    let status = status.unwrap_or_else(|_| panic!("serve kept running on a full disk\n{log}")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("cannot commit to the store") && log.contains("full"), "a clear error:\n{log}");
    assert_eq!(integrity(&db), "ok");

    // Space returns; a restart takes the redelivered messages and finishes the deployment.
    std::fs::remove_file(filler).unwrap();
    let service = Service::start(&config, &dir.join("cutover-2.log"));
    let expected = expected_lifecycle("rolling");
    let done = eventually(60, async || {
        seen.extend(stack.emitted_steps().await.into_iter().map(|(_, t)| t));
        seen.len() >= expected.len()
    })
    .await;
    assert!(done, "emitted {seen:?}\n{}", service.log_text());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    seen.extend(stack.emitted_steps().await.into_iter().map(|(_, t)| t));
    let mut want: Vec<String> = expected.iter().map(|(_, t)| t.clone()).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "each lifecycle event exactly once");
    let posts = slack.top_level_posts();
    assert_eq!(posts.values().sum::<usize>(), 1, "one Slack post: {posts:?}");
    assert_eq!(stack.invalidations().await.len(), 1, "one invalidation");
    assert!(service.terminate().await.success());
    slack.stop();
}
