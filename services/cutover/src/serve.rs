//! `cutover serve`: recover, start the executors and the health endpoints, then run the intake
//! until SIGTERM/SIGINT; on shutdown stop receiving, finish what is in flight, snapshot, let
//! the executors drain for the grace period, and return.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, StoreBackend};
use crate::driver::{Driver, recover};
use crate::executors::Backoff;
use crate::executors::cloudfront::CloudFrontExecutor;
use crate::executors::eventbridge::EventBridgeExecutor;
use crate::executors::lane;
use crate::executors::slack::SlackExecutor;
use crate::executors::slack::token::TokenSource;
use crate::intake::{self, IntakeCounters};
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::LockError;
use crate::store::sqlite::SqliteStore;
use crate::store::{Lane, Store, StoreError};
use cutover_correlator::routing::Power;

/// Why `cutover serve` could not start, or had to stop. Each says what it was doing; the cause
/// is its source.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting `serve` needs is not set.
    #[error("{0}")]
    Missing(&'static str),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Token(#[from] crate::executors::slack::token::TokenError),
    #[error(transparent)]
    Slack(#[from] crate::executors::slack::SlackSetupError),
    #[error("opening the store {where_}")]
    Open { where_: String, source: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recover(#[from] crate::driver::RecoverError),
    #[error("binding the health endpoints to {address}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Commit(#[from] crate::driver::CommitFailed),
    /// A sink's credential cannot be read, or its HTTP client not made.
    #[error("{0}")]
    Sink(String),
    /// `[slack.actions]` is enabled and its secret cannot be read.
    #[error("[slack.actions]: {0}")]
    Actions(String),
}

/// How `[slack.actions]` takes Slack's requests, when enabled.
struct SlackRequests {
    /// The signed request URLs (`transport = "http"`).
    routes: Option<axum::Router>,
    /// The Socket Mode client (`transport = "socket"`).
    socket: Option<crate::socket::SocketMode>,
    /// The connection's state, for `/readyz` (Socket Mode).
    link: Option<Arc<crate::socket::Link>>,
    /// What the requests ask the driver.
    queries: mpsc::Receiver<crate::interact::Query>,
}

/// What answers Slack's requests when `[slack.actions]` is enabled, over its transport, with
/// that transport's secret (the signing secret, or the app-level token).
async fn slack_requests(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    metrics: &Arc<crate::metrics::Metrics>,
    token: &secrecy::SecretString,
    store: &dyn Fn() -> Result<Box<dyn Store>, StoreError>,
) -> Result<Option<SlackRequests>, ServeError> {
    use crate::config::actions::Transport;
    let actions = &config.slack.actions;
    if !actions.enabled {
        return Ok(None);
    }
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let secret = match actions.transport {
        Transport::Http => crate::secrets::Credential::new(
            "Slack signing secret",
            Some("SLACK_SIGNING_SECRET".to_owned()),
            actions.signing_secret_arn.clone(),
            &secrets,
        )
        .with_keys(&["signing_secret", "SLACK_SIGNING_SECRET"]),
        Transport::Socket => crate::secrets::Credential::new(
            "Slack app-level token",
            Some("SLACK_APP_TOKEN".to_owned()),
            actions.app_token_secret_arn.clone(),
            &secrets,
        )
        .with_keys(&["app_token", "SLACK_APP_TOKEN"]),
    }
    .read()
    .await
    .map_err(ServeError::Actions)?;
    if actions.transport == Transport::Socket && !secrecy::ExposeSecret::expose_secret(&secret).starts_with("xapp-") {
        return Err(ServeError::Actions(
            "the Slack app-level token (SLACK_APP_TOKEN or app_token_secret_arn) is not one: Socket Mode needs an \
             app-level token (xapp-…, with the connections:write scope), not a bot token"
                .to_owned(),
        ));
    }
    let (tx, queries) = mpsc::channel(16);
    let mut named: Vec<String> = config
        .routes
        .iter()
        .flat_map(|r| Power::ALL.into_iter().flat_map(|p| r.granted(p).iter()))
        .filter(|id| id.is_group())
        .map(|id| id.as_str().to_owned())
        .collect();
    named.sort();
    named.dedup();
    // Slack waits 3 s for an answer: each of these calls gets at most a second.
    let quick = Duration::from_secs_f64(config.slack.timeout_secs.clamp(0.1, 1.0));
    let groups = crate::slack_web::UserGroups::new(
        &config.slack.api_url,
        token,
        named,
        Duration::from_secs_f64(actions.usergroup_cache_secs),
        quick,
    )?;
    let interact = crate::interact::Interact {
        metrics: metrics.clone(),
        queries: tx,
        groups: Arc::new(groups),
        messages: Arc::new(crate::interact::Messages(Mutex::new(store()?))),
        replies: Arc::new(crate::slack_web::SlackWeb::new(
            &config.slack.api_url,
            token,
            Duration::from_secs_f64(config.slack.timeout_secs.max(0.1)),
        )?),
    };
    Ok(Some(match actions.transport {
        Transport::Http => {
            tracing::info!(
                message = "Slack requests accepted.",
                commands = %actions.commands_path(),
                interactions = %actions.interactions_path()
            );
            let verifier = crate::interact::Verifier::new(&secret);
            SlackRequests {
                routes: Some(crate::interact::router(actions, interact, verifier)),
                socket: None,
                link: None,
                queries,
            }
        }
        Transport::Socket => {
            tracing::info!(message = "Slack requests accepted over Socket Mode.");
            let link = Arc::new(crate::socket::Link::default());
            let socket = crate::socket::SocketMode::new(&config.slack.api_url, &secret, interact, link.clone())?;
            SlackRequests { routes: None, socket: Some(socket), link: Some(link), queries }
        }
    }))
}

/// Opens a connection to the configured store (one per lane, the intake and the health
/// checks), and says where it is.
type Opener = Box<dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync>;

fn store_opener(config: &Config, dynamodb: aws_sdk_dynamodb::Client) -> Result<(Opener, String), ServeError> {
    match config.store.backend {
        StoreBackend::Sqlite => {
            let path = config.store.path.clone();
            let where_ = path.display().to_string();
            Ok((Box::new(move || SqliteStore::open(&path).map(|s| Box::new(s) as Box<dyn Store>)), where_))
        }
        StoreBackend::Dynamodb => {
            let table = config
                .store
                .table
                .clone()
                .ok_or(ServeError::Missing("[store] table is required with backend = \"dynamodb\""))?;
            let lease = Duration::from_secs_f64(config.store.lease_secs.clamp(1.0, 3600.0));
            let where_ = format!("DynamoDB table {table}");
            Ok((
                Box::new(move || {
                    Ok(Box::new(DynamoStore::new(dynamodb.clone(), table.clone()).with_lease(lease)) as Box<dyn Store>)
                }),
                where_,
            ))
        }
    }
}

/// The EventBridge executor, with its receipts queue when one is configured.
fn eventbridge_executor(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    sqs: &aws_sdk_sqs::Client,
) -> EventBridgeExecutor {
    let executor = EventBridgeExecutor::new(aws_sdk_eventbridge::Client::new(sdk), config.eventbridge.bus_name.clone());
    match &config.eventbridge.receipts_queue_url {
        Some(url) => executor.with_receipts(
            sqs.clone(),
            url.clone(),
            Duration::from_secs_f64(config.eventbridge.receipt_wait_secs.clamp(0.0, 300.0)),
        ),
        None => executor,
    }
}

/// CodeDeploy, at `[reconciler] codedeploy_endpoint_url` when set.
fn codedeploy_client(config: &Config, sdk: &aws_config::SdkConfig) -> aws_sdk_codedeploy::Client {
    let mut codedeploy = aws_sdk_codedeploy::config::Builder::from(sdk);
    if let Some(url) = &config.reconciler.codedeploy_endpoint_url {
        codedeploy = codedeploy.endpoint_url(url);
    }
    aws_sdk_codedeploy::Client::from_conf(codedeploy.build())
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), ServeError> {
    let queue_url =
        config.sqs.queue_url.clone().ok_or(ServeError::Missing("[sqs] queue_url is required by `cutover serve`"))?;
    // One writer per SQLite file, for the whole life of the process.
    let _writer = match config.store.backend {
        StoreBackend::Sqlite => Some(SqliteStore::lock(&config.store.path)?),
        StoreBackend::Dynamodb => None,
    };
    let sdk = crate::aws::sdk_config(&config.aws).await;
    let tokens = TokenSource::new(aws_sdk_secretsmanager::Client::new(&sdk), config.slack.token_secret_arn.clone());
    let token = tokens.read().await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let (open, where_) = store_opener(&config, dynamodb)?;
    let mut store = open().map_err(|source| ServeError::Open { where_: where_.clone(), source })?;
    let (correlator, last_seq, replayed) = recover(store.as_mut(), &config)?;
    tracing::info!(message = "Recovered.", deployments = correlator.deployments_held(), journal_replayed = replayed, store = %where_);

    let metrics = Arc::new(crate::metrics::Metrics::default());
    let slack = SlackExecutor::new(
        &config.slack.api_url,
        &token,
        config.slack.messages_per_second,
        Duration::from_secs_f64(config.slack.timeout_secs.max(0.1)),
    )?
    .with_limits(crate::executors::slack::pacing::Limits {
        messages_per_second: config.slack.messages_per_second,
        updates_per_minute: config.slack.updates_per_minute,
        burst: config.slack.burst,
    })
    .with_token_source(tokens)
    .with_metrics(metrics.clone());
    if let Err(error) = slack.check().await {
        tracing::warn!(message = "Slack auth.test failed; posts will be retried.", %error);
    }
    // Always a lane, with no sinks too: actions of a sink removed from the config end there
    // (failed, logged) rather than waiting for ever.
    let mut sinks = crate::executors::sinks::SinksExecutor::new(
        &config.sinks,
        &aws_sdk_secretsmanager::Client::new(&sdk),
        metrics.clone(),
        slack.workspace(),
    )
    .map_err(|e| ServeError::Sink(e.to_string()))?;
    sinks.check().await.map_err(ServeError::Sink)?;
    let backoff = Backoff { initial_ms: config.executors.backoff_initial_ms, max_ms: config.executors.backoff_max_ms };
    let grace = Duration::from_secs(config.executors.shutdown_grace_secs);
    let lanes_stop = CancellationToken::new();
    // The grace is a hard bound from the signal (ECS kills 30 s after SIGTERM): at its end the
    // lanes stop, even mid-call, and what is left runs at the next start.
    let hard_stop = CancellationToken::new();
    tokio::spawn({
        let (signal, hard_stop) = (shutdown.clone(), hard_stop.clone());
        async move {
            signal.cancelled().await;
            tokio::time::sleep(grace).await;
            hard_stop.cancel();
        }
    });
    let tracker = TaskTracker::new();
    let wake: Vec<(Lane, Arc<Notify>)> = Lane::ALL.into_iter().map(|l| (l, Arc::new(Notify::new()))).collect();
    let notify = |lane: Lane| wake.iter().find(|(l, _)| *l == lane).map(|(_, n)| n.clone()).unwrap_or_default();
    tracker.spawn(lane::run(
        slack,
        open()?,
        notify(Lane::Slack),
        lanes_stop.clone(),
        hard_stop.clone(),
        backoff,
        metrics.clone(),
    ));
    tracker.spawn(lane::run(
        CloudFrontExecutor::new(aws_sdk_cloudfront::Client::new(&sdk)),
        open()?,
        notify(Lane::CloudFront),
        lanes_stop.clone(),
        hard_stop.clone(),
        backoff,
        metrics.clone(),
    ));
    tracker.spawn(lane::run(
        eventbridge_executor(&config, &sdk, &sqs),
        open()?,
        notify(Lane::EventBridge),
        lanes_stop.clone(),
        hard_stop.clone(),
        backoff,
        metrics.clone(),
    ));
    tracker.spawn(lane::run(
        sinks,
        open()?,
        notify(Lane::Sinks),
        lanes_stop.clone(),
        hard_stop.clone(),
        backoff,
        metrics.clone(),
    ));

    if config.slack.actions.enabled {
        tracker.spawn(lane::run(
            crate::executors::controls::ControlsExecutor::new(
                aws_sdk_ecs::Client::new(&sdk),
                codedeploy_client(&config, &sdk),
                aws_sdk_codepipeline::Client::new(&sdk),
            ),
            open()?,
            notify(Lane::Controls),
            lanes_stop.clone(),
            hard_stop.clone(),
            backoff,
            metrics.clone(),
        ));
    }

    let requests = slack_requests(&config, &sdk, &metrics, &token, &open).await?;
    let counters = Arc::new(IntakeCounters::default());
    let bind = |source| ServeError::Bind { address: config.http.listen.clone(), source };
    let listener = tokio::net::TcpListener::bind(&config.http.listen).await.map_err(bind)?;
    tracing::info!(message = "Health endpoints listening.", address = %listener.local_addr().map_err(bind)?);
    let checks: Arc<Mutex<Box<dyn crate::store::Health>>> = Arc::new(Mutex::new(open()?));
    crate::metrics::observe(&counters, &metrics, checks.clone());
    let health = crate::http::Health {
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
        store: checks,
        counters: counters.clone(),
        metrics: metrics.clone(),
        socket: requests.as_ref().and_then(|r| r.link.clone()),
    };
    let http_stop = CancellationToken::new();
    let http_stopped = http_stop.clone();
    let mut routes = crate::http::router(health);
    let mut queries = None;
    let mut socket = None;
    if let Some(r) = requests {
        if let Some(slack) = r.routes {
            routes = routes.merge(slack);
        }
        if let Some(client) = r.socket {
            // Stops with the intake: a request after that could not be decided.
            socket = Some(tokio::spawn(client.run(shutdown.clone())));
        }
        queries = Some(r.queries);
    }
    let http = tokio::spawn(async move {
        axum::serve(listener, routes).with_graceful_shutdown(http_stopped.cancelled_owned()).await
    });

    let (tx, rx) = mpsc::channel(config.sqs.buffer_batches.max(1));
    let pollers = TaskTracker::new();
    for _ in 0..config.sqs.pollers.max(1) {
        pollers.spawn(intake::poll(
            sqs.clone(),
            queue_url.clone(),
            config.sqs.clone(),
            tx.clone(),
            shutdown.clone(),
            counters.clone(),
        ));
    }
    drop(tx);
    pollers.close();
    // The rolling deployments in flight as recovered: the reconciler's first round reads
    // their rollout state.
    let rolling_at_start = correlator.rolling_in_flight();
    let queue = intake::Queue { sqs: sqs.clone(), url: queue_url.clone(), cfg: config.sqs.clone() };
    let driver = Driver::new(correlator, store, queue)
        .with_wake(wake.clone())
        .with_counters(counters, metrics)
        .with_config(&config)
        .recovered_at(last_seq, replayed);
    let driver = match queries {
        Some(q) => driver.with_queries(q),
        None => driver,
    };
    let driver = if config.reconciler.enabled {
        let (in_flight_tx, in_flight_rx) = tokio::sync::watch::channel(cutover_correlator::Wanted::default());
        let (observed_tx, observed_rx) = mpsc::channel(64);
        let reconciler =
            crate::reconciler::Reconciler::new(codedeploy_client(&config, &sdk), config.reconciler.calls_per_second)
                .with_ecs(aws_sdk_ecs::Client::new(&sdk))
                .with_cloudfront(aws_sdk_cloudfront::Client::new(&sdk))
                .with_codepipeline(aws_sdk_codepipeline::Client::new(&sdk))
                .with_cloudformation(aws_sdk_cloudformation::Client::new(&sdk))
                .with_start_up(rolling_at_start);
        tokio::spawn(crate::reconciler::run(
            reconciler,
            in_flight_rx,
            observed_tx,
            Duration::from_secs_f64(config.reconciler.interval_secs.max(1.0)),
            shutdown.clone(),
        ));
        driver.with_reconciler(observed_rx, in_flight_tx)
    } else {
        driver
    };
    tracing::info!(message = "Receiving.", pollers = config.sqs.pollers.max(1));
    // Returns once every poller stopped (on shutdown) and the received batches are handled.
    let result = tokio::select! {
        result = driver.run(rx) => result,
        // Past the grace, an intake still finishing is stopped like a crash: what it had not
        // committed is redelivered by SQS, nothing committed is lost.
        () = hard_stop.cancelled() => {
            tracing::warn!(message = "Intake stopped at the end of the shutdown grace; uncommitted messages will be redelivered.");
            Ok(())
        }
    };
    pollers.wait().await;
    tracing::info!(message = "Intake stopped; draining the executors.", grace_secs = grace.as_secs());
    lanes_stop.cancel();
    tracker.close();
    tracker.wait().await;
    http_stop.cancel();
    let _ = http.await;
    if let Some(socket) = socket {
        let _ = socket.await;
    }
    result.map_err(ServeError::from)
}
