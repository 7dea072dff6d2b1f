//! Files and uploads, as docs/services.md ("Files and uploads") specifies
//! them: resumable part uploads under `/api/file/uploads`, completion with a
//! MIME sniffed from the bytes, image decoding and a JPEG thumbnail,
//! downloads with their headers and ranges, deletion, the purpose rules and
//! limits, and the `beaver.files.v1` events. Written from the spec alone.
//!
//! The spec does not say that a write is readable the moment it is answered,
//! so reads that follow a write (upload status, downloads, info, a deleted
//! file) are retried for up to `SETTLE` before their answer is asserted.

use crate::friends::{new_user, User};
use crate::helpers::{records_where, unique, Answer, Api};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const TOPIC: &str = "beaver.files.v1";
/// The server's fixed part size: 8 MiB.
const PART: usize = 8 * 1024 * 1024;
const MIB: usize = 1024 * 1024;
const SETTLE: Duration = Duration::from_secs(10);
/// A complete, valid 1×1 GIF89a (43 bytes).
const GIF_1X1: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

// ---------------------------------------------------------------------------
// Contents made in the test.

/// A xorshift generator seeded from a fresh UUID: every run's contents differ.
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new() -> Self {
        Noise(uuid::Uuid::new_v4().as_u128() as u64 | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `n` bytes of no known type: a fixed ASCII prefix no sniffer knows, then noise.
fn noise(n: usize) -> Vec<u8> {
    let mut r = Noise::new();
    let mut v = Vec::with_capacity(n + 8);
    v.extend_from_slice(b"BEAVER-TEST-DATA\n");
    while v.len() < n {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Plain UTF-8 text, unique per call.
pub(crate) fn text() -> Vec<u8> {
    let marker = unique("line");
    (1..=40).map(|i| format!("{i}: just some plain text, not an image ({marker})\n")).collect::<String>().into_bytes()
}

/// A `w`×`h` picture (a gradient with noise, unique per call) encoded as `format`.
pub(crate) fn picture(w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let mut r = Noise::new();
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, r.next() as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    picture(w, h, image::ImageFormat::Png)
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// The spec's `content_hash`: `hex(sha256(join(",", hex(sha256(part_i)))))`.
fn content_hash_of(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.chunks(PART).map(sha256_hex).collect();
    sha256_hex(parts.join(",").as_bytes())
}

// ---------------------------------------------------------------------------
// Times.

use crate::helpers::instant;

fn assert_near(v: &Value, want: OffsetDateTime, what: &str) {
    let t = instant(v).unwrap_or_else(|| panic!("{what}: a time (RFC 3339): {v}"));
    assert!((t - want).abs() < time::Duration::minutes(5), "{what}: {t} is not about {want}");
}

// ---------------------------------------------------------------------------
// Answers.

fn assert_status(a: Answer, status: u16, what: &str) -> Answer {
    assert_eq!(a.status.as_u16(), status, "{what}: {}", a.body);
    a.expect(status)
}

fn assert_error(a: Answer, status: u16, kind: &str, what: &str) -> Answer {
    let a = assert_status(a, status, what);
    assert_eq!(a.error_kind(), kind, "{what}: {}", a.body);
    a
}

/// 422 `invalid_field` naming `field`.
fn assert_invalid(a: Answer, field: &str, what: &str) {
    let a = assert_error(a, 422, "invalid_field", what);
    assert_eq!(a.data()["field"], field, "{what}: {}", a.body);
}

/// 422 `part_no`: the spec names the kind `part_no`; `invalid_field` naming
/// the field `part_no` is read as the same answer.
fn assert_part_no(a: Answer, what: &str) {
    let a = assert_status(a, 422, what);
    let ok = a.error_kind() == "part_no" || (a.error_kind() == "invalid_field" && a.data()["field"] == "part_no");
    assert!(ok, "{what}: 422 part_no: {}", a.body);
}

/// Asks until `done` holds or `SETTLE` passes; the last answer.
async fn until<F, Fut>(mut ask: F, done: impl Fn(&Answer) -> bool) -> Answer
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Answer>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        let a = ask().await;
        if done(&a) || Instant::now() >= deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn id_of(d: &Value) -> String {
    d["file_id"].as_str().unwrap_or_else(|| panic!("a file_id: {d}")).to_owned()
}

// ---------------------------------------------------------------------------
// The upload protocol.

async fn initiate(api: &Api, token: &str, body: Value) -> Answer {
    api.post("/api/file/uploads", Some(token), body).await
}

/// The 201 answer: `{file_id (UUIDv4), part_size: 8 MiB, part_count, expires_at (in 24 h)}`.
fn assert_initiated(a: &Answer, size: usize) {
    let d = a.data();
    let id = d["file_id"].as_str().unwrap_or_else(|| panic!("a file_id: {}", a.body));
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("file_id is a UUID ({e}): {}", a.body));
    assert_eq!(uuid.get_version_num(), 4, "file_id is a UUIDv4: {}", a.body);
    assert_eq!(d["part_size"], PART as u64, "{}", a.body);
    assert_eq!(d["part_count"], size.div_ceil(PART) as u64, "part_count = ceil({size} / part_size): {}", a.body);
    assert_near(&d["expires_at"], OffsetDateTime::now_utc() + time::Duration::hours(24), "expires_at is 24 h after initiation");
}

/// Initiates an upload of `size` bytes: 201 with a well-formed answer; its data.
pub(crate) async fn initiated(api: &Api, user: &User, name: &str, size: usize, purpose: &str) -> Value {
    let a = initiate(api, &user.token, json!({ "name": name, "size": size, "purpose": purpose })).await;
    let a = assert_status(a, 201, &format!("initiating {name} ({size} bytes, {purpose})"));
    assert_initiated(&a, size);
    a.data().clone()
}

async fn put_part(api: &Api, token: &str, id: &str, n: i64, bytes: &[u8]) -> Answer {
    let path = format!("/api/file/uploads/{id}/parts/{n}");
    let req = api.raw(Method::PUT, &path).bearer_auth(token).header("content-type", "application/octet-stream").body(bytes.to_vec());
    let resp = req.send().await.unwrap_or_else(|e| panic!("PUT {path} ({} bytes): no HTTP answer: {e}", bytes.len()));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    Answer { status, body: serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })) }
}

/// PUTs part `n`: 200 `{part_no, size, sha256}` matching the bytes.
async fn put_ok(api: &Api, token: &str, id: &str, n: usize, bytes: &[u8]) {
    let a = put_part(api, token, id, n as i64, bytes).await;
    let a = assert_status(a, 200, &format!("PUT part {n} ({} bytes)", bytes.len()));
    assert_eq!(a.data()["part_no"], n as u64, "{}", a.body);
    assert_eq!(a.data()["size"], bytes.len() as u64, "{}", a.body);
    assert_eq!(a.data()["sha256"], sha256_hex(bytes), "the part's sha256 in lower-case hex: {}", a.body);
}

pub(crate) async fn put_all(api: &Api, token: &str, id: &str, bytes: &[u8]) {
    for (i, chunk) in bytes.chunks(PART).enumerate() {
        put_ok(api, token, id, i + 1, chunk).await;
    }
}

async fn upload_status(api: &Api, token: &str, id: &str) -> Answer {
    api.get(&format!("/api/file/uploads/{id}"), Some(token)).await
}

async fn complete(api: &Api, token: &str, id: &str, body: Value) -> Answer {
    api.post(&format!("/api/file/uploads/{id}/complete"), Some(token), body).await
}

async fn abort(api: &Api, token: &str, id: &str) -> Answer {
    api.call(Method::DELETE, &format!("/api/file/uploads/{id}"), Some(token), None).await
}

/// Aborts: 200 `{file_id, status: "aborted"}`.
async fn aborted(api: &Api, token: &str, id: &str) {
    let a = assert_status(abort(api, token, id).await, 200, "aborting an open upload");
    assert_eq!(a.data()["file_id"], id, "{}", a.body);
    assert_eq!(a.data()["status"], "aborted", "{}", a.body);
}

pub(crate) async fn delete_file(api: &Api, token: &str, id: &str) -> Answer {
    api.call(Method::DELETE, &format!("/api/file/{id}"), Some(token), None).await
}

/// The parts of a status answer as (part_no, size, sha256), by part number.
fn parts_of(a: &Answer) -> Vec<(u64, u64, String)> {
    let mut parts: Vec<(u64, u64, String)> = a.data()["parts"]
        .as_array()
        .unwrap_or_else(|| panic!("a parts list: {}", a.body))
        .iter()
        .map(|p| (p["part_no"].as_u64().unwrap_or(0), p["size"].as_u64().unwrap_or(0), p["sha256"].as_str().unwrap_or("").to_owned()))
        .collect();
    parts.sort();
    parts
}

/// Uploads `bytes` in parts and completes: 200; the complete answer's data.
pub(crate) async fn upload(api: &Api, user: &User, name: &str, purpose: &str, bytes: &[u8]) -> Value {
    let d = initiated(api, user, name, bytes.len(), purpose).await;
    let id = id_of(&d);
    put_all(api, &user.token, &id, bytes).await;
    let a = assert_status(complete(api, &user.token, &id, json!({})).await, 200, &format!("completing {name} ({purpose})"));
    assert_eq!(a.data()["file_id"], id.as_str(), "{}", a.body);
    a.data().clone()
}

/// The complete answer: `{file_id, url, thumb_url, name, size, mime, kind, width, height, content_hash}`;
/// `dims` for images (then `thumb_url` is `url?thumb=1`), else the three are null.
fn assert_file(d: &Value, id: &str, name: &str, bytes: &[u8], mime: &str, kind: &str, dims: Option<(u32, u32)>) {
    let url = format!("/api/file/{id}");
    assert_eq!(d["file_id"], id, "{d}");
    assert_eq!(d["url"], url.as_str(), "{d}");
    assert_eq!(d["name"], name, "{d}");
    assert_eq!(d["size"], bytes.len() as u64, "{d}");
    assert_eq!(d["mime"], mime, "{d}");
    assert_eq!(d["kind"], kind, "{d}");
    assert_eq!(d["content_hash"], content_hash_of(bytes), "content_hash by the spec's formula: {d}");
    match dims {
        Some((w, h)) => {
            assert_eq!((d["width"].as_u64(), d["height"].as_u64()), (Some(w as u64), Some(h as u64)), "{d}");
            assert_eq!(d["thumb_url"], format!("{url}?thumb=1"), "{d}");
        }
        None => {
            for k in ["width", "height", "thumb_url"] {
                assert!(d.get(k).is_some_and(Value::is_null), "{k} is present and null: {d}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Downloads.

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).map(|v| v.to_str().unwrap_or("<not ASCII>").to_owned()).unwrap_or_default()
    }

    fn envelope(&self) -> Answer {
        let body = serde_json::from_slice(&self.bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(300)]) }));
        Answer { status: self.status, body }
    }

    fn show(&self) -> String {
        let start = String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(300)]).into_owned();
        format!("{} {:?} ({} bytes): {start}", self.status, self.headers, self.bytes.len())
    }
}

async fn fetch(api: &Api, path: &str, token: Option<&str>, range: Option<&str>) -> Got {
    let mut req = api.raw(Method::GET, path);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("GET {path}: no HTTP answer: {e}"));
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("GET {path}: reading the body: {e}")).to_vec();
    Got { status, headers, bytes }
}

/// GETs `path` until it answers `status` or `SETTLE` passes; the last answer.
async fn fetch_until(api: &Api, path: &str, token: Option<&str>, status: u16) -> Got {
    let deadline = Instant::now() + SETTLE;
    loop {
        let g = fetch(api, path, token, None).await;
        if g.status.as_u16() == status || Instant::now() >= deadline {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A whole download: 200, the bytes, and the spec's headers; `disposition`
/// `inline` (a parameter may follow) or the exact attachment header.
fn assert_served(g: &Got, bytes: &[u8], mime: &str, disposition: &str, what: &str) {
    assert_eq!(g.status.as_u16(), 200, "{what}: {}", g.show());
    assert!(g.bytes == bytes, "{what}: the bytes differ ({} bytes served, {} uploaded)", g.bytes.len(), bytes.len());
    assert_eq!(g.header("content-type"), mime, "{what}: {:?}", g.headers);
    assert_eq!(g.header("content-length"), bytes.len().to_string(), "{what}: {:?}", g.headers);
    assert_eq!(g.header("accept-ranges"), "bytes", "{what}: {:?}", g.headers);
    assert_eq!(g.header("x-content-type-options"), "nosniff", "{what}: {:?}", g.headers);
    assert_eq!(g.header("cache-control"), "private, max-age=86400", "{what}: {:?}", g.headers);
    let cd = g.header("content-disposition");
    if disposition == "inline" {
        assert!(cd == "inline" || cd.starts_with("inline;"), "{what}: Content-Disposition inline: {cd:?}");
    } else {
        assert_eq!(cd, disposition, "{what}: {:?}", g.headers);
    }
}

/// A download that is 404 in the JSON envelope.
fn assert_gone_404(g: &Got, what: &str) {
    assert_eq!(g.status.as_u16(), 404, "{what}: {}", g.show());
    g.envelope().expect(404);
}

/// The thumbnail: 200, a JPEG no larger than 320 px a side.
fn assert_thumbnail(g: &Got, what: &str) {
    assert_eq!(g.status.as_u16(), 200, "{what}: {}", g.show());
    assert_eq!(g.header("content-type"), "image/jpeg", "{what}: {:?}", g.headers);
    assert!(g.bytes.starts_with(&[0xff, 0xd8, 0xff]), "{what}: JPEG bytes: {}", g.show());
    let img = image::load_from_memory_with_format(&g.bytes, image::ImageFormat::Jpeg).unwrap_or_else(|e| panic!("{what}: the thumbnail decodes as JPEG: {e}"));
    let (w, h) = (img.width(), img.height());
    assert!(w >= 1 && h >= 1 && w <= 320 && h <= 320, "{what}: at most 320 px a side: {w}x{h}");
}

// ---------------------------------------------------------------------------
// 1. A small single-part upload, end to end.

#[tokio::test]
async fn a_png_named_txt_is_sniffed_as_an_image_stored_and_served_inline_with_a_thumbnail() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fsmall"), new_user(&api, "fsmallb"));
    let bytes = png(400, 300);

    let init = initiate(&api, &ann.token, json!({ "name": "x.txt", "size": bytes.len(), "purpose": "chat" })).await;
    let init = assert_status(init, 201, "initiating");
    assert_initiated(&init, bytes.len());
    assert_eq!(init.data()["part_count"], 1);
    let id = id_of(init.data());
    let expires_at = init.data()["expires_at"].clone();

    put_ok(&api, &ann.token, &id, 1, &bytes).await;

    let st = until(|| upload_status(&api, &ann.token, &id), |a| a.status == 200 && a.data()["parts"].as_array().is_some_and(|p| p.len() == 1)).await;
    let st = assert_status(st, 200, "the upload's status");
    let d = st.data();
    assert_eq!(d["file_id"], id.as_str(), "{d}");
    assert_eq!(d["status"], "uploading", "{d}");
    assert_eq!(d["name"], "x.txt", "{d}");
    assert_eq!(d["size"], bytes.len() as u64, "{d}");
    assert_eq!(d["purpose"], "chat", "{d}");
    assert_eq!(d["part_size"], PART as u64, "{d}");
    assert_eq!(d["part_count"], 1, "{d}");
    assert_eq!(instant(&d["expires_at"]), instant(&expires_at), "expires_at as initiated: {d}");
    assert_eq!(parts_of(&st), vec![(1, bytes.len() as u64, sha256_hex(&bytes))]);

    let done = assert_status(complete(&api, &ann.token, &id, json!({})).await, 200, "completing");
    assert_file(done.data(), &id, "x.txt", &bytes, "image/png", "image", Some((400, 300)));
    let url = format!("/api/file/{id}");
    let thumb = format!("{url}?thumb=1");

    let st = until(|| upload_status(&api, &ann.token, &id), |a| a.data()["status"] == "stored").await;
    assert_eq!(st.data()["status"], "stored", "a completed upload's status: {}", st.body);

    // The bytes, with the spec's headers; inline, being an image.
    let got = fetch_until(&api, &url, Some(&ann.token), 200).await;
    assert_served(&got, &bytes, "image/png", "inline", "the owner's download");

    // The thumbnail.
    let t = fetch_until(&api, &thumb, Some(&ann.token), 200).await;
    assert_thumbnail(&t, "the thumbnail");

    // ?access_token= instead of the header, for the file and its thumbnail.
    let got = fetch(&api, &format!("{url}?access_token={}", ann.token), None, None).await;
    assert_served(&got, &bytes, "image/png", "inline", "download with ?access_token=");
    let t = fetch(&api, &format!("{thumb}&access_token={}", ann.token), None, None).await;
    assert_thumbnail(&t, "thumbnail with ?access_token=");

    // Another signed-in user holding the id.
    let got = fetch(&api, &url, Some(&bob.token), None).await;
    assert_served(&got, &bytes, "image/png", "inline", "another user's download");
    assert_thumbnail(&fetch(&api, &thumb, Some(&bob.token), None).await, "another user's thumbnail");

    // No token, or a bad one: 401.
    for (path, token) in [(url.clone(), None), (url.clone(), Some("not-a-token")), (format!("{url}?access_token=not-a-token"), None), (thumb.clone(), None)] {
        let g = fetch(&api, &path, token, None).await;
        assert_eq!(g.status.as_u16(), 401, "GET {path} with {token:?}: {}", g.show());
        let a = g.envelope().expect(401);
        assert_eq!(a.error_kind(), "unauthorized", "{}", a.body);
    }
}

// ---------------------------------------------------------------------------
// 2. Several parts.

#[tokio::test]
async fn a_two_part_upload_takes_parts_in_any_order_replaces_a_resent_part_and_checks_the_content_hash() {
    let api = Api::new();
    let ann = new_user(&api, "fmulti").await;
    let bytes = noise(PART + 1000);
    let (p1, p2) = bytes.split_at(PART);
    let name = format!("{}.bin", unique("blob"));
    let init = initiated(&api, &ann, &name, bytes.len(), "chat").await;
    assert_eq!(init["part_count"], 2);
    let id = id_of(&init);

    // The last part first; completing now misses part 1.
    put_ok(&api, &ann.token, &id, 2, p2).await;
    let a = assert_error(complete(&api, &ann.token, &id, json!({})).await, 409, "missing_parts", "completing without part 1");
    assert_eq!(a.data()["missing"], json!([1]), "{}", a.body);

    // Part 1 wrong, then again right: the second replaces the first.
    let wrong = noise(PART);
    put_ok(&api, &ann.token, &id, 1, &wrong).await;
    put_ok(&api, &ann.token, &id, 1, p1).await;
    let want = vec![(1, PART as u64, sha256_hex(p1)), (2, 1000, sha256_hex(p2))];
    let st = until(|| upload_status(&api, &ann.token, &id), |a| a.status == 200 && parts_of(a) == want).await;
    let st = assert_status(st, 200, "status after the resent part");
    assert_eq!(parts_of(&st), want, "one entry per part, the resent one replaced: {}", st.body);
    assert_eq!(st.data()["status"], "uploading");

    // A client's content_hash that differs is refused; the upload stays usable.
    let expected = content_hash_of(&bytes);
    let of_wrong_part = content_hash_of(&[wrong.as_slice(), p2].concat());
    for bad in ["0".repeat(64), of_wrong_part, sha256_hex(&bytes)] {
        let a = complete(&api, &ann.token, &id, json!({ "content_hash": bad })).await;
        assert_error(a, 422, "hash_mismatch", &format!("completing with content_hash {bad}"));
    }
    let done = complete(&api, &ann.token, &id, json!({ "content_hash": expected })).await;
    let done = assert_status(done, 200, "completing with the right content_hash");
    assert_file(done.data(), &id, &name, &bytes, "application/octet-stream", "file", None);

    let got = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
    assert_served(&got, &bytes, "application/octet-stream", &format!("attachment; filename=\"{name}\""), "the two-part file");
}

#[tokio::test]
async fn a_content_hash_given_at_initiation_is_checked_at_completion() {
    let api = Api::new();
    let ann = new_user(&api, "finithash").await;
    let bytes = noise(3000);
    let right = content_hash_of(&bytes);

    let a = initiate(&api, &ann.token, json!({ "name": "a.bin", "size": bytes.len(), "purpose": "chat", "content_hash": "f".repeat(64) })).await;
    let id = id_of(assert_status(a, 201, "initiating with a content_hash").data());
    put_all(&api, &ann.token, &id, &bytes).await;
    assert_error(complete(&api, &ann.token, &id, json!({})).await, 422, "hash_mismatch", "the bytes differ from the initiated content_hash");

    let a = initiate(&api, &ann.token, json!({ "name": "b.bin", "size": bytes.len(), "purpose": "chat", "content_hash": right })).await;
    let id = id_of(assert_status(a, 201, "initiating with the right content_hash").data());
    put_all(&api, &ann.token, &id, &bytes).await;
    let done = assert_status(complete(&api, &ann.token, &id, json!({})).await, 200, "completing the bytes the content_hash promised");
    assert_file(done.data(), &id, "b.bin", &bytes, "application/octet-stream", "file", None);
}

// ---------------------------------------------------------------------------
// 3. Part rules.

#[tokio::test]
async fn a_part_of_the_wrong_size_or_number_is_refused_and_changes_nothing() {
    let api = Api::new();
    let ann = new_user(&api, "fparts").await;
    let bytes = noise(PART + 10);
    let (p1, p2) = bytes.split_at(PART);
    let id = id_of(&initiated(&api, &ann, "parts.bin", bytes.len(), "chat").await);

    let wrong_sizes: Vec<(i64, Vec<u8>, &str)> = vec![
        (1, noise(100), "a short non-last part"),
        (1, noise(PART - 1), "a non-last part one byte short"),
        (2, noise(11), "a last part one byte long"),
        (2, noise(9), "a last part one byte short"),
        (2, Vec::new(), "an empty last part"),
    ];
    for (n, body, what) in wrong_sizes {
        assert_error(put_part(&api, &ann.token, &id, n, &body).await, 422, "wrong_part_size", what);
    }
    for n in [0, 3, 99] {
        assert_part_no(put_part(&api, &ann.token, &id, n, p2).await, &format!("part number {n} of 2"));
    }
    let over = noise(PART + 1);
    assert_status(put_part(&api, &ann.token, &id, 1, &over).await, 413, "a body over part_size");

    let st = assert_status(upload_status(&api, &ann.token, &id).await, 200, "status after refused parts");
    assert!(parts_of(&st).is_empty(), "no refused part was kept: {}", st.body);

    // The upload is still fine.
    put_ok(&api, &ann.token, &id, 2, p2).await;
    put_ok(&api, &ann.token, &id, 1, p1).await;
    let done = assert_status(complete(&api, &ann.token, &id, json!({})).await, 200, "completing after the refusals");
    assert_file(done.data(), &id, "parts.bin", &bytes, "application/octet-stream", "file", None);

    // A one-part upload: its only part is the last, exactly the size.
    let small = noise(50);
    let id = id_of(&initiated(&api, &ann, "one.bin", small.len(), "chat").await);
    assert_error(put_part(&api, &ann.token, &id, 1, &small[..49]).await, 422, "wrong_part_size", "the only part one byte short");
    assert_error(put_part(&api, &ann.token, &id, 1, &noise(51)).await, 422, "wrong_part_size", "the only part one byte long");
    assert_part_no(put_part(&api, &ann.token, &id, 2, &small).await, "part 2 of 1");
    aborted(&api, &ann.token, &id).await;
}

#[tokio::test]
async fn someone_elses_or_an_unknown_upload_is_404_and_a_completed_or_aborted_one_is_410() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fowner"), new_user(&api, "fownerb"));
    let bytes = noise(50);
    let id = id_of(&initiated(&api, &ann, "mine.bin", bytes.len(), "chat").await);
    put_ok(&api, &ann.token, &id, 1, &bytes).await;

    // Bob, and an id nobody has: 404 for every upload call.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (who, token, uid) in [("another user", &bob.token, &id), ("an unknown id", &ann.token, &unknown)] {
        assert_status(put_part(&api, token, uid, 1, &noise(50)).await, 404, &format!("{who}: PUT a part"));
        assert_status(upload_status(&api, token, uid).await, 404, &format!("{who}: GET the status"));
        assert_status(complete(&api, token, uid, json!({})).await, 404, &format!("{who}: complete"));
        assert_status(abort(&api, token, uid).await, 404, &format!("{who}: DELETE"));
    }
    // Ann's upload is untouched: her part, still uploading, and unfinished it is not downloadable.
    let st = assert_status(upload_status(&api, &ann.token, &id).await, 200, "the owner's status");
    assert_eq!(st.data()["status"], "uploading", "{}", st.body);
    assert_eq!(parts_of(&st), vec![(1, 50, sha256_hex(&bytes))], "Bob's PUT replaced nothing: {}", st.body);
    assert_gone_404(&fetch(&api, &format!("/api/file/{id}"), Some(&ann.token), None).await, "an unfinished file");

    // Completed: PUT and DELETE are 410 gone.
    let done = assert_status(complete(&api, &ann.token, &id, json!({})).await, 200, "completing");
    assert_file(done.data(), &id, "mine.bin", &bytes, "application/octet-stream", "file", None);
    assert_error(put_part(&api, &ann.token, &id, 1, &bytes).await, 410, "gone", "PUT after completion");
    // (The spec names no kind for this 410.)
    assert_status(abort(&api, &ann.token, &id).await, 410, "DELETE after completion");
    let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
    assert_served(&g, &bytes, "application/octet-stream", "attachment; filename=\"mine.bin\"", "still stored after the refused DELETE");

    // Aborted: the answer, the status, then PUT and complete are 410 gone.
    let other = noise(70);
    let id2 = id_of(&initiated(&api, &ann, "abort.bin", other.len(), "chat").await);
    put_ok(&api, &ann.token, &id2, 1, &other).await;
    aborted(&api, &ann.token, &id2).await;
    let st = until(|| upload_status(&api, &ann.token, &id2), |a| a.data()["status"] == "aborted").await;
    assert_eq!(st.data()["status"], "aborted", "an aborted upload's status: {}", st.body);
    assert_error(put_part(&api, &ann.token, &id2, 1, &other).await, 410, "gone", "PUT after abort");
    assert_error(complete(&api, &ann.token, &id2, json!({})).await, 410, "gone", "complete after abort");
    assert_gone_404(&fetch(&api, &format!("/api/file/{id2}"), Some(&ann.token), None).await, "an aborted upload's file");
}

// ---------------------------------------------------------------------------
// 4. Initiation rules.

#[tokio::test]
async fn each_bad_initiate_field_is_422_naming_it_and_a_size_over_the_purpose_cap_is_413() {
    let api = Api::new();
    let ann = new_user(&api, "finit").await;
    let with = |extra: Value| {
        let mut b = json!({ "name": "ok.bin", "size": 10, "purpose": "chat" });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("an empty name", with(json!({ "name": "" })), "name"),
        ("a name with a slash", with(json!({ "name": "a/b.txt" })), "name"),
        ("a name with a backslash", with(json!({ "name": "a\\b.txt" })), "name"),
        ("a name with NUL", with(json!({ "name": "a\u{0}b" })), "name"),
        ("a name with a bell", with(json!({ "name": "a\u{7}b" })), "name"),
        ("a name with a tab", with(json!({ "name": "a\tb" })), "name"),
        ("a name with a newline", with(json!({ "name": "a\nb" })), "name"),
        ("a name with an escape", with(json!({ "name": "a\u{1b}[31mb" })), "name"),
        ("a name with DEL", with(json!({ "name": "a\u{7f}b" })), "name"),
        ("a name of 256 characters", with(json!({ "name": "n".repeat(256) })), "name"),
        ("no name", with(json!({ "name": null })), "name"),
        ("a name that is a number", with(json!({ "name": 5 })), "name"),
        ("a size of 0", with(json!({ "size": 0 })), "size"),
        ("a negative size", with(json!({ "size": -1 })), "size"),
        ("a size that is a string", with(json!({ "size": "10" })), "size"),
        ("a fractional size", with(json!({ "size": 1.5 })), "size"),
        ("no size", with(json!({ "size": null })), "size"),
        ("an unknown purpose", with(json!({ "purpose": "video" })), "purpose"),
        ("an upper-case purpose", with(json!({ "purpose": "Chat" })), "purpose"),
        ("an empty purpose", with(json!({ "purpose": "" })), "purpose"),
        ("no purpose", with(json!({ "purpose": null })), "purpose"),
    ];
    for (what, body, field) in cases {
        assert_invalid(initiate(&api, &ann.token, body).await, field, what);
    }

    let a = api.post("/api/file/uploads", None, with(json!({}))).await;
    assert_error(a, 401, "unauthorized", "initiating without a token");

    // The edges that are accepted: 255 characters (also two-byte ones), sizes at each cap, one part exactly.
    let mut open = Vec::new();
    for name in ["n".repeat(255), "é".repeat(255), "my photo (1) — ünïcode.jpeg".to_owned()] {
        let a = assert_status(initiate(&api, &ann.token, with(json!({ "name": name }))).await, 201, &format!("the name {name}"));
        open.push(id_of(a.data()));
    }
    let caps = [("chat", 100 * MIB), ("moment", 20 * MIB), ("feedback", 20 * MIB), ("log", 20 * MIB), ("avatar", 5 * MIB), ("emoji", 2 * MIB)];
    for (purpose, cap) in caps {
        let a = initiate(&api, &ann.token, json!({ "name": "big.bin", "size": cap + 1, "purpose": purpose })).await;
        assert_error(a, 413, "too_large", &format!("{purpose} of its cap + 1 byte"));
        open.push(id_of(&initiated(&api, &ann, "cap.bin", cap, purpose).await));
    }
    for size in [PART, PART + 1] {
        open.push(id_of(&initiated(&api, &ann, "edge.bin", size, "chat").await));
    }
    for id in open {
        aborted(&api, &ann.token, &id).await;
    }
}

#[tokio::test]
async fn the_twenty_first_open_upload_of_a_user_is_429_and_closing_one_frees_a_slot() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fopen"), new_user(&api, "fopenb"));
    let mut open = Vec::new();
    for i in 1..=20 {
        open.push(id_of(&initiated(&api, &ann, &format!("f{i}.bin"), 1, "chat").await));
    }
    assert_status(initiate(&api, &ann.token, json!({ "name": "f21.bin", "size": 1, "purpose": "chat" })).await, 429, "the 21st open upload");
    // Another user is not limited by Ann's uploads.
    let b = id_of(&initiated(&api, &bob, "b.bin", 1, "chat").await);
    aborted(&api, &bob.token, &b).await;

    // Aborting one frees a slot; so does completing one.
    let first = open.remove(0);
    aborted(&api, &ann.token, &first).await;
    open.push(id_of(&initiated(&api, &ann, "again.bin", 1, "chat").await));
    assert_status(initiate(&api, &ann.token, json!({ "name": "f22.bin", "size": 1, "purpose": "chat" })).await, 429, "full again");
    let second = open.remove(0);
    put_ok(&api, &ann.token, &second, 1, b"x").await;
    assert_status(complete(&api, &ann.token, &second, json!({})).await, 200, "completing one");
    open.push(id_of(&initiated(&api, &ann, "after.bin", 1, "chat").await));
    for id in open {
        aborted(&api, &ann.token, &id).await;
    }
}

// ---------------------------------------------------------------------------
// 5. Purpose rules at completion, and what is served how.

#[tokio::test]
async fn an_avatar_moment_or_emoji_that_is_not_an_image_is_unsupported_and_stays_open_to_abort() {
    let api = Api::new();
    let ann = new_user(&api, "funsup").await;
    for (purpose, bytes) in [("avatar", text()), ("moment", text()), ("emoji", noise(500)), ("avatar", noise(500))] {
        let id = id_of(&initiated(&api, &ann, "not-an-image.png", bytes.len(), purpose).await);
        put_all(&api, &ann.token, &id, &bytes).await;
        let what = format!("a {purpose} that is not an image");
        assert_error(complete(&api, &ann.token, &id, json!({})).await, 422, "unsupported_type", &what);
        let st = assert_status(upload_status(&api, &ann.token, &id).await, 200, &what);
        assert_eq!(st.data()["status"], "uploading", "{what}: the upload stays open: {}", st.body);
        assert_gone_404(&fetch(&api, &format!("/api/file/{id}"), Some(&ann.token), None).await, &what);
        aborted(&api, &ann.token, &id).await;
    }
}

#[tokio::test]
async fn avatars_emoji_and_moments_accept_png_jpeg_and_gif_with_their_sizes_and_thumbnails() {
    let api = Api::new();
    let ann = new_user(&api, "fimages").await;
    // (purpose, name, bytes, sniffed MIME, (width, height))
    type Case<'a> = (&'a str, &'a str, Vec<u8>, &'a str, (u32, u32));
    let cases: Vec<Case> = vec![
        ("avatar", "me.png", picture(200, 100, image::ImageFormat::Jpeg), "image/jpeg", (200, 100)),
        ("emoji", "smile.png", png(64, 48), "image/png", (64, 48)),
        ("emoji", "dot.gif", GIF_1X1.to_vec(), "image/gif", (1, 1)),
        ("moment", "trip.jpg", png(500, 700), "image/png", (500, 700)),
        ("avatar", "big.png", png(640, 480), "image/png", (640, 480)),
    ];
    for (purpose, name, bytes, mime, dims) in cases {
        let d = upload(&api, &ann, name, purpose, &bytes).await;
        let id = id_of(&d);
        assert_file(&d, &id, name, &bytes, mime, "image", Some(dims));
        let what = format!("{purpose} {name}");
        let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
        assert_served(&g, &bytes, mime, "inline", &what);
        let t = fetch_until(&api, &format!("/api/file/{id}?thumb=1"), Some(&ann.token), 200).await;
        assert_thumbnail(&t, &format!("{what}: thumbnail"));
    }
}

#[tokio::test]
async fn a_chat_text_file_is_served_as_an_attachment_with_its_name_and_has_no_thumbnail() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ftext"), new_user(&api, "ftextb"));
    let bytes = text();
    let name = "notes from the meeting.txt";
    let d = upload(&api, &ann, name, "chat", &bytes).await;
    let id = id_of(&d);
    let mime = d["mime"].as_str().unwrap_or_default().to_owned();
    assert!(mime == "application/octet-stream" || mime.starts_with("text/plain"), "plain text is unknown content (or text/plain): {}", d);
    assert_file(&d, &id, name, &bytes, &mime, "file", None);
    for (who, token) in [("the owner", &ann.token), ("another user", &bob.token)] {
        let g = fetch_until(&api, &format!("/api/file/{id}"), Some(token), 200).await;
        assert_served(&g, &bytes, &mime, &format!("attachment; filename=\"{name}\""), &format!("{who}: a text file"));
    }
    assert_gone_404(&fetch(&api, &format!("/api/file/{id}?thumb=1"), Some(&ann.token), None).await, "the thumbnail of a text file");
}

#[tokio::test]
async fn html_content_is_never_served_as_text_html_but_as_a_nosniff_attachment() {
    let api = Api::new();
    let ann = new_user(&api, "fhtml").await;
    let bytes = format!("<!DOCTYPE html>\n<html><head><script>alert(document.cookie)</script></head><body>{}</body></html>\n", unique("x")).into_bytes();
    let d = upload(&api, &ann, "page.html", "chat", &bytes).await;
    let id = id_of(&d);
    // The metadata says what the bytes are; only the download is defused (docs/services.md, "Downloads").
    assert_eq!(d["mime"], "text/html", "{d}");
    assert_eq!(d["kind"], "file", "{d}");
    let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
    assert_served(&g, &bytes, "application/octet-stream", "attachment; filename=\"page.html\"", "HTML content");
    assert!(!g.header("content-type").to_ascii_lowercase().contains("html"), "not served as HTML: {:?}", g.headers);
}

// ---------------------------------------------------------------------------
// 6. Ranges.

#[tokio::test]
async fn ranges_answer_206_with_content_range_and_an_unsatisfiable_one_416() {
    let api = Api::new();
    let ann = new_user(&api, "frange").await;
    let bytes = noise(1000);
    let id = id_of(&upload(&api, &ann, "range.bin", "chat", &bytes).await);
    let url = format!("/api/file/{id}");
    let whole = fetch_until(&api, &url, Some(&ann.token), 200).await;
    assert_eq!(whole.status.as_u16(), 200, "{}", whole.show());

    let ranges: [(&str, usize, usize); 5] =
        [("bytes=0-9", 0, 9), ("bytes=-5", 995, 999), ("bytes=5-", 5, 999), ("bytes=999-999", 999, 999), ("bytes=990-5000", 990, 999)];
    for (range, a, b) in ranges {
        let g = fetch(&api, &url, Some(&ann.token), Some(range)).await;
        assert_eq!(g.status.as_u16(), 206, "{range}: {}", g.show());
        assert_eq!(g.header("content-range"), format!("bytes {a}-{b}/1000"), "{range}: {:?}", g.headers);
        assert_eq!(g.header("content-length"), (b - a + 1).to_string(), "{range}: {:?}", g.headers);
        assert!(g.bytes == bytes[a..=b], "{range}: the bytes {a}..={b} ({} served)", g.bytes.len());
    }
    for range in ["bytes=1000-", "bytes=2000-3000", "bytes=1000-1010"] {
        let g = fetch(&api, &url, Some(&ann.token), Some(range)).await;
        assert_eq!(g.status.as_u16(), 416, "{range}: {}", g.show());
        assert_eq!(g.header("content-range"), "bytes */1000", "{range}: {:?}", g.headers);
    }
}

// ---------------------------------------------------------------------------
// 7. Idempotence and repeated content.

#[tokio::test]
async fn completing_twice_answers_the_same_file() {
    let api = Api::new();
    let ann = new_user(&api, "ftwice").await;
    let bytes = png(120, 90);
    let first = upload(&api, &ann, "twice.png", "chat", &bytes).await;
    let id = id_of(&first);
    assert_file(&first, &id, "twice.png", &bytes, "image/png", "image", Some((120, 90)));
    for body in [json!({}), json!({ "content_hash": content_hash_of(&bytes) })] {
        let again = assert_status(complete(&api, &ann.token, &id, body).await, 200, "completing again");
        assert_eq!(again.data(), &first, "the same answer");
    }
    let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
    assert_served(&g, &bytes, "image/png", "inline", "after completing twice");
}

#[tokio::test]
async fn the_same_bytes_again_are_a_new_file_for_their_owner_and_for_another_user_who_learns_nothing_of_the_first() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fdedup"), new_user(&api, "fdedupb"));
    let bytes = png(360, 240);
    let hash = content_hash_of(&bytes);

    let a = upload(&api, &ann, "first.png", "chat", &bytes).await;
    let b = upload(&api, &ann, "second.png", "chat", &bytes).await;
    let (ida, idb) = (id_of(&a), id_of(&b));
    assert_ne!(ida, idb, "a new upload is a new file");
    assert_file(&a, &ida, "first.png", &bytes, "image/png", "image", Some((360, 240)));
    assert_file(&b, &idb, "second.png", &bytes, "image/png", "image", Some((360, 240)));
    assert_eq!((a["content_hash"].as_str(), b["content_hash"].as_str()), (Some(hash.as_str()), Some(hash.as_str())));
    for id in [&ida, &idb] {
        let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
        assert_served(&g, &bytes, "image/png", "inline", "a file of repeated bytes");
    }

    // Bob uploads the same bytes: every answer he gets is about his own file only.
    let mut seen = Vec::new();
    let init = assert_status(initiate(&api, &bob.token, json!({ "name": "mine.png", "size": bytes.len(), "purpose": "chat" })).await, 201, "Bob initiating");
    seen.push(init.body.to_string());
    let idc = id_of(init.data());
    let p = assert_status(put_part(&api, &bob.token, &idc, 1, &bytes).await, 200, "Bob's part");
    seen.push(p.body.to_string());
    let st = assert_status(upload_status(&api, &bob.token, &idc).await, 200, "Bob's status");
    seen.push(st.body.to_string());
    let c = assert_status(complete(&api, &bob.token, &idc, json!({})).await, 200, "Bob completing");
    seen.push(c.body.to_string());
    assert_file(c.data(), &idc, "mine.png", &bytes, "image/png", "image", Some((360, 240)));
    assert!(idc != ida && idc != idb);
    let info_path = format!("/api/file/{idc}/info");
    let info = until(|| api.get(&info_path, Some(&bob.token)), |a| a.status == 200).await;
    let info = assert_status(info, 200, "Bob's file info");
    assert_eq!(info.data()["owner_id"], bob.id.as_str(), "{}", info.body);
    seen.push(info.body.to_string());
    let g = fetch_until(&api, &format!("/api/file/{idc}"), Some(&bob.token), 200).await;
    assert_served(&g, &bytes, "image/png", "inline", "Bob's copy");
    seen.push(format!("{:?}", g.headers));
    let t = fetch_until(&api, &format!("/api/file/{idc}?thumb=1"), Some(&bob.token), 200).await;
    assert_thumbnail(&t, "Bob's thumbnail");
    seen.push(format!("{:?}", t.headers));
    for s in &seen {
        for secret in [&ida, &idb, &ann.id] {
            assert!(!s.contains(secret.as_str()), "an answer to Bob reveals Ann's {secret}: {s}");
        }
    }

    // Ann deletes her first copy: the second and Bob's still download, thumbnails too.
    let del = assert_status(delete_file(&api, &ann.token, &ida).await, 200, "deleting the first copy");
    assert_eq!(del.data()["deleted"], true, "{}", del.body);
    assert_gone_404(&fetch_until(&api, &format!("/api/file/{ida}"), Some(&ann.token), 404).await, "the deleted copy");
    for (id, token) in [(&idb, &ann.token), (&idc, &bob.token)] {
        let g = fetch(&api, &format!("/api/file/{id}"), Some(token), None).await;
        assert_served(&g, &bytes, "image/png", "inline", "a copy whose twin was deleted");
        assert_thumbnail(&fetch(&api, &format!("/api/file/{id}?thumb=1"), Some(token), None).await, "its thumbnail");
    }
}

// ---------------------------------------------------------------------------
// 8. Info and deletion.

#[tokio::test]
async fn info_shows_owner_and_created_at_and_only_the_owner_deletes_a_file_which_is_then_404_for_everyone() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fdel"), new_user(&api, "fdelb"));
    let bytes = png(330, 200);
    let done = upload(&api, &ann, "delete me.png", "chat", &bytes).await;
    let id = id_of(&done);
    let (url, thumb, info_path) = (format!("/api/file/{id}"), format!("/api/file/{id}?thumb=1"), format!("/api/file/{id}/info"));

    let info = until(|| api.get(&info_path, Some(&ann.token)), |a| a.status == 200).await;
    let info = assert_status(info, 200, "the file's info");
    let d = info.data();
    for (k, v) in done.as_object().unwrap() {
        assert_eq!(&d[k], v, "info repeats the complete answer's {k}: {d}");
    }
    assert_eq!(d["owner_id"], ann.id.as_str(), "{d}");
    assert_near(&d["created_at"], OffsetDateTime::now_utc(), "created_at");

    // Bob may read it but not delete it.
    assert_status(delete_file(&api, &bob.token, &id).await, 404, "a non-owner deleting");
    for (who, token) in [("the owner", &ann.token), ("another user", &bob.token)] {
        let g = fetch_until(&api, &url, Some(token), 200).await;
        assert_served(&g, &bytes, "image/png", "inline", &format!("{who} after a refused delete"));
    }

    let del = assert_status(delete_file(&api, &ann.token, &id).await, 200, "the owner deleting");
    assert_eq!(del.data(), &json!({ "file_id": id, "deleted": true }), "{}", del.body);
    for (who, token) in [("the owner", &ann.token), ("another user", &bob.token)] {
        for path in [&url, &thumb, &info_path] {
            let g = fetch_until(&api, path, Some(token), 404).await;
            assert_gone_404(&g, &format!("{who}: {path} after deletion"));
        }
    }
    let g = fetch(&api, &format!("{url}?access_token={}", bob.token), None, None).await;
    assert_gone_404(&g, "a deleted file by ?access_token=");
}

// ---------------------------------------------------------------------------
// 9. Events.

/// Every `beaver.files.v1` record keyed by, or mentioning, one of `ids`: (key, value size, value), in topic order.
async fn file_records(ids: &[String]) -> Vec<(String, usize, Value)> {
    let ids = ids.to_vec();
    records_where(TOPIC, move |key, v| {
        let text = v.to_string();
        ids.iter().any(|id| key == id || text.contains(id.as_str()))
    })
    .await
}

fn of_file<'a>(records: &'a [(String, usize, Value)], id: &str) -> Vec<&'a (String, usize, Value)> {
    records.iter().filter(|(k, _, v)| k == id || v.to_string().contains(id)).collect()
}

fn types(records: &[&(String, usize, Value)]) -> Vec<String> {
    records.iter().map(|(_, _, v)| v["event_type"].as_str().unwrap_or("?").to_owned()).collect()
}

/// Absent or null.
fn absent(v: &Value, k: &str) -> bool {
    v.get(k).is_none_or(Value::is_null)
}

#[tokio::test]
async fn the_upload_steps_and_the_stored_file_are_events_keyed_by_file_id_that_never_carry_the_bytes() {
    let api = Api::new();
    let ann = new_user(&api, "fevents").await;

    // An 8 MiB + 100 upload, a small PNG later deleted, an aborted upload.
    let big = noise(PART + 100);
    let init = initiated(&api, &ann, "big.bin", big.len(), "chat").await;
    let big_id = id_of(&init);
    put_all(&api, &ann.token, &big_id, &big).await;
    let big_done = assert_status(complete(&api, &ann.token, &big_id, json!({})).await, 200, "completing the big file");
    let big_hash = content_hash_of(&big);
    assert_eq!(big_done.data()["content_hash"], big_hash.as_str());

    let pic = png(100, 80);
    let pic_id = id_of(&upload(&api, &ann, "pic.png", "emoji", &pic).await);
    let pic_hash = content_hash_of(&pic);
    assert_status(delete_file(&api, &ann.token, &pic_id).await, 200, "deleting the picture");

    let gone_id = id_of(&initiated(&api, &ann, "gone.bin", 5, "chat").await);
    aborted(&api, &ann.token, &gone_id).await;

    let ids = vec![big_id.clone(), pic_id.clone(), gone_id.clone()];
    let deadline = Instant::now() + Duration::from_secs(15);
    let records = loop {
        let r = file_records(&ids).await;
        let complete_set = types(&of_file(&r, &big_id)).contains(&"FileStored".to_owned())
            && types(&of_file(&r, &pic_id)).contains(&"FileDeleted".to_owned())
            && types(&of_file(&r, &gone_id)).contains(&"UploadAborted".to_owned());
        if complete_set || Instant::now() >= deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // Every record: keyed by its file id, the aggregate, Ann's; none carries bytes.
    for (key, size, v) in &records {
        let fid = v["payload"]["file_id"].as_str().unwrap_or_default();
        assert!(ids.contains(&fid.to_owned()), "a payload.file_id of ours: {v}");
        assert_eq!(key, fid, "keyed by file id: {v}");
        assert_eq!(v["aggregate_id"], fid, "{v}");
        assert_eq!(v["payload"]["owner_id"], ann.id.as_str(), "{v}");
        assert!(*size < 4096, "a record of {size} bytes: file bytes must never go into Kafka: {}", v.to_string().chars().take(300).collect::<String>());
    }

    // The big file: initiated, two parts, stored.
    let big_recs = of_file(&records, &big_id);
    assert_eq!(types(&big_recs), ["UploadInitiated", "UploadPartReceived", "UploadPartReceived", "FileStored"], "{big_recs:#?}");
    let p = &big_recs[0].2["payload"];
    assert_eq!(p["file_id"], big_id.as_str(), "{p}");
    assert_eq!(p["name"], "big.bin", "{p}");
    assert_eq!(p["size"], big.len() as u64, "{p}");
    assert_eq!(p["purpose"], "chat", "{p}");
    assert_eq!(p["part_size"], PART as u64, "{p}");
    assert_eq!(p["part_count"], 2, "{p}");
    assert_eq!(instant(&p["expires_at"]), instant(&init["expires_at"]), "expires_at as answered: {p}");
    let mut parts: Vec<(u64, u64, String)> = big_recs[1..3]
        .iter()
        .map(|(_, _, v)| {
            let p = &v["payload"];
            (p["part_no"].as_u64().unwrap_or(0), p["size"].as_u64().unwrap_or(0), p["sha256"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    parts.sort();
    assert_eq!(parts, vec![(1, PART as u64, sha256_hex(&big[..PART])), (2, 100, sha256_hex(&big[PART..]))]);
    let s = &big_recs[3].2["payload"];
    assert_eq!(s["name"], "big.bin", "{s}");
    assert_eq!(s["size"], big.len() as u64, "{s}");
    assert_eq!(s["purpose"], "chat", "{s}");
    assert_eq!(s["mime"], "application/octet-stream", "{s}");
    assert_eq!(s["kind"], "file", "{s}");
    assert_eq!(s["content_hash"], big_hash.as_str(), "{s}");
    assert_eq!(s["blob_key"], format!("blobs/{}/{big_hash}", &big_hash[..2]), "{s}");
    for k in ["width", "height", "thumb_key"] {
        assert!(absent(s, k), "no {k} for a non-image: {s}");
    }

    // The picture: stored with its size and thumbnail key, then deleted.
    let pic_recs = of_file(&records, &pic_id);
    assert_eq!(types(&pic_recs), ["UploadInitiated", "UploadPartReceived", "FileStored", "FileDeleted"], "{pic_recs:#?}");
    let s = &pic_recs[2].2["payload"];
    assert_eq!((s["mime"].as_str(), s["kind"].as_str(), s["purpose"].as_str()), (Some("image/png"), Some("image"), Some("emoji")), "{s}");
    assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(100), Some(80)), "{s}");
    assert_eq!(s["content_hash"], pic_hash.as_str(), "{s}");
    assert_eq!(s["blob_key"], format!("blobs/{}/{pic_hash}", &pic_hash[..2]), "{s}");
    assert_eq!(s["thumb_key"], format!("thumbs/{pic_hash}_320.jpg"), "{s}");

    // The aborted upload.
    let gone_recs = of_file(&records, &gone_id);
    assert_eq!(types(&gone_recs), ["UploadInitiated", "UploadAborted"], "{gone_recs:#?}");
    assert_eq!(gone_recs[1].2["payload"]["reason"], "aborted", "{:?}", gone_recs[1]);
}

// ---------------------------------------------------------------------------
// 10. The gateway's body limit.

#[tokio::test]
async fn the_gateway_still_refuses_100_kib_bodies_elsewhere_but_passes_a_100_kib_part() {
    let api = Api::new();
    let ann = new_user(&api, "fgate").await;
    let big_json = json!({ "category": "bug", "text": "x".repeat(100 * 1024) });
    let a = api.post("/api/feedback", Some(&ann.token), big_json).await;
    assert_error(a, 413, "payload_too_large", "a 100 KiB body to /api/feedback");

    let bytes = noise(100 * 1024);
    let id = id_of(&initiated(&api, &ann, "hundred.bin", bytes.len(), "chat").await);
    put_ok(&api, &ann.token, &id, 1, &bytes).await;
    let done = assert_status(complete(&api, &ann.token, &id, json!({})).await, 200, "completing the 100 KiB file");
    assert_file(done.data(), &id, "hundred.bin", &bytes, "application/octet-stream", "file", None);
    let g = fetch_until(&api, &format!("/api/file/{id}"), Some(&ann.token), 200).await;
    assert_served(&g, &bytes, "application/octet-stream", "attachment; filename=\"hundred.bin\"", "the 100 KiB file");
}

// ---------------------------------------------------------------------------
// Using files ("Using files"): chat media and avatars.

#[tokio::test]
async fn chat_media_must_name_a_stored_file_and_an_avatar_must_be_ones_own_image() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fuse"), new_user(&api, "fuset"));
    crate::friends::befriend(&api, &ann, &bob).await;
    let picture = png(40, 30);
    let stored = id_of(&upload(&api, &ann, "p.png", "chat", &picture).await);
    let send = |content: Value, kind: &str| {
        let body = json!({ "to_user_id": bob.id, "client_msg_id": unique("c"), "type": kind, "content": content });
        let token = ann.token.clone();
        let api = &api;
        async move { api.post("/api/chat/send", Some(&token), body).await }
    };
    // A stored file, also by its thumbnail, is accepted; a file id nobody completed is not.
    send(json!({ "url": format!("/api/file/{stored}"), "width": 40, "height": 30 }), "image").await.expect(200);
    send(json!({ "url": format!("/api/file/{stored}"), "duration_ms": 10, "cover_url": format!("/api/file/{stored}?thumb=1") }), "video").await.expect(200);
    let open = id_of(&initiated(&api, &ann, "open.bin", 10, "chat").await);
    for url in [format!("/api/file/{}", uuid::Uuid::new_v4()), format!("/api/file/{open}"), "/api/file/not-an-id".to_owned()] {
        let a = send(json!({ "url": url }), "image").await.expect(422);
        assert_eq!(a.data()["field"], "content", "{url}: {}", a.body);
    }
    // Other URLs are accepted as before.
    send(json!({ "url": "https://img.example/x.png" }), "image").await.expect(200);

    // An avatar on the file service: one's own stored image only.
    let text = id_of(&upload(&api, &ann, "t.txt", "chat", b"just some text, not a picture").await);
    for (who, id) in [(&bob, stored.clone()), (&ann, text.clone()), (&ann, uuid::Uuid::new_v4().to_string())] {
        let a = api.put("/api/user/profile", Some(&who.token), json!({ "avatar": format!("/api/file/{id}") })).await.expect(422);
        assert_eq!(a.data()["field"], "avatar", "{}", a.body);
    }
    let a = api.put("/api/user/profile", Some(&ann.token), json!({ "avatar": format!("/api/file/{stored}") })).await.expect(200);
    assert_eq!(a.data()["avatar"], format!("/api/file/{stored}"), "{}", a.body);
}
