//! `sink-standins [--host ADDR] [--port PORT]`: serves the stand-ins on 127.0.0.1 (port 0 picks
//! a free one) and prints `listening on http://…`. Credentials come from the environment:
//! `GITHUB_TOKEN`, `GRAFANA_TOKEN`, `DATADOG_API_KEY`, `PAGERDUTY_ROUTING_KEY`,
//! `HONEYCOMB_API_KEY`, `WEBHOOK_SECRET`, and `GITHUB_REPOS` (comma-separated `owner/repo`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut port = 0u16;
    let mut host = "127.0.0.1".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or_else(|| anyhow::anyhow!("--port needs a value"))?.parse()?,
            "--host" => host = args.next().ok_or_else(|| anyhow::anyhow!("--host needs a value"))?,
            "-h" | "--help" => {
                println!("usage: sink-standins [--host ADDR] [--port PORT]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?} (usage: sink-standins [--host ADDR] [--port PORT])"),
        }
    }
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let credentials = sink_standins::Credentials {
        github_token: var("GITHUB_TOKEN"),
        github_app: None,
        github_repos: var("GITHUB_REPOS").split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        grafana_token: var("GRAFANA_TOKEN"),
        datadog_key: var("DATADOG_API_KEY"),
        pagerduty_routing_key: var("PAGERDUTY_ROUTING_KEY"),
        honeycomb_key: var("HONEYCOMB_API_KEY"),
        webhook_secret: var("WEBHOOK_SECRET"),
    };
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sink_standins::serve(listener, sink_standins::Standins::new(credentials), shutdown).await?;
    Ok(())
}
