//! Rewrites `tests/scenarios/<name>/input.jsonl` and `config.toml` from the definitions in
//! `cutover_e2e::scenarios`, and `examples/demo.jsonl`. Expected outputs are hand-written and never touched here.

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
    let demo = cutover_e2e::scenarios::demo();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::create_dir_all(&examples)?;
    std::fs::write(examples.join("demo.jsonl"), demo.lines.join("\n") + "\n")?;
    println!("examples/demo.jsonl: {} lines", demo.lines.len());
    Ok(())
}
