//! The SNS notification envelope, as SQS receives it (`…URL` casing) and as Lambda receives
//! it inside `Records[].Sns` (`…Url` casing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// An SNS notification. Signature fields are optional: the emulator's cannot be verified and
/// some documented samples leave them out.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsEnvelope {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// Absent when the publisher gave none.
    #[serde(default)]
    pub subject: Option<String>,
    /// The payload: for Cutover, a JSON document in a string.
    pub message: String,
    pub timestamp: Timestamp,
    #[serde(default)]
    pub signature_version: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default, rename = "SigningCertURL", alias = "SigningCertUrl")]
    pub signing_cert_url: Option<String>,
    #[serde(default, rename = "UnsubscribeURL", alias = "UnsubscribeUrl")]
    pub unsubscribe_url: Option<String>,
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

/// `{"Type": "String" | "String.Array" | "Number" | "Binary", "Value": "…"}`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    #[serde(rename = "Type")]
    pub kind: String,
    pub value: String,
}
