//! `slack-standin [--host ADDR] [--port PORT] [--rate-limits]`: serves the stand-in on 127.0.0.1 (or ADDR, such
//! as 0.0.0.0 in a container; port 0 picks a free one) and prints `listening on http://…` so
//! scripts can find it. The API is under `/api`, the feed at `/`. `--rate-limits` enforces
//! Slack's rate limits (429 with `Retry-After`), as `slack_standin::limits` describes them.

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut port = 0u16;
    let mut host = "127.0.0.1".to_owned();
    let mut rate_limits = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or_else(|| anyhow::anyhow!("--port needs a value"))?.parse()?,
            "--host" => host = args.next().ok_or_else(|| anyhow::anyhow!("--host needs a value"))?,
            "--rate-limits" => rate_limits = true,
            "-h" | "--help" => {
                println!("usage: slack-standin [--host ADDR] [--port PORT] [--rate-limits]");
                return Ok(());
            }
            other => anyhow::bail!(
                "unknown argument {other:?} (usage: slack-standin [--host ADDR] [--port PORT] [--rate-limits])"
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let standin = slack_standin::Standin::new();
    if rate_limits {
        standin.limit_rates(Some(slack_standin::limits::RateLimits::slack()));
        println!("enforcing Slack's rate limits");
    }
    // Socket Mode's WebSockets, on a port of their own (`apps.connections.open` names it).
    let sockets = standin.serve_sockets(tokio::net::TcpListener::bind((host.as_str(), 0)).await?)?;
    println!("socket mode on ws://{sockets}/link/");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    slack_standin::serve(listener, standin, shutdown).await?;
    Ok(())
}
