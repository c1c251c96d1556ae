//! AWS SDK configuration shared by every client: region, endpoint override (the local
//! emulator), retries, and a rustls (ring) HTTP client, so no aws-lc build is needed.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::config::AwsConfig;

/// Loads the SDK configuration. `AWS_ENDPOINT_URL` and the usual credential chain apply;
/// `[aws] endpoint_url` overrides the endpoint of every client.
pub async fn sdk_config(config: &AwsConfig) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.unwrap_or(3).max(1)));
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        // The emulator and a laptop without a profile still need one.
        return sdk.into_builder().region(Region::new("us-east-1")).build();
    }
    sdk
}

/// An SDK error as people read it: the AWS error code and its message, or what kept the call
/// from being answered, in one short line; never the SDK's debug dump with raw HTTP headers
/// (DESIGN.md, "Errors people read").
pub fn describe<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    use aws_sdk_sqs::error::SdkError;
    match error {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("an unnamed error");
            match s.err().message().map(|m| m.trim()).filter(|m| !m.is_empty()) {
                Some(m) => format!("{code}: {}", cutover_correlator::slack::message::shorten(m, 300)),
                None => code.to_owned(),
            }
        }
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "no answer in time (connecting)".to_owned(),
        SdkError::DispatchFailure(d) if d.is_io() => "cannot connect".to_owned(),
        SdkError::DispatchFailure(_) => "the request could not be sent".to_owned(),
        SdkError::ResponseError(_) => "an answer that could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "an unknown SDK error".to_owned(),
    }
}
