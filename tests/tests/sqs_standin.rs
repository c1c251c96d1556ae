//! The SQS stand-in of the `serve` throughput bench answers the calls Cutover's intake makes,
//! through the real AWS SDK for Rust (its JSON protocol), as SQS does.

mod common;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName,
};
use cutover_e2e::sqs_standin::SqsStandin;

#[tokio::test]
async fn the_intakes_calls_receive_hide_extend_delete_and_dead_letter_as_sqs_does() {
    let standin = SqsStandin::start().await;
    let sqs = aws_sdk_sqs::Client::new(&common::sdk(&standin.endpoint()));
    let url = sqs.get_queue_url().queue_name("intake").send().await.unwrap().queue_url.unwrap();
    assert_eq!(url, standin.queue_url("intake"));
    standin.load("intake", (0..12).map(|i| format!("{{\"n\":{i}}}")));

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .visibility_timeout(60)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 10, "at most ten a receive");
    assert_eq!(messages[0].body(), Some("{\"n\":0}"), "in the order sent");
    let attributes = messages[0].attributes().unwrap();
    assert_eq!(attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount).map(String::as_str), Some("1"));
    assert!(attributes.get(&MessageSystemAttributeName::SentTimestamp).unwrap().parse::<u64>().is_ok());
    let counts = standin.counts("intake");
    assert_eq!((counts.visible, counts.in_flight), (2, 10), "received messages are hidden");

    let extend: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap())
                .visibility_timeout(120)
                .build()
                .unwrap()
        })
        .collect();
    let extended =
        sqs.change_message_visibility_batch().queue_url(&url).set_entries(Some(extend)).send().await.unwrap();
    assert_eq!(extended.successful().len(), 10);

    let mut delete: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap()
        })
        .collect();
    delete.push(DeleteMessageBatchRequestEntry::builder().id("stale").receipt_handle("nobody#0").build().unwrap());
    let deleted = sqs.delete_message_batch().queue_url(&url).set_entries(Some(delete)).send().await.unwrap();
    assert_eq!(deleted.successful().len(), 10);
    assert_eq!(deleted.failed().len(), 1, "a receipt not in flight fails alone");
    assert_eq!(deleted.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert_eq!(standin.counts("intake").deleted, 10);

    // A long poll on an empty queue waits for a send.
    let dlq = standin.queue_url("intake-dlq");
    let waiting = {
        let (sqs, dlq) = (sqs.clone(), dlq.clone());
        tokio::spawn(async move {
            sqs.receive_message()
                .queue_url(&dlq)
                .wait_time_seconds(5)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reason =
        MessageAttributeValue::builder().data_type("String").string_value("malformed: not JSON").build().unwrap();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("{")
        .message_attributes("cutover.rejection", reason)
        .send()
        .await
        .unwrap();
    let got = waiting.await.unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some("{"));
    let attributes = m.message_attributes().unwrap();
    assert_eq!(attributes["cutover.rejection"].string_value(), Some("malformed: not JSON"));

    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessages], "2");

    let unknown = sqs.purge_queue().queue_url(&url).send().await;
    assert!(unknown.is_err(), "an operation it does not serve is refused, not pretended");
}
