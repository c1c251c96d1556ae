//! The webhook: the emitted event as EventBridge would deliver it (`id`, `source`,
//! `detail-type`, `time` (AWS's time of the step), `detail`), POSTed as JSON with
//!
//! - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the signing secret>`
//!   (GitHub's form: receivers verify it the same way, in constant time);
//! - `X-Cutover-Delivery: <delivery id>`: the same on every retry, for the receiver's
//!   idempotency; and `X-Cutover-Event: <detail-type>`.
//!
//! A delivery sent without an answer is sent again: the delivery id lets the receiver drop it.

use cutover_correlator::action::SinkDelivery;
use cutover_events::emitted::SOURCE;
use secrecy::ExposeSecret;

use super::Ctx;
use super::http::Call;
use crate::executors::Outcome;

/// The body: the event's JSON.
pub fn body(d: &SinkDelivery) -> Vec<u8> {
    serde_json::json!({
        "id": d.delivery_id,
        "source": SOURCE,
        "detail-type": d.detail_type.as_str(),
        "time": d.detail.at,
        "detail": d.detail,
    })
    .to_string()
    .into_bytes()
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

pub(super) async fn deliver(ctx: &mut Ctx<'_>, d: &SinkDelivery) -> Outcome {
    let secret = match ctx.credential().await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = ctx.claim() {
        return outcome;
    }
    let body = body(d);
    let call = Call {
        method: http::Method::POST,
        url: ctx.sink.config.base_url(),
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("x-hub-signature-256", signature(secret.expose_secret().as_bytes(), &body)),
            ("x-cutover-delivery", d.delivery_id.clone()),
            ("x-cutover-event", d.detail_type.as_str().to_owned()),
        ],
        body: Some(body),
    };
    match ctx.send(call, "webhook POST", true).await {
        Ok(reply) => Outcome::Done(format!("HTTP {}", reply.status)),
        Err(outcome) => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_githubs_form() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload
        // "Hello, World!".
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
