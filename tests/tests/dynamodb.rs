//! The DynamoDB store against the emulator (moto_server on 127.0.0.1, through the AWS SDK):
//! the conformance suite SQLite passes, and conditional writes under two concurrent writers.

mod common;

use std::collections::BTreeSet;

use common::Moto;
use cutover::store::dynamodb::DynamoStore;
use cutover::store::{Health as _, Journal as _, Lane, Outbox as _, Status, StoreError, conformance};
use cutover_events::Timestamp;

fn store(moto: &Moto, table: &str) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&common::sdk(&moto.url)), table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_passes_the_store_conformance_suite() {
    let moto = Moto::start().await;
    let mut s = store(&moto, "cutover-state");
    tokio::task::block_in_place(|| {
        s.create_table().unwrap();
        conformance::run(&mut s);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_never_hand_out_one_sequence_number_or_finish_one_action_twice() {
    let moto = Moto::start().await;
    let first = store(&moto, "cutover-race");
    tokio::task::block_in_place(|| first.create_table().unwrap());
    // Two writers commit at once: each commit lands whole or is refused as a conflict.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut s = first.clone();
            std::thread::spawn(move || {
                let mut landed = Vec::new();
                let mut conflicts = 0;
                for i in 0..15 {
                    let body = format!("writer {w} entry {i}");
                    match s.commit(&[(Timestamp(i), body.clone())], &[conformance::invalidation(&body).into()]) {
                        Ok(seqs) => landed.push((seqs[0], body)),
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (landed, conflicts)
            })
        })
        .collect();
    let mut landed = Vec::new();
    let mut conflicts = 0;
    for w in writers {
        let (l, c) = w.join().unwrap();
        landed.extend(l);
        conflicts += c;
    }
    eprintln!("commits landed: {}, refused as conflicts: {conflicts}", landed.len());
    let mut s = first.clone();
    let (journal, due) = tokio::task::block_in_place(|| {
        (s.recover().unwrap().journal, s.due(Lane::CloudFront, i64::MAX, 1_000).unwrap())
    });
    let seqs: BTreeSet<i64> = landed.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs.len(), landed.len(), "a sequence number was handed out twice");
    assert_eq!(journal.len(), landed.len(), "the journal holds exactly the commits that landed");
    for (seq, body) in &landed {
        assert!(journal.iter().any(|e| e.seq == *seq && &e.body == body), "{seq} {body}");
    }
    assert_eq!(due.len(), landed.len(), "each landed commit's action, once");

    // Two writers finish one action: one moves it, the other is told it lost.
    let id = due[0].id;
    let mut other = first.clone();
    tokio::task::block_in_place(|| {
        s.finish(id, Status::Done, "by the first").unwrap();
        assert!(matches!(other.finish(id, Status::Done, "by the second"), Err(StoreError::Conflict { .. })));
        let done = s.outbox_counts().unwrap();
        assert!(done.contains(&(Lane::CloudFront, Status::Done, 1)), "{done:?}");
    });
}

/// A scrape does not read the finished actions (7 days of them on a busy fleet): each lane's
/// counts item is kept by `finish`, in the transaction that closes the action. Deleting every
/// closed item (what the TTL does after 7 days) leaves the counts as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_counts_come_from_counts_items_not_from_the_finished_actions() {
    let moto = Moto::start().await;
    let client = aws_sdk_dynamodb::Client::new(&common::sdk(&moto.url));
    let mut s = store(&moto, "cutover-counts");
    let counts = tokio::task::block_in_place(|| {
        s.create_table().unwrap();
        let actions: Vec<_> = (0..5).map(|i| conformance::invalidation(&format!("d-{i}")).into()).collect();
        s.commit(&[(Timestamp(1), "entry".into())], &actions).unwrap();
        let due = s.due(Lane::CloudFront, i64::MAX, 100).unwrap();
        assert_eq!(due.len(), 5);
        for item in &due[..3] {
            s.finish(item.id, Status::Done, "I1").unwrap();
        }
        s.finish(due[3].id, Status::Failed, "NoSuchDistribution").unwrap();
        s.outbox_counts().unwrap()
    });
    let expected = [
        (Lane::CloudFront, Status::Pending, 1),
        (Lane::CloudFront, Status::Done, 3),
        (Lane::CloudFront, Status::Failed, 1),
    ];
    for e in &expected {
        assert!(counts.contains(e), "{e:?} in {counts:?}");
    }
    // The TTL's work, done at once: every closed item gone.
    let closed = client
        .query()
        .table_name("cutover-counts")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("closed#cloudfront".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(closed.len(), 4, "the finished actions are closed items");
    for item in closed {
        client
            .delete_item()
            .table_name("cutover-counts")
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .send()
            .await
            .unwrap();
    }
    let after = tokio::task::block_in_place(|| s.outbox_counts().unwrap());
    for e in &expected {
        assert!(after.contains(e), "{e:?} still in {after:?} with no closed item left");
    }
}
