//! The inbound parser on arbitrary bytes: it must return a message or a reason, never panic,
//! overflow the stack or take time out of proportion to the input. A rejection's reason is
//! never empty and has a kind for metrics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    match cutover_events::parse_body(body) {
        Ok(message) => {
            // What the intake does next with a parsed message must not panic either.
            let _ = message.origin();
        }
        Err(rejected) => {
            assert!(!rejected.0.is_empty(), "a rejection says why");
            let _ = rejected.kind();
        }
    }
});
