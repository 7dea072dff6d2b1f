//! The Kafka topics against their contract (schemas/asyncapi.yaml,
//! docs/analytics.md): after causing some traffic on every topic, every
//! record read from every topic of deploy/topics.conf — each partition from
//! its beginning to the high watermark taken then, the first and the last
//! `BEAVER_CONTRACT_RECORDS` (default 10,000) records of a longer partition —
//! is an envelope that validates against
//! `schemas/events/<event_type>.v<schema_version>.json`, whose event type
//! the document lists on that topic's channel, whose key is its
//! `aggregate_id` and whose headers repeat its type, version and ids; the
//! sequencer's state topic, which holds no envelopes, against
//! `schemas/topics/beaver.sequencer-state.v1.json`. Also runs the AsyncAPI
//! parser over the document (schemas/asyncapi-check).

use crate::chat::{sent, text_in, text_to};
use crate::friends::{befriend, new_user, User};
use crate::helpers::{unique, Api};
use rdkafka::{
    consumer::Consumer,
    message::{Headers, Message},
    Offset, TopicPartitionList,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEQUENCER_STATE: &str = "beaver.sequencer-state.v1";

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A validator of the JSON Schema at `schemas/<relative>`, formats (uuid,
/// date-time) checked too.
pub(crate) fn validator(relative: &str) -> Result<jsonschema::Validator, String> {
    let path = root().join("schemas").join(relative);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("no schema {}: {e}", path.display()))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    jsonschema::options().should_validate_formats(true).build(&schema).map_err(|e| format!("{} is not a valid schema: {e}", path.display()))
}

/// Why `value` fails `v`, one line per error (empty when it is valid).
pub(crate) fn errors(v: &jsonschema::Validator, value: &Value) -> Vec<String> {
    v.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// The topics of deploy/topics.conf with their partition counts.
fn topics_conf() -> Vec<(String, i32)> {
    let text = std::fs::read_to_string(root().join("deploy/topics.conf")).expect("deploy/topics.conf");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next().unwrap().to_owned(), parts.next().and_then(|p| p.parse().ok()).expect("a partition count"))
        })
        .collect()
}

/// For each channel address of schemas/asyncapi.yaml, the messages it lists
/// (`<event_type>.v<N>`): the `$ref: '#/components/messages/…'` lines under
/// its `address:` line, up to `operations:` (the document keeps that layout
/// for this reader).
fn channel_messages() -> HashMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("schemas/asyncapi.yaml")).expect("schemas/asyncapi.yaml");
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut channel: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("operations:") {
            break;
        }
        let t = line.trim();
        if let Some(address) = t.strip_prefix("address: ") {
            channel = Some(address.to_owned());
            out.entry(address.to_owned()).or_default();
        } else if let (Some(c), Some(m)) = (&channel, t.strip_prefix("$ref: '#/components/messages/")) {
            out.get_mut(c).unwrap().insert(m.trim_end_matches('\'').to_owned());
        }
    }
    out
}

/// How many records of a partition are read from each end when it holds more than twice as many.
fn per_end() -> i64 {
    std::env::var("BEAVER_CONTRACT_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// One record as read: (partition, offset, key, headers, value).
struct Record {
    partition: i32,
    offset: i64,
    key: Option<String>,
    headers: BTreeMap<String, String>,
    value: Option<Vec<u8>>,
}

/// The records of `topic` up to the high watermarks of now (all of a
/// partition of at most 2·`per_end` records, else its first and last
/// `per_end`), as a `read_committed` consumer sees them (blocking).
fn read_bounded(topic: &str, per_end: i64) -> Vec<Record> {
    let (consumer, partitions) = crate::helpers::topic_reader(topic, "contract_reader");
    assert!(!partitions.is_empty(), "{topic} does not exist");
    // (partition, from, to): offsets [from, to) to read, in up to two passes.
    let mut passes: [Vec<(i32, i64, i64)>; 2] = [Vec::new(), Vec::new()];
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap();
        if high - low <= 2 * per_end {
            passes[0].push((p, low, high));
        } else {
            passes[0].push((p, low, low + per_end));
            passes[1].push((p, high - per_end, high));
        }
    }
    let mut out = Vec::new();
    for ranges in passes {
        let mut pending: HashMap<i32, i64> = ranges.iter().filter(|(_, from, to)| to > from).map(|(p, _, to)| (*p, *to)).collect();
        if pending.is_empty() {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, from, to) in &ranges {
            if to > from {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*from)).unwrap();
            }
        }
        consumer.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !pending.is_empty() {
            assert!(Instant::now() < deadline, "could not read {topic} within 120 s; partitions left: {pending:?}");
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let Some(&to) = pending.get(&m.partition()) else { continue };
                    if m.offset() < to {
                        let headers = m
                            .headers()
                            .map(|h| h.iter().map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())).collect())
                            .unwrap_or_default();
                        out.push(Record {
                            partition: m.partition(),
                            offset: m.offset(),
                            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                            headers,
                            value: m.payload().map(<[u8]>::to_vec),
                        });
                    }
                    if m.offset() + 1 >= to {
                        pending.remove(&m.partition());
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    pending.remove(&p);
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None => {}
            }
        }
    }
    out
}

/// What is wrong with one envelope record of `topic` (empty: nothing).
fn check_envelope(topic: &str, r: &Record, listed: &BTreeSet<String>, schemas: &mut HashMap<String, Result<jsonschema::Validator, String>>) -> (Option<String>, Vec<String>) {
    let Some(bytes) = &r.value else { return (None, vec!["a record without a value (a tombstone) on an event topic".into()]) };
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return (None, vec![format!("not JSON ({e}): {}", String::from_utf8_lossy(bytes))]),
    };
    let (Some(event_type), Some(version)) = (v["event_type"].as_str(), v["schema_version"].as_u64()) else {
        return (None, vec![format!("no event_type and schema_version: not an envelope: {v}")]);
    };
    let name = format!("{event_type}.v{version}");
    let mut problems = Vec::new();
    match schemas.entry(name.clone()).or_insert_with(|| validator(&format!("events/{name}.json"))) {
        Err(e) => problems.push(e.clone()),
        Ok(validator) => problems.extend(errors(validator, &v)),
    }
    if !listed.contains(&name) {
        problems.push(format!("schemas/asyncapi.yaml does not list {name} on {topic}"));
    }
    if r.key.as_deref() != v["aggregate_id"].as_str() {
        problems.push(format!("the key {:?} is not the aggregate_id {}", r.key, v["aggregate_id"]));
    }
    for (header, want) in [
        ("event_type", Some(event_type.to_owned())),
        ("schema_version", Some(version.to_string())),
        ("event_id", v["event_id"].as_str().map(str::to_owned)),
        ("correlation_id", v["correlation_id"].as_str().map(str::to_owned)),
    ] {
        if r.headers.get(header) != want.as_ref() {
            problems.push(format!("header {header} is {:?}, the envelope says {want:?}", r.headers.get(header)));
        }
    }
    if let Some(ct) = r.headers.get("content-type").filter(|ct| *ct != "application/json") {
        problems.push(format!("header content-type is {ct:?}"));
    }
    (Some(name), problems)
}

/// Something on every topic the API (and an operator) can reach: users,
/// sessions, a friendship, a group, messages (sequenced, and the
/// sequencer's state), a read, analytics, feedback, a file, a favourite
/// sticker, a moment, a call, a push token and a push job, a release.
async fn traffic(api: &Api) {
    let (ann, bob) = tokio::join!(new_user(api, "ctopic"), new_user(api, "ctopic"));
    befriend(api, &ann, &bob).await;
    // Bob has a push token and no socket: a message to him queues a push job.
    api.post("/api/notification/push-tokens", Some(&bob.token), json!({ "device_id": unique("dev"), "platform": "fcm", "token": unique("tok") })).await.expect(200);
    let first = sent(api, &ann, text_to(&bob, "contract")).await;
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": first["seq"] })).await.expect(200);
    let group = api.post("/api/group", Some(&ann.token), json!({ "name": unique("cgrp"), "member_ids": [bob.id] })).await.expect(200);
    sent(api, &ann, text_in(group.data()["conversation_id"].as_str().unwrap(), "in the group")).await;
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let track = json!({ "device_id": unique("dev"), "platform": "web", "events": [{ "name": "contract.check", "ts": now, "props": { "ok": true } }] });
    api.post("/api/track/events", Some(&ann.token), track).await.expect(202);
    api.post("/api/feedback", Some(&ann.token), json!({ "category": "bug", "text": "contract test" })).await.expect(201);
    let image = favourite(api, &ann).await;
    api.post("/api/moment", Some(&ann.token), json!({ "text": "contract", "media": [{ "file_id": image }] })).await.expect(201);
    let call = api.post("/api/call", Some(&ann.token), json!({ "conversation_id": conv, "media": "audio", "device_id": unique("dev") })).await.expect(201);
    api.post(&format!("/api/call/{}/cancel", call.data()["call_id"].as_str().unwrap()), Some(&ann.token), json!({})).await.expect(200);
    let app = unique("app").replace('_', "-");
    crate::contract_frames::admin(&[
        "release", "publish", "--app", &app, "--platform", "web", "--version", "1.0.0", "--url", "https://dl.example/app", "--sha256", &"ab".repeat(32), "--size", "1",
    ])
    .await;
}

/// Uploads a small PNG as an emoji of `user` and favourites it; returns the file id.
pub(crate) async fn favourite(api: &Api, user: &User) -> String {
    let picture = crate::files::png(8, 8);
    let a = api.post("/api/file/uploads", Some(&user.token), json!({ "name": "c.png", "size": picture.len(), "purpose": "emoji" })).await.expect(201);
    let file = a.data()["file_id"].as_str().unwrap().to_owned();
    api.send(api.raw(reqwest::Method::PUT, &format!("/api/file/uploads/{file}/parts/1")).bearer_auth(&user.token).body(picture)).await.expect(200);
    api.post(&format!("/api/file/uploads/{file}/complete"), Some(&user.token), json!({})).await.expect(200);
    api.post("/api/emoji/favorites", Some(&user.token), json!({ "file_id": file, "title": "dot" })).await.expect(200);
    file
}

#[tokio::test]
async fn contract_every_record_on_every_topic_validates_against_its_schema() {
    let started = Instant::now();
    traffic(&Api::new()).await;
    let topics = topics_conf();
    let channels = channel_messages();
    let per_end = per_end();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    let mut schemas = HashMap::new();
    let state = validator("topics/beaver.sequencer-state.v1.json").unwrap();
    for (topic, _) in &topics {
        let listed = channels.get(topic).cloned().unwrap_or_else(|| {
            failures.push(format!("{topic}: no channel with this address in schemas/asyncapi.yaml"));
            BTreeSet::new()
        });
        let read_at = Instant::now();
        let t = topic.clone();
        let records = tokio::task::spawn_blocking(move || read_bounded(&t, per_end)).await.unwrap();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut bad = 0;
        for r in &records {
            let (name, problems) = if topic == SEQUENCER_STATE {
                let value = match &r.value {
                    None => Ok(Value::Null),
                    Some(b) => serde_json::from_slice::<Value>(b).map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(b))),
                };
                let kind = r.key.as_deref().map(|k| k.split('|').next().unwrap_or(k).to_owned());
                match value {
                    Ok(value) => (kind, errors(&state, &json!({ "key": r.key, "value": value }))),
                    Err(e) => (kind, vec![e]),
                }
            } else {
                check_envelope(topic, r, &listed, &mut schemas)
            };
            *seen.entry(name.unwrap_or_else(|| "?".into())).or_default() += 1;
            if !problems.is_empty() {
                bad += 1;
                if bad <= 5 {
                    failures.push(format!("{topic} partition {} offset {}: {}", r.partition, r.offset, problems.join("; ")));
                }
            }
        }
        if records.is_empty() {
            failures.push(format!("{topic}: no record to check (the traffic should have made some)"));
        }
        summary.push(format!("{topic}: {} records in {:.1} s, {bad} bad: {seen:?}", records.len(), read_at.elapsed().as_secs_f64()));
    }
    println!("contract_topics ({per_end} records from each end of a longer partition), {:.1} s:\n{}", started.elapsed().as_secs_f64(), summary.join("\n"));
    assert!(failures.is_empty(), "records that break their contract (the first 5 of each topic):\n{}\n\nper topic:\n{}", failures.join("\n"), summary.join("\n"));
}

/// schemas/asyncapi.yaml passes the AsyncAPI parser and matches the
/// repository (schemas/asyncapi-check/check.mjs); installs the parser with
/// `npm ci` first if it is not there.
#[tokio::test]
async fn contract_the_asyncapi_document_passes_the_asyncapi_parser() {
    let dir = root().join("schemas/asyncapi-check");
    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} (Node.js and npm are needed for the AsyncAPI check): {e}"));
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), said)
    };
    if !dir.join("node_modules/@asyncapi/parser").exists() {
        let (ok, said) = run("npm", &["ci", "--no-audit", "--no-fund"]);
        assert!(ok, "npm ci in schemas/asyncapi-check failed:\n{said}");
    }
    let (ok, said) = run("node", &["check.mjs", "../asyncapi.yaml"]);
    println!("{said}");
    assert!(ok, "schemas/asyncapi.yaml fails the AsyncAPI check:\n{said}");
}
