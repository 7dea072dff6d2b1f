//! `beaver-admin` against the real stack: the built binary (deploy/up builds
//! it) is run as an operator would, and its output checked against events
//! these tests cause through the gateway. The rebuild tests swap live
//! tables, so they take turns and live in their own test binary (cargo runs
//! test binaries one after another): nothing else reads the stack meanwhile
//! but this binary's own tests, which keep working through the swap.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod emoji;
mod rebuild_shared;
mod sent_filter;
mod services;

use helpers::{eventually, unique, Api};
use serde_json::Value;
use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};

static REBUILD_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn admin_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BEAVER_ADMIN_BIN") {
        return path.into();
    }
    let profile = std::env::var("BEAVER_BUILD_PROFILE").unwrap_or_else(|_| "debug".into());
    let dir = if profile == "release" { "release" } else { "debug" };
    let path = root().join("target").join(dir).join("beaver-admin");
    assert!(path.exists(), "{} is missing: deploy/up builds it", path.display());
    path
}

/// Runs `beaver-admin args…` against this stack (the BEAVER_* variables of
/// the test environment), killing it after `limit`.
async fn admin(args: &[&str], limit: Duration) -> Output {
    let mut cmd = tokio::process::Command::from(Command::new(admin_binary()));
    cmd.args(args).env("BEAVER_KAFKA_BROKERS", helpers::brokers()).env("BEAVER_DATABASE_URL", helpers::database_url()).kill_on_drop(true);
    if std::env::var("BEAVER_REDIS_URL").is_err() {
        let port = std::env::var("BEAVER_REDIS_PORT").unwrap_or_else(|_| "6379".into());
        cmd.env("BEAVER_REDIS_URL", format!("redis://127.0.0.1:{port}"));
    }
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(out) => out.expect("run beaver-admin"),
        Err(_) => panic!("beaver-admin {args:?} did not finish within {limit:?}"),
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeded(out: &Output, args: &str) {
    assert!(out.status.success(), "beaver-admin {args} failed ({:?}):\n{}\n{}", out.status, stdout(out), String::from_utf8_lossy(&out.stderr));
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn tail_shows_an_event_you_just_caused_as_an_upcast_envelope_with_its_position() {
    let api = Api::new();
    let name = unique("tail");
    let id = api.register(&name).await;
    let out = admin(&["topics", "tail", "beaver.users.v1", "--since", "10m", "--aggregate-id", &id, "--max", "1"], LONG).await;
    succeeded(&out, "topics tail");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let e = &lines[0];
    assert_eq!(e["event_type"], "UserRegistered");
    assert_eq!(e["schema_version"], 1);
    assert_eq!(e["topic"], "beaver.users.v1");
    assert_eq!(e["payload"]["username"], name.as_str());
    assert_eq!(e["key"], id.as_str());
    assert!(e["partition"].as_i64().is_some_and(|p| (0..6).contains(&p)), "{e}");
    assert!(e["offset"].as_i64().is_some_and(|o| o >= 0), "{e}");

    // The same event by its correlation id, from the beginning, stopping at the end.
    let correlation = e["correlation_id"].as_str().unwrap();
    let args = ["topics", "tail", "beaver.users.v1", "--from-beginning", "--no-follow", "--correlation-id", correlation];
    let out = admin(&args, LONG).await;
    succeeded(&out, "topics tail --correlation-id");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event_id"], e["event_id"]);

    // A filter that matches nothing prints nothing.
    let args = ["topics", "tail", "beaver.users.v1", "--from-beginning", "--no-follow", "--aggregate-id", "nobody", "--event-type", "UserRegistered"];
    let out = admin(&args, LONG).await;
    succeeded(&out, "topics tail (no match)");
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
}

#[tokio::test]
async fn tail_from_the_end_follows_and_prints_a_record_written_after_it_started() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(admin_binary());
    cmd.args(["topics", "tail", "beaver.users.v1", "--event-type", "UserRegistered"])
        .env("BEAVER_KAFKA_BROKERS", helpers::brokers())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start beaver-admin topics tail");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // It says on stderr from where it reads; only then cause the event.
    let notice = tokio::time::timeout(LONG, stderr.next_line()).await.expect("tail announces itself").unwrap().unwrap_or_default();
    assert!(notice.starts_with("reading beaver.users.v1 from partition@offset") && notice.contains("following"), "{notice}");
    let api = Api::new();
    let name = unique("follow");
    let id = api.register(&name).await;
    let found = tokio::time::timeout(LONG, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            let e: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(e["event_type"], "UserRegistered", "the filter let through {e}");
            if e["aggregate_id"] == id.as_str() {
                return e;
            }
        }
        panic!("tail ended without the registration");
    })
    .await
    .expect("the new registration shows in a following tail within a minute");
    assert_eq!(found["payload"]["username"], name.as_str());
    child.kill().await.unwrap();
}

#[tokio::test]
async fn tail_reads_the_transactional_sequenced_topic_committed_only() {
    let api = Api::new();
    let (a, b) = (unique("seqa"), unique("seqb"));
    let (a_id, a_token, _) = api.signed_up(&a).await;
    let (b_id, b_token, _) = api.signed_up(&b).await;
    let asked = api.post("/api/friend/requests", Some(&a_token), serde_json::json!({ "to_user_id": b_id })).await.expect(200);
    let rid = asked.data()["request_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&b_token), serde_json::json!({})).await.expect(200);
    let marker = unique("hello");
    let sent = api
        .post(
            "/api/chat/send",
            Some(&a_token),
            serde_json::json!({ "to_user_id": b_id, "client_msg_id": unique("c"), "type": "text", "content": { "text": marker } }),
        )
        .await;
    assert!(sent.status.is_success(), "send failed: {:?}", sent.body);
    let found = eventually(Duration::from_secs(30), || async {
        let args = ["topics", "tail", "beaver.sequenced.v1", "--since", "10m", "--no-follow", "--event-type", "MessageSequenced"];
        let out = admin(&args, LONG).await;
        succeeded(&out, "topics tail beaver.sequenced.v1");
        json_lines(&out).into_iter().find(|e| e.to_string().contains(&marker))
    })
    .await
    .expect("the sequenced message shows in tail");
    assert_eq!(found["topic"], "beaver.sequenced.v1");
    assert!(found["payload"]["seq"].as_i64().is_some_and(|s| s >= 1), "{found}");
    assert!(found.to_string().contains(&a_id));
}

#[tokio::test]
async fn export_writes_the_topic_as_json_lines() {
    let api = Api::new();
    let name = unique("export");
    let id = api.register(&name).await;
    let file = std::env::temp_dir().join(format!("{}.jsonl", unique("beaver-export")));
    let path = file.to_str().unwrap();
    let out = admin(&["topics", "export", "beaver.users.v1", "--output", path, "--aggregate-id", &id], LONG).await;
    succeeded(&out, "topics export");
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["payload"]["username"], name.as_str());
}

#[tokio::test]
async fn topics_list_and_describe_show_partitions_and_settings() {
    let out = admin(&["topics", "list", "--json"], LONG).await;
    succeeded(&out, "topics list");
    let topics: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let sequenced = topics.iter().find(|t| t["topic"] == "beaver.sequenced.v1").expect("beaver.sequenced.v1 listed");
    assert_eq!(sequenced["partitions"], 12);
    let out = admin(&["topics", "describe", "beaver.sequenced.v1", "--json"], LONG).await;
    succeeded(&out, "topics describe");
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["configs"]["retention.ms"], "-1");
    assert_eq!(doc["partitions"].as_array().unwrap().len(), 12);
    let out = admin(&["topics", "describe", "no.such.topic"], LONG).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn groups_status_shows_projector_groups_with_stored_offsets_and_lag_and_probes() {
    let api = Api::new();
    let id = api.register(&unique("groups")).await;
    // Wait until the users projector has stored the registration's offset.
    let _ = id;
    let status = eventually(Duration::from_secs(30), || async {
        let out = admin(&["groups", "status", "--json", "--group", "beaver-projector-"], LONG).await;
        succeeded(&out, "groups status");
        let groups: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
        let users = groups.iter().find(|g| g["group"] == "beaver-projector-users")?.clone();
        let stored = users["partitions"].as_array()?.iter().any(|p| p["stored"].as_i64().is_some_and(|s| s > 0));
        stored.then_some(groups)
    })
    .await
    .expect("the users projector group shows stored offsets");
    for name in ["users", "sessions", "relations", "groups", "messages", "feedback", "system", "files", "emoji"] {
        let g = status.iter().find(|g| g["group"] == format!("beaver-projector-{name}")).unwrap_or_else(|| panic!("no group for {name}"));
        assert_eq!(g["projection"], name);
        let members = g["members"].as_array().unwrap();
        assert!(!members.is_empty(), "{name} has no members: {g}");
        // Projector members name their group in client.id.
        assert!(members.iter().all(|m| m["client_id"] == format!("beaver-projector-{name}")), "{g}");
        assert!(members.iter().any(|m| m["assignment"].as_array().is_some_and(|a| !a.is_empty())), "{g}");
    }
    let users = status.iter().find(|g| g["group"] == "beaver-projector-users").unwrap();
    for p in users["partitions"].as_array().unwrap() {
        assert_eq!(p["topic"], "beaver.users.v1");
        let (end, lag) = (p["end"].as_i64().unwrap(), p["lag"].as_i64());
        if let Some(stored) = p["stored"].as_i64() {
            assert_eq!(lag, Some(end - stored), "{p}");
        }
    }
    // As a probe: no lag can exceed a huge limit; every lag exceeds -1.
    let out = admin(&["groups", "status", "--group", "beaver-projector-", "--max-lag", "1000000000"], LONG).await;
    succeeded(&out, "groups status --max-lag");
    let out = admin(&["groups", "status", "--group", "beaver-projector-", "--max-lag", "-1"], LONG).await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn projections_status_lists_every_projection_with_rows() {
    let out = admin(&["projections", "status", "--json"], LONG).await;
    succeeded(&out, "projections status");
    let all: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = all.iter().map(|p| p["projection"].as_str().unwrap()).collect();
    assert_eq!(names, ["users", "sessions", "relations", "groups", "messages", "feedback", "system", "files", "emoji", "notifications", "moments", "calls"]);
    let users = &all[0];
    assert!(users["rows"]["users"].as_i64().unwrap() >= 0);
    assert!(all.iter().all(|p| p["rebuildable"] == true), "every projection rebuilds online, shared state included: {all:?}");
}

#[tokio::test]
async fn a_rebuild_into_shadow_tables_equals_the_live_rows_and_leaves_them_alone() {
    let _turn = REBUILD_TURN.lock().await;
    let api = Api::new();
    api.signed_up(&unique("shadow")).await;
    let out = admin(&["projections", "rebuild", "sessions", "--no-swap", "--json", "--timeout-secs", "120"], Duration::from_secs(180)).await;
    succeeded(&out, "projections rebuild sessions --no-swap");
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["swapped"], false);
    assert_eq!(report["identical"], true, "{report}");
    let (live, rebuilt) = (&report["compared"]["sessions"][0], &report["compared"]["sessions"][1]);
    assert!(live[0].as_i64().unwrap() >= 1);
    assert_eq!(live, rebuilt);
    assert!(report["replayed"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn rebuilding_users_keeps_serving_reads_then_swaps_in_equal_rows() {
    let _turn = REBUILD_TURN.lock().await;
    let api = Api::new();
    let name = unique("rebuild");
    let (_, token, _) = api.signed_up(&name).await;
    let rebuild = tokio::spawn(admin(&["projections", "rebuild", "users", "--json", "--timeout-secs", "120"], Duration::from_secs(180)));
    // Reads keep answering from the live table while the rebuild runs and swaps.
    let mut reads = 0;
    while !rebuild.is_finished() {
        let a = api.get("/api/user/profile", Some(&token)).await;
        assert_eq!(a.status.as_u16(), 200, "profile read failed during the rebuild: {:?}", a.body);
        assert_eq!(a.data()["username"], name.as_str());
        reads += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = rebuild.await.unwrap();
    succeeded(&out, "projections rebuild users");
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["swapped"], true, "{report}");
    assert_ne!(report["identical"], false, "the rebuilt rows differ from the live ones: {report}");
    assert!(reads >= 1);
    // The old user reads from the swapped-in table; the live projector goes on writing into it.
    let a = api.get("/api/user/profile", Some(&token)).await.expect(200);
    assert_eq!(a.data()["username"], name.as_str());
    let later = unique("after");
    let (_, later_token, _) = api.signed_up(&later).await;
    let a = api.get("/api/user/profile", Some(&later_token)).await.expect(200);
    assert_eq!(a.data()["username"], later.as_str());
    let out = admin(&["projections", "status", "--json"], LONG).await;
    let all: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(all[0]["old_tables"][0], "users__old");
    assert_eq!(all[0]["shadow"], false);
}

#[tokio::test]
async fn an_unknown_projection_is_refused_and_nothing_is_created() {
    // Other rebuild tests make shadow databases: take the turn they take.
    let _turn = REBUILD_TURN.lock().await;
    // Every projection rebuilds online now (tests/tests/admin/rebuild_shared.rs); a name that is none is refused.
    let out = admin(&["projections", "rebuild", "no_such_projection"], LONG).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown projection"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = admin(&["projections", "status", "--json"], LONG).await;
    let all: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(all.iter().all(|p| p["shadow"] == false), "{all:?}");
}
