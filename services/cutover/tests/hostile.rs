//! Hostile input and settings, as a new user meets them through the binary: each test here
//! failed before its fix (issue "Nothing one bad input, one bad setting or one second process
//! can break"). The table in RELIABILITY.md lists what each case now gets.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;

use common::{actions, cutover, cutover_with_env, cutover_with_os_env, stderr, temp_dir, workspace};
use serde_json::Value;

fn demo_lines() -> Vec<String> {
    std::fs::read_to_string(workspace().join("examples/demo.jsonl")).unwrap().lines().map(str::to_owned).collect()
}

fn demo_config() -> String {
    workspace().join("examples/cutover.toml").display().to_string()
}

/// Demo line `n` (1-based) as another service's task at time `at`, with a new event id.
fn retimed_task(n: usize, at: &str) -> String {
    let mut v: Value = serde_json::from_str(&demo_lines()[n - 1]).unwrap();
    assert_eq!(v["detail-type"], "ECS Task State Change", "line {n} is a task event");
    v["id"] = Value::from(format!("hostile-{n}-{at}"));
    v["time"] = Value::from(at);
    v["detail"]["updatedAt"] = Value::from(at);
    v["detail"]["group"] = Value::from("service:unrelated");
    v["detail"]["taskArn"] =
        Value::from("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/00000000000000000000000000hostile");
    v.to_string()
}

fn replay(input: &str) -> std::process::Output {
    cutover(&["replay", "--config", &demo_config(), "-"], Some(input.as_bytes()))
}

#[test]
fn a_secret_in_a_foreign_variable_that_is_not_utf8_never_reaches_stderr() {
    let value = OsStr::from_bytes(b"hunter2\xff");
    let out = cutover_with_os_env(&["replay"], Some(b""), &[("DB_PASSWORD", value)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    // A CUTOVER_ variable is ours: named, never shown.
    let out = cutover_with_os_env(&["replay"], Some(b""), &[("CUTOVER_SLACK__CHANNEL", value)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("CUTOVER_SLACK__CHANNEL") && err.contains("not UTF-8") && !err.contains("hunter2"), "{err}");
}

#[test]
fn a_slack_token_that_is_not_utf8_stops_serve_without_showing_it() {
    let dir = temp_dir("bad-token");
    let config = dir.join("cutover.toml");
    std::fs::write(
        &config,
        format!(
            "[sqs]\nqueue_url = \"http://127.0.0.1:9/q\"\n[store]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            dir.join("cutover.db").display()
        ),
    )
    .unwrap();
    let token = OsStr::from_bytes(b"xoxb-12345-secret\x01\xff");
    let out =
        cutover_with_os_env(&["serve", "--config", &config.display().to_string()], None, &[("SLACK_BOT_TOKEN", token)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SLACK_BOT_TOKEN is not UTF-8") && !err.contains("secret"), "{err}");
    let out =
        cutover_with_env(&["serve", "--config", &config.display().to_string()], None, &[("SLACK_BOT_TOKEN", " ")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("SLACK_BOT_TOKEN is empty"), "{}", stderr(&out));
}

/// A store that cannot be opened stops `serve` with what it was doing and why, each once: the
/// error's chain is printed at the binary's edge, and no part repeats its cause.
#[test]
fn a_store_in_a_missing_directory_stops_serve_saying_why_once() {
    let dir = temp_dir("no-store-dir");
    let config = dir.join("cutover.toml");
    let store = dir.join("missing").join("cutover.db");
    std::fs::write(
        &config,
        format!(
            "[sqs]\nqueue_url = \"http://127.0.0.1:9/q\"\n[store]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            store.display()
        ),
    )
    .unwrap();
    let out =
        cutover_with_env(&["serve", "--config", &config.display().to_string()], None, &[("SLACK_BOT_TOKEN", "xoxb-1")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot lock the store {}", store.display())), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "the cause once: {err}");
}

#[test]
fn an_event_from_2099_is_rejected_and_does_not_make_redeliveries_new() {
    let lines = demo_lines();
    let alone = replay(&(lines.join("\n") + "\n"));
    let mut poisoned: Vec<String> = lines[..30].to_vec();
    poisoned.push(retimed_task(31, "2099-01-01T00:00:00Z"));
    poisoned.extend_from_slice(&lines[30..]);
    poisoned.extend_from_slice(&lines[..30]);
    let out = replay(&(poisoned.join("\n") + "\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 31: EventBridge time: time 2099-01-01T00:00:00.000Z is more than 15 minutes ahead"),
        "{err}"
    );
    assert_eq!(actions(&out), actions(&alone), "the same decisions as the demo alone, none twice");
}

#[test]
fn a_redelivery_older_than_the_retention_behind_the_clock_is_ignored_as_stale() {
    let lines = demo_lines();
    let alone = actions(&replay(&(lines.join("\n") + "\n")));
    let id = |a: &Value| {
        a["deployment_id"].as_str().or(a["detail"]["deployment_id"].as_str()).unwrap_or_default().to_owned()
    };
    let known: BTreeSet<String> = alone.iter().map(id).collect();
    // A true event 50 days after the demo moves the clock: the demo's dedupe keys expire, so a
    // redelivery of its lines can no longer be told from a new event and must decide nothing.
    let mut later = lines.clone();
    later.push(retimed_task(31, "2026-05-03T09:00:00Z"));
    later.extend_from_slice(&lines[..30]);
    let out = replay(&(later.join("\n") + "\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let after = actions(&out);
    let repeated: Vec<&Value> = after[alone.len()..].iter().filter(|a| known.contains(&id(a))).collect();
    assert!(repeated.is_empty(), "redeliveries decided again: {repeated:?}");
    assert!(stderr(&out).contains("ignored="), "{}", stderr(&out));
}

#[test]
fn times_that_cannot_be_true_are_rejected_with_the_field_named() {
    let lines = demo_lines();
    let mut input = Vec::new();
    let mut expect = Vec::new();
    for (i, (at, why)) in
        [("2026-02-30T10:00:00.000Z", "not RFC 3339"), ("2014-12-31T23:59:59.000Z", "before 2015-01-01")]
            .into_iter()
            .enumerate()
    {
        input.push(retimed_task(31, at));
        expect.push(format!("line {}: ", i + 1));
        expect.push(why.to_owned());
    }
    for (n, updated) in ["1e300", "-99999999999"].into_iter().enumerate() {
        let mut v: Value = serde_json::from_str(&retimed_task(31, "2026-03-14T09:30:00.000Z")).unwrap();
        v["id"] = Value::from(format!("number-{n}"));
        v["detail"]["updatedAt"] = serde_json::from_str(updated).unwrap();
        input.push(v.to_string());
    }
    let out = replay(&(input.join("\n") + "\n"));
    let err = stderr(&out);
    assert!(err.contains("rejected=4"), "{err}");
    for e in expect {
        assert!(err.contains(&e), "{e}: {err}");
    }
    assert!(err.contains("line 3: ECS Task State Change detail: invalid time 1e300: not an instant"), "{err}");
    assert!(err.contains("line 4: ECS Task State Change detail: invalid time -99999999999: a negative epoch"), "{err}");
    assert!(actions(&out).is_empty());
    // A 2020 event after the 2026 demo is stale: it opens nothing and posts nothing.
    let mut late = lines.clone();
    let mut v: Value = serde_json::from_str(&lines[30]).unwrap();
    v["id"] = Value::from("from-2020");
    v["time"] = Value::from("2020-06-01T00:00:00Z");
    v["detail"]["updatedAt"] = Value::from("2020-06-01T00:00:00Z");
    v["detail"]["startedBy"] = Value::from("ecs-svc/1111111111111111111");
    v["detail"]["taskArn"] =
        Value::from("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/0000000000000000000000000000from2020");
    late.push(v.to_string());
    let before = actions(&replay(&(lines.join("\n") + "\n"))).len();
    let out = replay(&(late.join("\n") + "\n"));
    assert_eq!(actions(&out).len(), before, "{}", stderr(&out));
}

#[test]
fn ids_with_control_characters_or_200000_characters_are_rejected() {
    let base: Value = serde_json::from_str(&demo_lines()[30]).unwrap();
    let mut input = Vec::new();
    for (i, arn) in [
        "arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/ab\u{0}cd".to_owned(),
        "arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/ab\ncd".to_owned(),
        "arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/\u{1b}[31mred".to_owned(),
        format!("arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/{}", "x".repeat(200_000)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut v = base.clone();
        v["id"] = Value::from(format!("id-{i}"));
        v["detail"]["taskArn"] = Value::from(arn);
        input.push(v.to_string());
    }
    let out = replay(&(input.join("\n") + "\n"));
    let err = stderr(&out);
    assert!(err.contains("rejected=4"), "{err}");
    assert!(err.contains("taskArn: contains the control character U+0000"), "{err}");
    assert!(err.contains("taskArn: contains the control character U+001B"), "{err}");
    assert!(err.lines().all(|l| l.len() < 400), "a reason never carries the whole id");
}

#[test]
fn check_config_refuses_what_serve_would_and_names_the_key() {
    let dir = temp_dir("check-config");
    let path = dir.join("cutover.toml");
    let shown = path.display().to_string();
    let check = |text: &str, env: &[(&str, &str)]| {
        std::fs::write(&path, text).unwrap();
        let out = cutover_with_env(&["check-config", &shown], None, env);
        (out.status.code(), stderr(&out))
    };
    for (text, env, needle) in [
        ("[store]\nbackend = \"dynamodb\"\n", vec![], "[store] table: is required with backend = \"dynamodb\""),
        ("[http]\nlisten = \"not an address\"\n", vec![], "line 2: [http] listen"),
        (
            "",
            vec![("CUTOVER_RECONCILER__INTERVAL_SECS", "inf")],
            "CUTOVER_RECONCILER__INTERVAL_SECS: reconciler.interval_secs: inf is not a finite",
        ),
        (
            "",
            vec![("CUTOVER_SLACK__TIMEOUT_SECS", "1e20")],
            "CUTOVER_SLACK__TIMEOUT_SECS: slack.timeout_secs: 100000000000000000000 is out of range",
        ),
        ("[sqs]\nmax_messages = 50\n", vec![], "line 2: [sqs] max_messages: 50 is out of range (1 to 10)"),
        ("[sqs]\nwait_time_secs = -1\n", vec![], "[sqs] wait_time_secs: -1 is out of range (0 to 20)"),
        ("[sqs]\npollers = 0\n", vec![], "[sqs] pollers: 0 is out of range"),
        ("[slack]\nmessages_per_second = nan\n", vec![], "[slack] messages_per_second: NaN is not a finite"),
        ("[slack]\nmessages_per_second = \"fast\"\n", vec![], "messages_per_second"),
        ("[slack]\nburst = 0\n", vec![], "[slack] burst: 0 is out of range (1 to 100)"),
        ("[slack]\nupdates_per_minute = 0.5\n", vec![], "[slack] updates_per_minute: 0.5 is out of range (1 to 60000"),
        ("[slack]\nchannel = \"a\"\nchannel = \"b\"\n", vec![], "channel"),
        ("[slack]\ntoken = \"xoxb-1\"\n", vec![], "set SLACK_BOT_TOKEN in the environment"),
    ] {
        let (code, err) = check(text, &env);
        assert_eq!(code, Some(2), "{text:?} {env:?} was accepted: {err}");
        assert!(err.contains(needle), "{text:?} {env:?}: {err}");
        assert!(err.contains(&shown) || env.iter().any(|(k, _)| err.contains(k)), "names the file or variable: {err}");
    }
}

#[test]
fn replay_input_errors_are_plain() {
    // A directory is named.
    let dir = temp_dir("replay-dir");
    let out = cutover(&["replay", &dir.display().to_string()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("{}: it is a directory", dir.display())), "{}", stderr(&out));
    // A byte-order mark before line 1 is not part of the message.
    let lines = demo_lines();
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice((lines.join("\n") + "\n").as_bytes());
    let out = cutover(&["replay", "--config", &demo_config(), "-"], Some(&with_bom));
    assert!(stderr(&out).contains("rejected=0"), "{}", stderr(&out));
}

#[test]
fn a_closed_stdout_ends_replay_quietly() {
    use std::io::{BufRead, Read};
    let input = demo_lines().join("\n") + "\n";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["replay", "--config", &demo_config(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // Many distinct deployments, so the output outgrows the pipe: every line of the demo
        // again under new ids and names, 40 times.
        for round in 0..40 {
            let text = input
                .replace("ecs-svc/", &format!("ecs-svc/{round}"))
                .replace("\"id\":\"", &format!("\"id\":\"r{round}-"));
            if stdin.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // `| head -1`: the reader goes away.
    let status = child.wait().unwrap();
    writer.join().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!first.is_empty());
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
}

#[test]
fn memory_does_not_follow_the_longest_line() {
    // 256 MiB on one line under a 96 MiB data limit: held whole, it could not be read at all.
    let script = format!(
        "ulimit -d 98304 && head -c 268435456 /dev/zero | tr '\\0' 'x' | cat - {demo} | {bin} replay --config {config} -",
        demo = workspace().join("examples/demo.jsonl").display(),
        bin = env!("CARGO_BIN_EXE_cutover"),
        config = demo_config(),
    );
    let out = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("line 1: message of more than 1048576 bytes exceeds the limit"), "{err}");
    // The demo's first line was glued to the long one; the rest is decided as usual.
    assert!(err.contains("rejected=1"), "{err}");
    assert!(!actions(&out).is_empty());
}

#[test]
fn a_second_serve_on_one_sqlite_file_exits_at_once_naming_the_holder() {
    let dir = temp_dir("two-writers");
    let config = dir.join("cutover.toml");
    let db = dir.join("cutover.db");
    // Nothing answers on port 9: the first serve keeps retrying its receives, holding the store.
    std::fs::write(
        &config,
        format!(
            "[sqs]\nqueue_url = \"http://127.0.0.1:9/q\"\n[store]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [slack]\napi_url = \"http://127.0.0.1:9/api\"\n[reconciler]\nenabled = false\n",
            db.display()
        ),
    )
    .unwrap();
    let serve = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(["serve", "--config", &config.display().to_string()])
            .env("SLACK_BOT_TOKEN", "xoxb-local")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "eu-west-1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let mut first = serve().spawn().unwrap();
    let lock = dir.join("cutover.db.lock");
    let pid = first.id().to_string();
    let mut held = false;
    for _ in 0..100 {
        if std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid) {
            held = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(held, "the first serve took the lock");
    let second = serve().output().unwrap();
    let _ = first.kill();
    let _ = first.wait();
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("the store {} is in use by another `cutover serve` (pid {pid})", db.display())),
        "{err}"
    );
}

#[test]
fn slack_markup_in_an_annotation_reaches_replay_output_as_text() {
    let lines = demo_lines();
    // The storefront deployment of the demo runs image tag v123.
    let annotation = serde_json::json!({"version": "0", "id": "annotation-hostile", "detail-type": "Cutover Deploy Annotation",
        "source": "cutover.annotate", "account": "123456789012", "time": "2026-03-14T09:29:00Z", "region": "eu-west-1",
        "resources": [], "detail": {"cluster": "prod-eu", "service": "storefront", "image_tag": "v123",
        "branch": "<!channel> main", "actor": "<!here>", "commit": "9f1c2ab7e4d35c8b1a0f6e2d9c7b5a3f1e0d8c6b",
        "run_url": "https://evil.example/<!everyone>"}});
    let input = format!("{annotation}\n{}\n", lines.join("\n"));
    let out = replay(&input);
    assert!(out.status.success(), "{}", stderr(&out));
    let slack: Vec<String> = actions(&out)
        .into_iter()
        .filter(|a| a["action"].as_str().is_some_and(|n| n.starts_with("slack.")))
        .map(|a| a.to_string())
        .collect();
    assert!(slack.iter().any(|s| s.contains("&lt;!channel&gt; main")), "the annotation was joined");
    for s in &slack {
        assert!(!s.contains("<!channel>") && !s.contains("<!here>") && !s.contains("<!everyone>"), "{s}");
    }
}
