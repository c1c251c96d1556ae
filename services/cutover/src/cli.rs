//! The command line. Exit codes: 0 success; 1 a runtime failure (IO); 2 a usage or config
//! error, with a message that names the problem.

use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cutover_correlator::Correlator;

use crate::config::{Config, LogFormat};
use crate::replay;

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "Says the moment production traffic moved to the new version of an ECS service."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed recorded SQS message bodies (one per line) through the correlator, offline, and
    /// print every decided action as one JSON object per line.
    Replay {
        /// Config file (TOML). Without it: channel `deployments`, no routes, no invalidations.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Input file, or `-` (the default) for standard input.
        #[arg(value_name = "FILE|-")]
        input: Option<PathBuf>,
    },
    /// Run the service: read the queue, decide, and carry out the actions (Slack, CloudFront,
    /// EventBridge) until SIGTERM or SIGINT. The Slack token comes from `SLACK_BOT_TOKEN`.
    Serve {
        /// Config file (TOML); `[sqs] queue_url` is required.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Tell Cutover what CI is deploying (commit, branch or tag, who): puts a deploy
    /// annotation on an EventBridge bus, joined to the deployment of that service that runs
    /// that image tag or task definition. What the flags leave out is read from GitHub
    /// Actions' or Bitbucket Pipelines' environment.
    Annotate(Box<AnnotateArgs>),
    /// Validate a config file and say what it routes.
    CheckConfig {
        /// Config file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct AnnotateArgs {
    /// ECS cluster name.
    #[arg(long)]
    cluster: String,
    /// ECS service name.
    #[arg(long)]
    service: String,
    /// The image tag being deployed (this or --task-definition is required).
    #[arg(long, required_unless_present = "task_definition")]
    image_tag: Option<String>,
    /// The task definition ARN (or family:revision) being deployed.
    #[arg(long)]
    task_definition: Option<String>,
    /// Commit SHA [default: GITHUB_SHA, BITBUCKET_COMMIT].
    #[arg(long)]
    commit: Option<String>,
    /// Branch [default: GITHUB_REF_NAME of a branch, BITBUCKET_BRANCH].
    #[arg(long, conflicts_with = "tag")]
    branch: Option<String>,
    /// Tag [default: GITHUB_REF_NAME of a tag, BITBUCKET_TAG].
    #[arg(long)]
    tag: Option<String>,
    /// Who deploys, as CI names them [default: GITHUB_ACTOR].
    #[arg(long)]
    actor: Option<String>,
    /// Slack channel for this deployment's message, instead of its route's.
    #[arg(long)]
    channel: Option<String>,
    /// The repository's web URL [default: from GITHUB_SERVER_URL and GITHUB_REPOSITORY,
    /// BITBUCKET_GIT_HTTP_ORIGIN].
    #[arg(long)]
    repository: Option<String>,
    /// The CI run's web URL [default: from GITHUB_RUN_ID, BITBUCKET_BUILD_NUMBER].
    #[arg(long)]
    run_url: Option<String>,
    /// The EventBridge bus the stacks' annotation rule is on.
    #[arg(long, default_value = "default")]
    bus: String,
    /// Config file: only `[aws]` (region, endpoint) is read.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the PutEvents entry instead of sending it.
    #[arg(long)]
    dry_run: bool,
}

fn annotate_command(args: AnnotateArgs) -> ExitCode {
    let annotation = cutover_events::annotation::DeployAnnotation {
        cluster: args.cluster,
        service: args.service,
        image_tag: args.image_tag,
        task_definition: args.task_definition,
        commit: args.commit,
        branch: args.branch,
        tag: args.tag,
        actor: args.actor,
        channel: args.channel,
        repository: args.repository,
        run_url: args.run_url,
    };
    let annotation = crate::annotate::from_ci_env(annotation, |k| std::env::var(k).ok());
    if let Some(problem) = annotation.problem() {
        return fail(2, format!("annotate: the annotation {problem}"));
    }
    if args.dry_run {
        println!("{}", crate::annotate::entry_json(&args.bus, &annotation));
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let sdk = crate::aws::sdk_config(&config.aws).await;
        crate::annotate::put(&aws_sdk_eventbridge::Client::new(&sdk), &args.bus, &annotation).await
    });
    match result {
        Ok(id) => {
            println!("{id}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("annotate: {e}")),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { config, input } => replay_command(config, input),
        Command::CheckConfig { file } => check_config(&file),
        Command::Annotate(args) => annotate_command(*args),
        Command::Serve { config } => serve_command(&config),
    }
}

fn serve_command(path: &std::path::Path) -> ExitCode {
    let config = match Config::load(Some(path)) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let telemetry = match crate::telemetry::Telemetry::init(&config.telemetry) {
        Ok(t) => t,
        Err(e) => return fail(2, format!("[telemetry]: {:#}", anyhow::Error::from(e))),
    };
    init_logging(config.log.format, &telemetry);
    if let Some(endpoint) = &telemetry.endpoint {
        tracing::info!(message = "Exporting traces and metrics over OTLP.", endpoint = %endpoint);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(message = "Shutting down.");
            signals.cancel();
        });
        crate::serve::run(config, shutdown).await
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Ok(()) => {
            tracing::info!(message = "Stopped.");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("{:#}", anyhow::Error::from(e))),
    }
}

/// Log lines to stderr (text or JSON, filtered by `RUST_LOG`), and Cutover's spans to
/// OpenTelemetry whatever the log level.
fn init_logging(format: LogFormat, telemetry: &crate::telemetry::Telemetry) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .boxed(),
    };
    // Without the worker thread's id and name on every span (a name copied per span; a task
    // moves between threads anyway).
    let spans = tracing_opentelemetry::layer()
        .with_tracer(telemetry.tracer())
        .with_threads(false)
        .with_filter(tracing_subscriber::filter::Targets::new().with_target("cutover", tracing::Level::INFO));
    tracing_subscriber::registry().with(spans).with(log.with_filter(filter)).init();
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("cutover: {message}");
    ExitCode::from(code)
}

fn replay_command(config: Option<PathBuf>, input: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let correlator = Correlator::new(config.routing()).with_retention_ms(config.retention_ms());
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = io::stderr();
    let mut err = io::BufWriter::new(stderr.lock());
    let result = match input.as_deref() {
        None => replay::run_with(correlator, &config.intake, io::stdin().lock(), &mut out, &mut err),
        Some(p) if p.as_os_str() == "-" => {
            replay::run_with(correlator, &config.intake, io::stdin().lock(), &mut out, &mut err)
        }
        Some(p) if p.is_dir() => {
            drop(err);
            return fail(2, format!("cannot read input {}: it is a directory", p.display()));
        }
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => {
                replay::run_with(correlator, &config.intake, BufReader::with_capacity(1 << 16, f), &mut out, &mut err)
            }
            Err(e) => {
                drop(err);
                return fail(2, format!("cannot read input {}: {e}", p.display()));
            }
        },
    };
    let flushed = out.flush();
    match result {
        Ok(summary) => {
            let _ = writeln!(err, "{summary}");
            let _ = err.flush();
            match flushed {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => fail(1, format!("cannot write output: {e}")),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            let _ = err.flush();
            let source = input
                .as_deref()
                .filter(|p| p.as_os_str() != "-")
                .map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
            fail(1, format!("replay failed reading {source} or writing its output: {e}"))
        }
    }
}

/// `sink gh (github, https://api.github.com): Deployment Started, Deployment Cut Over; token from $GITHUB_TOKEN`.
fn describe_sink(sink: &crate::config::sinks::SinkConfig) -> String {
    let r = sink.routing();
    let events: Vec<&str> =
        cutover_events::emitted::DetailType::ALL.iter().filter(|t| r.takes(**t)).map(|t| t.as_str()).collect();
    let credential = match (
        &sink.app_id,
        &sink.private_key_env,
        &sink.private_key_secret_arn,
        &sink.token_env,
        &sink.token_secret_arn,
    ) {
        (Some(app), Some(var), _, _, _) => format!("GitHub App {app}, key from ${var}"),
        (Some(app), None, Some(arn), _, _) => format!("GitHub App {app}, key from the secret {arn}"),
        (_, _, _, Some(var), Some(arn)) => format!("credential from ${var}, else the secret {arn}"),
        (_, _, _, Some(var), None) => format!("credential from ${var}"),
        (_, _, _, None, Some(arn)) => format!("credential from the secret {arn}"),
        _ => "no credential".to_owned(),
    };
    format!("sink {} ({}, {}): {}; {credential}", sink.name, sink.kind.as_str(), sink.base_url(), events.join(", "))
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(Some(file)) {
        Ok(c) => {
            println!(
                "{}: ok (default channel {:?}, {} route(s), {} invalidation(s), {} template(s) rendered in every state, retention {} h)",
                file.display(),
                c.slack.channel,
                c.routes.len(),
                c.invalidations.len(),
                c.templates.len(),
                c.state.retention_hours
            );
            for sink in &c.sinks {
                println!("{}", describe_sink(sink));
                if let Some(var) = &sink.token_env
                    && std::env::var(var).map_or(true, |v| v.trim().is_empty())
                    && sink.token_secret_arn.is_none()
                {
                    println!(
                        "note: sink {}: {var} is not set here; `cutover serve` refuses to start without it",
                        sink.name
                    );
                }
            }
            for line in crate::config::actions::describe(&c.slack.actions, &c.routes) {
                println!("{line}");
            }
            if c.slack.actions.enabled
                && c.slack.actions.transport == crate::config::actions::Transport::Http
                && std::env::var("SLACK_SIGNING_SECRET").map_or(true, |v| v.trim().is_empty())
                && c.slack.actions.signing_secret_arn.is_none()
            {
                println!("note: SLACK_SIGNING_SECRET is not set here; `cutover serve` refuses to start without it");
            }
            if c.slack.actions.enabled
                && c.slack.actions.transport == crate::config::actions::Transport::Socket
                && std::env::var("SLACK_APP_TOKEN").map_or(true, |v| v.trim().is_empty())
                && c.slack.actions.app_token_secret_arn.is_none()
            {
                println!(
                    "note: SLACK_APP_TOKEN (the app-level token, xapp-…) is not set here; `cutover serve` refuses to \
                     start without it"
                );
            }
            if c.sqs.queue_url.is_none() {
                println!("note: `cutover serve` also needs [sqs] queue_url (`replay` does not)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, e),
    }
}
