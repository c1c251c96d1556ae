//! Rewrites `tests/scenarios/<name>/input.jsonl` and `config.toml` from the definitions in
//! `cutover_e2e::scenarios`, `examples/demo.jsonl`, and `event-schemas/fixtures/`. Expected outputs are hand-written and never touched here.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for s in cutover_e2e::scenarios::all() {
        let dir = root.join(s.name);
        std::fs::create_dir_all(&dir)?;
        let mut text = s.lines.join("\n");
        text.push('\n');
        std::fs::write(dir.join("input.jsonl"), text)?;
        if let Some(config) = s.config {
            std::fs::write(dir.join("config.toml"), config)?;
        }
        println!("{}: {} lines", s.name, s.lines.len());
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../event-schemas/fixtures");
    std::fs::create_dir_all(&fixtures)?;
    for (name, body) in cutover_e2e::fixtures::all() {
        let text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)? + "\n";
        std::fs::write(fixtures.join(name), text)?;
    }
    let demo = cutover_e2e::scenarios::demo();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::create_dir_all(&examples)?;
    std::fs::write(examples.join("demo.jsonl"), demo.lines.join("\n") + "\n")?;
    println!("examples/demo.jsonl: {} lines", demo.lines.len());
    Ok(())
}
