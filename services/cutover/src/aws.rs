//! AWS SDK configuration shared by every client: region, endpoint override (the local
//! emulator), retries, and a rustls (ring) HTTP client, so no aws-lc build is needed.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_types::origin::Origin;

use crate::config::AwsConfig;

/// Loads the SDK configuration: the usual credential chain, and the endpoint each client uses.
///
/// Endpoints, first found wins: the service's own variable (`AWS_ENDPOINT_URL_<SERVICE>`, e.g.
/// `AWS_ENDPOINT_URL_CODEPIPELINE`), `AWS_ENDPOINT_URL`, the profile's, then `[aws]
/// endpoint_url` for every client, then AWS's own. Environment variables override the file, as
/// every setting does, so one service can be pointed at its own local server.
pub async fn sdk_config(config: &AwsConfig) -> SdkConfig {
    finish(loader(config).load().await, config)
}

fn loader(config: &AwsConfig) -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.unwrap_or(3).max(1)));
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader
}

fn finish(sdk: SdkConfig, config: &AwsConfig) -> SdkConfig {
    let from_environment = sdk.endpoint_url().is_some();
    let no_region = sdk.region().is_none();
    let mut b = sdk.into_builder();
    if let Some(url) = config.endpoint_url.as_ref().filter(|_| !from_environment) {
        // Set as a profile's `endpoint_url` would be, not as client code: an SDK client then
        // still looks for its service's own variable first (a programmatic endpoint would hide
        // it).
        b.set_endpoint_url(Some(url.clone()));
        b.insert_origin("endpoint_url", Origin::shared_profile_file());
    }
    if no_region {
        // The emulator and a laptop without a profile still need one.
        b.set_region(Some(Region::new("us-east-1")));
    }
    b.build()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_types::os_shim_internal::Env;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A local server that answers every request with a 500 and counts them.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (url, hits)
    }

    /// Which servers a CodePipeline and an SQS call reach, given the environment and the file.
    async fn reached(env: &[(&str, &str)], endpoint_url: Option<&str>) -> SdkConfig {
        let mut vars = vec![("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
        vars.extend_from_slice(env);
        let config =
            AwsConfig { endpoint_url: endpoint_url.map(str::to_owned), max_attempts: Some(1), ..AwsConfig::default() };
        finish(loader(&config).env(Env::from_slice(&vars)).load().await, &config)
    }

    async fn call_both(sdk: &SdkConfig) {
        let _ = aws_sdk_codepipeline::Client::new(sdk).list_pipelines().send().await;
        let _ = aws_sdk_sqs::Client::new(sdk).list_queues().send().await;
    }

    #[tokio::test]
    async fn a_services_own_endpoint_variable_wins_over_the_config_files_endpoint() {
        let (own, own_hits) = server().await;
        let (file, file_hits) = server().await;
        let sdk = reached(&[("AWS_ENDPOINT_URL_CODEPIPELINE", own.as_str())], Some(&file)).await;
        let _ = aws_sdk_codepipeline::Client::new(&sdk).list_pipelines().send().await;
        assert_eq!(
            (own_hits.load(Ordering::SeqCst), file_hits.load(Ordering::SeqCst)),
            (1, 0),
            "CodePipeline goes to its own server"
        );
        let _ = aws_sdk_sqs::Client::new(&sdk).list_queues().send().await;
        assert_eq!(
            (own_hits.load(Ordering::SeqCst), file_hits.load(Ordering::SeqCst)),
            (1, 1),
            "every other client keeps [aws] endpoint_url"
        );
    }

    #[tokio::test]
    async fn the_config_files_endpoint_serves_every_client_and_the_environment_overrides_it() {
        let (file, file_hits) = server().await;
        call_both(&reached(&[], Some(&file)).await).await;
        assert_eq!(file_hits.load(Ordering::SeqCst), 2);
        let (env, env_hits) = server().await;
        call_both(&reached(&[("AWS_ENDPOINT_URL", env.as_str())], Some(&file)).await).await;
        assert_eq!(
            (env_hits.load(Ordering::SeqCst), file_hits.load(Ordering::SeqCst)),
            (2, 2),
            "AWS_ENDPOINT_URL overrides the file"
        );
    }
}
