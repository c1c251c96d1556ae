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
