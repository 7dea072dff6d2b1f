//! Official emoji packs (docs/services.md, "Emoji" → "Official packs
//! (operators)"): `beaver-admin emoji import <dir>` and `emoji delete`
//! against the real stack, checked through the gateway (what a signed-in
//! user sees, reads, collects and may not delete), the file store and the
//! topics. Written from the spec alone.
//!
//! The tests that import or delete official packs take turns around those
//! commands (`OFFICIAL`), so that the refusal test can count the official
//! packs before and after without another test's import in between.

use crate::helpers::{account, eventually, unique, Account, Answer, Api};
use crate::{admin_binary, root, stdout, succeeded, LONG};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const PACKS: &str = "/api/emoji/packs";
const COLLECTED: &str = "/api/emoji/collected";
const EMOJI: &str = "beaver.emoji.v1";
const FILES: &str = "beaver.files.v1";
/// The official owner: no user has this id.
const OFFICIAL_OWNER: &str = "00000000-0000-0000-0000-000000000000";
/// How long a projection may take to show an operator's action.
const SETTLE: Duration = Duration::from_secs(15);
/// The upload protocol's fixed part size, for the content hash.
const PART: usize = 8 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

static OFFICIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The operator these tests act as (`--operator`), recorded as the actor.
static OPERATOR: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| unique("emop"));

// ---------------------------------------------------------------------------
// Running the admin.

/// The file store the stack uses (deploy/lib.sh: `$BEAVER_STATE_DIR/files`).
fn file_store() -> PathBuf {
    if let Ok(p) = std::env::var("BEAVER_FILE_STORE") {
        return p.into();
    }
    let state = std::env::var("BEAVER_STATE_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join(".state"));
    state.join("files")
}

/// `beaver-admin args…` in an operator's environment for this stack (the
/// stack's brokers, database, Redis and file store).
async fn run(args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::from(Command::new(admin_binary()));
    cmd.args(args)
        .env("BEAVER_KAFKA_BROKERS", crate::helpers::brokers())
        .env("BEAVER_DATABASE_URL", crate::helpers::database_url())
        .env("BEAVER_FILE_STORE", file_store())
        .kill_on_drop(true);
    if std::env::var("BEAVER_REDIS_URL").is_err() {
        let port = std::env::var("BEAVER_REDIS_PORT").unwrap_or_else(|_| "6379".into());
        cmd.env("BEAVER_REDIS_URL", format!("redis://127.0.0.1:{port}"));
    }
    match tokio::time::timeout(LONG * 2, cmd.output()).await {
        Ok(out) => out.expect("run beaver-admin"),
        Err(_) => panic!("beaver-admin {args:?} did not finish within {:?}", LONG * 2),
    }
}

/// Everything the command wrote, stdout then stderr.
fn said(out: &Output) -> String {
    format!("{}\n{}", stdout(out), String::from_utf8_lossy(&out.stderr))
}

fn refused_with_1(out: &Output, what: &str) {
    assert!(!out.status.success(), "{what} must be refused, but it succeeded:\n{}", said(out));
    assert_eq!(out.status.code(), Some(1), "{what}: exit 1:\n{}", said(out));
}

/// The whole stdout as one JSON document.
fn json_out(out: &Output) -> Value {
    let s = stdout(out);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{s}"))
}

/// Every distinct UUID in `text`, in order of appearance.
fn uuids_in(text: &str) -> Vec<uuid::Uuid> {
    let mut seen = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        if let Ok(u) = uuid::Uuid::parse_str(word) {
            if word.len() == 36 && !seen.contains(&u) {
                seen.push(u);
            }
        }
    }
    seen
}

/// The UUIDs on stdout that are packs (readable through the API).
async fn printed_packs(api: &Api, token: &str, out: &Output) -> Vec<String> {
    let mut packs = Vec::new();
    for u in uuids_in(&stdout(out)) {
        let id = u.to_string();
        if get_pack(api, token, &id).await.status == 200 {
            packs.push(id);
        }
    }
    packs
}

/// The pack id a plain `emoji import` printed: the one UUID on stdout that
/// is a pack (a UUIDv5 of the title and the items' hashes).
async fn printed_pack_id(api: &Api, token: &str, out: &Output) -> String {
    let packs = eventually(SETTLE, || async { Some(printed_packs(api, token, out).await).filter(|p| !p.is_empty()) }).await.unwrap_or_default();
    assert_eq!(packs.len(), 1, "emoji import prints the pack id (one readable pack among the UUIDs printed):\n{}", said(out));
    let id = packs[0].clone();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 5, "the pack id is a UUIDv5 of the title and the items' hashes: {id}");
    id
}

/// `emoji import <dir> --title <title> extra…`, in turn with the other
/// official imports and deletions; when it succeeds, waits until the pack it
/// printed is readable (so the next turn sees it).
async fn import(api: &Api, token: &str, dir: &Path, title: &str, extra: &[&str]) -> Output {
    let _turn = OFFICIAL.lock().await;
    import_in_turn(api, token, dir, title, extra).await
}

async fn import_in_turn(api: &Api, token: &str, dir: &Path, title: &str, extra: &[&str]) -> Output {
    let mut args = vec!["emoji", "import", dir.to_str().unwrap(), "--title", title, "--operator", &OPERATOR];
    args.extend(extra);
    let out = run(&args).await;
    if out.status.success() {
        eventually(SETTLE, || async { (!printed_packs(api, token, &out).await.is_empty()).then_some(()) }).await;
    }
    out
}

/// `emoji delete <id>`, in turn; when it succeeds, waits until the pack is 404.
async fn admin_delete(api: &Api, token: &str, id: &str) -> Output {
    let _turn = OFFICIAL.lock().await;
    let out = run(&["emoji", "delete", id, "--operator", &OPERATOR]).await;
    if out.status.success() {
        eventually(SETTLE, || async { (get_pack(api, token, id).await.status == 404).then_some(()) }).await;
    }
    out
}

/// Deletes an official pack a test made (tidying the public list).
async fn tidy(api: &Api, token: &str, id: &str) {
    let out = admin_delete(api, token, id).await;
    succeeded(&out, &format!("emoji delete {id}"));
}

// ---------------------------------------------------------------------------
// Folders and images.

/// A fresh folder under the temp dir, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Self {
        let p = std::env::temp_dir().join(unique("beaver-emoji-import"));
        std::fs::create_dir_all(&p).unwrap();
        Folder(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).unwrap();
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.0.join(name)).unwrap();
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh random 64-bit stream.
fn noise() -> impl FnMut() -> u64 {
    let mut x = uuid::Uuid::new_v4().as_u128() as u64 | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// A `w`×`h` picture (a gradient with noise, unique per call) encoded as `format`.
fn picture(w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let mut r = noise();
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, r() as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    picture(w, h, image::ImageFormat::Png)
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    picture(w, h, image::ImageFormat::Jpeg)
}

/// A `w`×`h` PNG of pure noise: about 3 bytes a pixel.
fn noisy_png(w: u32, h: u32) -> Vec<u8> {
    let mut r = noise();
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        let x = r();
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A valid 1×1 GIF89a whose two palette colours are random (unique bytes per call).
fn gif() -> Vec<u8> {
    let mut g: Vec<u8> = vec![
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
    ];
    let r = noise()().to_le_bytes();
    g[13..19].copy_from_slice(&r[..6]);
    g
}

/// Plain text, unique per call.
fn text() -> Vec<u8> {
    let marker = unique("line");
    (1..=20).map(|i| format!("{i}: notes, not an image ({marker})\n")).collect::<String>().into_bytes()
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// The upload protocol's `content_hash`: `hex(sha256(join(",", hex(sha256(part_i)))))`.
fn content_hash_of(bytes: &[u8]) -> String {
    let parts: Vec<String> = bytes.chunks(PART).map(sha256_hex).collect();
    sha256_hex(parts.join(",").as_bytes())
}

/// Whether any blob named `hash` is in the file store (`blobs/<hh>/<hash>`).
fn blob_in_store(hash: &str) -> bool {
    let blobs = file_store().join("blobs");
    let Ok(dirs) = std::fs::read_dir(&blobs) else { return false };
    dirs.flatten().any(|d| d.path().join(hash).exists())
}

/// The first `n` characters of `s`.
fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A fresh 12-hex-digit tag.
fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

// ---------------------------------------------------------------------------
// The API.

fn status(a: Answer, want: u16, what: &str) -> Answer {
    assert_eq!(a.status.as_u16(), want, "{what}: {}", a.body);
    a.expect(want)
}

async fn get_pack(api: &Api, token: &str, id: &str) -> Answer {
    api.get(&format!("{PACKS}/{id}"), Some(token)).await
}

/// The pack, once readable: 200; its data.
async fn pack_of(api: &Api, token: &str, id: &str) -> Value {
    let found = eventually(SETTLE, || async {
        let a = get_pack(api, token, id).await;
        (a.status == 200).then_some(a)
    })
    .await;
    match found {
        Some(a) => status(a, 200, &format!("GET {PACKS}/{id}")).data().clone(),
        None => panic!("GET {PACKS}/{id} never 200: {}", get_pack(api, token, id).await.body),
    }
}

async fn delete_via_api(api: &Api, token: &str, path: &str) -> Answer {
    api.call(Method::DELETE, path, Some(token), None).await
}

async fn collect(api: &Api, token: &str, id: &str) -> Answer {
    api.put(&format!("{PACKS}/{id}/collect"), Some(token), json!({})).await
}

/// `GET /api/emoji/collected{query}`: 200; its data.
async fn collected(api: &Api, token: &str, query: &str) -> Value {
    let a = status(api.get(&format!("{COLLECTED}{query}"), Some(token)).await, 200, &format!("GET {COLLECTED}{query}"));
    let d = a.data().clone();
    assert!(d["packs"].is_array() && d["removed"].is_array() && d["version"].is_i64(), "packs, removed and version: {d}");
    d
}

fn pack_ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap_or_else(|| panic!("a list: {list}")).iter().map(|e| e["pack_id"].as_str().unwrap_or("?").to_owned()).collect()
}

/// The public list (`query` like `official=true`, or empty), newest first,
/// page by page (`limit=50`, `before` the last), at most `pages` pages: every entry.
async fn listing(api: &Api, token: &str, query: &str, pages: usize) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    let sep = if query.is_empty() { "" } else { "&" };
    for _ in 0..pages {
        let path = match &before {
            Some(b) => format!("{PACKS}?{query}{sep}limit=50&before={b}"),
            None => format!("{PACKS}?{query}{sep}limit=50"),
        };
        let a = status(api.get(&path, Some(token)).await, 200, &format!("GET {path}"));
        let page = a.data()["packs"].as_array().unwrap_or_else(|| panic!("a packs list: {}", a.body)).clone();
        let more = a.data()["has_more"].as_bool().unwrap_or_else(|| panic!("a boolean has_more: {}", a.body));
        let last = page.last().and_then(|p| p["pack_id"].as_str()).map(str::to_owned);
        let fresh = page.iter().filter(|p| !seen.iter().any(|s| s["pack_id"] == p["pack_id"])).count();
        seen.extend(page);
        if !more || last.is_none() || last == before || fresh == 0 {
            break;
        }
        before = last;
    }
    seen
}

fn entry<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|p| p["pack_id"] == id)
}

/// Every official pack in the public list (each marked `official: true`).
async fn official_packs(api: &Api, token: &str) -> BTreeSet<String> {
    let all = listing(api, token, "official=true", 200).await;
    for p in &all {
        assert_eq!(p["official"], true, "official=true lists only official packs: {p}");
    }
    all.iter().map(|p| p["pack_id"].as_str().unwrap_or("?").to_owned()).collect()
}

/// A download: (status, content type, bytes), retried until 200 or `SETTLE`.
async fn download(api: &Api, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let resp = api.raw(Method::GET, path).bearer_auth(token).send().await.expect("gateway unreachable");
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = resp.bytes().await.unwrap().to_vec();
        if status == 200 || std::time::Instant::now() >= deadline {
            return (status, ct, bytes);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Uploads `bytes` as `purpose` for `user` (initiate, one part, complete); the file id.
async fn upload(api: &Api, user: &Account, name: &str, purpose: &str, bytes: &[u8]) -> String {
    let a = api.post("/api/file/uploads", Some(&user.token), json!({ "name": name, "size": bytes.len(), "purpose": purpose })).await;
    let a = status(a, 201, &format!("initiating {name}"));
    let id = a.data()["file_id"].as_str().unwrap().to_owned();
    let req = api
        .raw(Method::PUT, &format!("/api/file/uploads/{id}/parts/1"))
        .bearer_auth(&user.token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec());
    status(api.send(req).await, 200, &format!("the part of {name}"));
    status(api.post(&format!("/api/file/uploads/{id}/complete"), Some(&user.token), json!({})).await, 200, &format!("completing {name}"));
    id
}

/// A user's own pack of one fresh image: its id.
async fn user_pack(api: &Api, user: &Account, title: &str) -> String {
    let f = upload(api, user, "mine.png", "emoji", &png(16, 16)).await;
    let a = status(api.post(PACKS, Some(&user.token), json!({ "title": title, "items": [{ "file_id": f }] })).await, 200, "a user's pack");
    a.data()["pack_id"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------
// Events.

/// Every record of `topic` that `keep(key, value)` keeps: (key, value), in topic order.
async fn records(topic: &'static str, keep: impl Fn(&str, &Value) -> bool + Send + 'static) -> Vec<(String, Value)> {
    crate::helpers::records_where(topic, keep).await.into_iter().map(|(k, _, v)| (k, v)).collect()
}

/// Records of `topic` of type `ty` whose key or JSON mentions one of `marks`.
async fn mentioning(topic: &'static str, ty: &'static str, marks: Vec<String>) -> Vec<(String, Value)> {
    records(topic, move |k, v| v["event_type"] == ty && marks.iter().any(|m| k.contains(m.as_str()) || v.to_string().contains(m.as_str()))).await
}

fn assert_operator(ev: &Value) {
    assert_eq!(ev["actor"], json!({ "kind": "operator", "id": OPERATOR.as_str() }), "the operator actor: {ev}");
}

// ---------------------------------------------------------------------------
// Importing.

#[tokio::test]
async fn an_imported_folder_is_an_official_pack_in_file_name_order_whose_images_any_user_reads() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(account(&api, "emoff"), account(&api, "emoffb"));
    let t = tag();
    let title = format!("Classics {t}");
    let description = format!("The app's own stickers {t}");
    let long_stem = format!("b_{t}_{}", "ö".repeat(30));
    let files: Vec<(String, String, Vec<u8>, &str, (u64, u64))> = vec![
        (format!("a_{t}.png"), format!("a_{t}"), png(40, 30), "image/png", (40, 30)),
        (format!("{long_stem}.gif"), cut(&long_stem, 32), gif(), "image/gif", (1, 1)),
        (format!("c_{t}.jpg"), format!("c_{t}"), jpeg(50, 20), "image/jpeg", (50, 20)),
    ];
    let folder = Folder::new();
    for (name, _, bytes, ..) in files.iter().rev() {
        folder.write(name, bytes);
    }

    let out = import(&api, &ann.token, folder.path(), &title, &["--description", &description]).await;
    succeeded(&out, "emoji import");
    let id = printed_pack_id(&api, &ann.token, &out).await;

    // A fresh user sees it: official, owned by the official owner, items in file-name order.
    let p = pack_of(&api, &bob.token, &id).await;
    assert_eq!(p["pack_id"], id.as_str(), "{p}");
    assert_eq!(p["official"], true, "GET {PACKS}/{{id}} of an official pack: official true: {p}");
    assert_eq!(p["title"], title.as_str(), "{p}");
    assert_eq!(p["description"], description.as_str(), "{p}");
    assert_eq!(p["owner_id"], OFFICIAL_OWNER, "{p}");
    assert!(p.get("created_at").is_some_and(|c| !c.is_null()), "created_at: {p}");
    assert_eq!(p["collect_count"], 0, "{p}");
    assert_eq!(p["collected"], false, "{p}");
    let items = p["items"].as_array().unwrap_or_else(|| panic!("items: {p}")).clone();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap_or("?")).collect();
    let want: Vec<&str> = files.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(titles, want, "items in file-name order, titled by the file name without the extension, cut to 32 characters: {p}");
    let mut file_ids = Vec::new();
    for ((name, _, bytes, mime, (w, h)), item) in files.iter().zip(&items) {
        let fid = item["file_id"].as_str().unwrap_or_else(|| panic!("{name}: a file_id: {item}")).to_owned();
        assert_eq!(item["url"], format!("/api/file/{fid}"), "{name}: {item}");
        assert!(item["emoji_id"].as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()), "{name}: an emoji_id: {item}");
        assert_eq!((item["width"].as_u64(), item["height"].as_u64()), (Some(*w), Some(*h)), "{name}: {item}");

        // Bob, who never saw the file before, reads it and its thumbnail.
        let (code, ct, got) = download(&api, &bob.token, &format!("/api/file/{fid}")).await;
        assert_eq!(code, 200, "{name}: a signed-in user downloads an official image: {}", String::from_utf8_lossy(&got[..got.len().min(300)]));
        assert!(got == *bytes, "{name}: the bytes served differ from the file's ({} vs {})", got.len(), bytes.len());
        assert_eq!(ct, *mime, "{name}: the sniffed type");
        let (code, ct, thumb) = download(&api, &bob.token, &format!("/api/file/{fid}?thumb=1")).await;
        assert_eq!(code, 200, "{name}: a 320 px thumbnail: {}", String::from_utf8_lossy(&thumb[..thumb.len().min(300)]));
        assert_eq!(ct, "image/jpeg", "{name}: the thumbnail is a JPEG");
        let img = image::load_from_memory(&thumb).unwrap_or_else(|e| panic!("{name}: the thumbnail decodes: {e}"));
        assert!(img.width() <= 320 && img.height() <= 320, "{name}: a thumbnail of at most 320 px a side");
        file_ids.push(fid);
    }
    let distinct: BTreeSet<&String> = file_ids.iter().collect();
    assert_eq!(distinct.len(), 3, "three files: {file_ids:?}");

    // Listed as official in the public list and under official=true; not under official=false.
    let all = listing(&api, &bob.token, "", 5).await;
    let e = entry(&all, &id).unwrap_or_else(|| panic!("the new official pack is in the public list (5 pages)"));
    assert_eq!(e["official"], true, "{e}");
    assert_eq!(e["owner_id"], OFFICIAL_OWNER, "{e}");
    assert_eq!(e["title"], title.as_str(), "{e}");
    assert_eq!(e["item_count"], 3, "{e}");
    let official = listing(&api, &bob.token, "official=true", 200).await;
    assert!(entry(&official, &id).is_some(), "official=true lists it");
    assert!(official.iter().all(|p| p["official"] == true), "official=true lists only official packs");
    let users = listing(&api, &bob.token, "official=false", 5).await;
    assert!(entry(&users, &id).is_none(), "official=false does not list an official pack");
    assert!(users.iter().all(|p| p["official"] == false), "official=false lists only users' packs: {users:?}");

    // The events: one FileStored per image by the official owner, purpose emoji; one EmojiPackCreated.
    let ids = file_ids.clone();
    let stored = records(FILES, move |k, v| v["event_type"] == "FileStored" && ids.iter().any(|i| i == k)).await;
    assert_eq!(stored.len(), 3, "one FileStored per image: {stored:#?}");
    for ((name, _, bytes, mime, (w, h)), fid) in files.iter().zip(&file_ids) {
        let (_, ev) = stored.iter().find(|(k, _)| k == fid).unwrap_or_else(|| panic!("{name}: FileStored keyed by its file id"));
        let pl = &ev["payload"];
        assert_eq!(pl["file_id"], fid.as_str(), "{name}: {ev}");
        assert_eq!(pl["owner_id"], OFFICIAL_OWNER, "{name}: the official owner: {ev}");
        assert_eq!(pl["purpose"], "emoji", "{name}: {ev}");
        assert_eq!(pl["mime"], *mime, "{name}: {ev}");
        assert_eq!(pl["kind"], "image", "{name}: {ev}");
        assert_eq!(pl["size"], bytes.len() as u64, "{name}: {ev}");
        assert_eq!((pl["width"].as_u64(), pl["height"].as_u64()), (Some(*w), Some(*h)), "{name}: {ev}");
        assert_eq!(pl["content_hash"], content_hash_of(bytes), "{name}: the content hash as for an upload: {ev}");
        assert!(pl["thumb_key"].as_str().is_some_and(|s| !s.is_empty()), "{name}: a thumbnail: {ev}");
        assert_operator(ev);
        let key = pl["blob_key"].as_str().unwrap_or_else(|| panic!("{name}: a blob_key: {ev}"));
        assert!(key.starts_with("blobs/") && key.ends_with(&content_hash_of(bytes)), "{name}: the blob under its content hash: {ev}");
        let blob = std::fs::read(file_store().join(key)).unwrap_or_else(|e| panic!("{name}: {key} in the file store {}: {e}", file_store().display()));
        assert!(blob == *bytes, "{name}: the stored blob is the file's bytes");
    }
    let pid = id.clone();
    let created = records(EMOJI, move |k, v| v["event_type"] == "EmojiPackCreated" && (k == pid || v["payload"]["pack_id"] == pid.as_str())).await;
    assert_eq!(created.len(), 1, "one EmojiPackCreated: {created:#?}");
    let (key, ev) = &created[0];
    assert_eq!(key, &id, "keyed by the pack id: {ev}");
    let pl = &ev["payload"];
    assert_eq!(pl["pack_id"], id.as_str(), "{ev}");
    assert_eq!(pl["owner_id"], OFFICIAL_OWNER, "{ev}");
    assert_eq!(pl["official"], true, "{ev}");
    assert_eq!(pl["title"], title.as_str(), "{ev}");
    assert_eq!(pl["description"], description.as_str(), "{ev}");
    let in_event: Vec<&str> = pl["items"].as_array().unwrap_or_else(|| panic!("items: {ev}")).iter().map(|i| i["file_id"].as_str().unwrap_or("?")).collect();
    assert_eq!(in_event, file_ids.iter().map(String::as_str).collect::<Vec<_>>(), "the items in order: {ev}");
    assert_operator(ev);

    tidy(&api, &ann.token, &id).await;
}

#[tokio::test]
async fn the_type_is_sniffed_from_the_bytes_never_the_extension() {
    let api = Api::new();
    let ann = account(&api, "emsniff").await;
    let t = tag();
    let folder = Folder::new();
    let files: Vec<(String, String, Vec<u8>, &str)> = vec![
        (format!("d_{t}.txt"), format!("d_{t}"), png(20, 20), "image/png"),
        (format!("e_{t}"), format!("e_{t}"), jpeg(30, 10), "image/jpeg"),
        (format!("f_{t}.gif"), format!("f_{t}"), png(10, 30), "image/png"),
    ];
    for (name, _, bytes, _) in &files {
        folder.write(name, bytes);
    }
    let out = import(&api, &ann.token, folder.path(), &format!("Sniffed {t}"), &[]).await;
    succeeded(&out, "emoji import of images with misleading or no extensions");
    let id = printed_pack_id(&api, &ann.token, &out).await;
    let p = pack_of(&api, &ann.token, &id).await;
    let items = p["items"].as_array().unwrap_or_else(|| panic!("items: {p}")).clone();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap_or("?")).collect();
    assert_eq!(titles, files.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(), "{p}");
    for ((name, _, bytes, mime), item) in files.iter().zip(&items) {
        let fid = item["file_id"].as_str().unwrap();
        let (code, ct, got) = download(&api, &ann.token, &format!("/api/file/{fid}")).await;
        assert_eq!(code, 200, "{name}");
        assert!(got == *bytes, "{name}: the bytes");
        assert_eq!(ct, *mime, "{name}: the type sniffed from the bytes");
    }
    tidy(&api, &ann.token, &id).await;
}

#[tokio::test]
async fn json_output_then_the_same_folder_again_is_unchanged_with_the_same_pack_id_and_appends_nothing() {
    let api = Api::new();
    let ann = account(&api, "emjson").await;
    let t = tag();
    let title = format!("Again {t}");
    let folder = Folder::new();
    let images: Vec<(String, Vec<u8>)> = (1..=3).map(|i| (format!("{i:02}_{t}.png"), png(10 + i, 10))).collect();
    for (name, bytes) in &images {
        folder.write(name, bytes);
    }

    let out = import(&api, &ann.token, folder.path(), &title, &["--json"]).await;
    succeeded(&out, "emoji import --json");
    let first = json_out(&out);
    let id = first["pack_id"].as_str().unwrap_or_else(|| panic!("a pack_id: {first}")).to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 5, "the pack id is a UUIDv5: {first}");
    assert_eq!(first["status"], "created", "{first}");
    let items_of = |v: &Value| match &v["items"] {
        Value::Number(n) => n.as_u64(),
        Value::Array(a) => Some(a.len() as u64),
        _ => None,
    };
    assert_eq!(items_of(&first), Some(3), "items: the three images: {first}");
    let p = pack_of(&api, &ann.token, &id).await;
    assert_eq!(p["items"].as_array().map(Vec::len), Some(3), "{p}");

    // Again: a no-op, the same id.
    let out = import(&api, &ann.token, folder.path(), &title, &["--json"]).await;
    succeeded(&out, "emoji import --json (again)");
    let again = json_out(&out);
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["pack_id"], id.as_str(), "{again}");
    assert_eq!(items_of(&again), Some(3), "{again}");
    let out = import(&api, &ann.token, folder.path(), &title, &[]).await;
    succeeded(&out, "emoji import (a third time, plain)");
    assert!(stdout(&out).contains("unchanged"), "prints unchanged:\n{}", said(&out));
    assert!(stdout(&out).contains(&id), "prints the pack id:\n{}", said(&out));

    // One pack of that title, one EmojiPackCreated for it, one FileStored per image.
    let list = listing(&api, &ann.token, "official=true", 200).await;
    let same: Vec<&Value> = list.iter().filter(|p| p["title"] == title.as_str()).collect();
    assert_eq!(same.len(), 1, "one official pack titled {title}: {same:?}");
    let pid = id.clone();
    let created = records(EMOJI, move |k, v| v["event_type"] == "EmojiPackCreated" && (k == pid || v["payload"]["pack_id"] == pid.as_str())).await;
    assert_eq!(created.len(), 1, "importing again appended no EmojiPackCreated: {created:#?}");
    let hashes: Vec<String> = images.iter().flat_map(|(_, b)| [content_hash_of(b), sha256_hex(b)]).collect();
    let names: Vec<String> = images.iter().map(|(n, _)| n.clone()).collect();
    let stored = records(FILES, move |_, v| {
        let pl = &v["payload"];
        v["event_type"] == "FileStored"
            && pl["owner_id"] == OFFICIAL_OWNER
            && (hashes.iter().any(|h| pl["content_hash"] == h.as_str()) || names.iter().any(|n| pl["name"] == n.as_str()))
    })
    .await;
    let pack_files: BTreeSet<String> = p["items"].as_array().unwrap().iter().map(|i| i["file_id"].as_str().unwrap().to_owned()).collect();
    let stored_files: BTreeSet<String> = stored.iter().map(|(k, _)| k.clone()).collect();
    assert!(pack_files.is_subset(&stored_files), "the pack's files were stored: {pack_files:?} vs {stored:#?}");
    assert_eq!(stored.len(), 3, "three FileStored for the first import, none for the repeats: {stored:#?}");

    // The same images under another title: another pack.
    let other_title = format!("Other {t}");
    let out = import(&api, &ann.token, folder.path(), &other_title, &["--json"]).await;
    succeeded(&out, "emoji import --json (another title)");
    let other = json_out(&out);
    assert_eq!(other["status"], "created", "another title is another pack: {other}");
    let other_id = other["pack_id"].as_str().unwrap_or_else(|| panic!("a pack_id: {other}")).to_owned();
    assert_ne!(other_id, id, "{other}");

    tidy(&api, &ann.token, &id).await;
    tidy(&api, &ann.token, &other_id).await;
}

#[tokio::test]
async fn a_folder_with_anything_but_small_images_is_refused_naming_the_file_and_nothing_is_stored_or_appended() {
    let api = Api::new();
    let ann = account(&api, "emrefuse").await;
    let t = tag();
    let title = format!("Refused {t}");
    let good: Vec<(String, Vec<u8>)> = vec![(format!("a_{t}.png"), png(24, 24)), (format!("b_{t}.png"), png(30, 12))];
    let big = noisy_png(1000, 1000);
    assert!(big.len() > 2 * MIB, "the heavy image is over 2 MiB ({} bytes)", big.len());
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("a text file", format!("notes_{t}.txt"), text()),
        ("a text file named .png", format!("fake_{t}.png"), text()),
        ("an image 1,025 px wide", format!("wide_{t}.png"), png(1025, 8)),
        ("an image 1,025 px high", format!("tall_{t}.jpg"), jpeg(8, 1025)),
        ("an image over 2 MiB", format!("heavy_{t}.png"), big),
    ];
    let folder = Folder::new();
    for (name, bytes) in &good {
        folder.write(name, bytes);
    }

    {
        let _turn = OFFICIAL.lock().await;
        let before = official_packs(&api, &ann.token).await;
        for (what, name, bytes) in &cases {
            folder.write(name, bytes);
            let out = run(&["emoji", "import", folder.path().to_str().unwrap(), "--title", &title, "--operator", &OPERATOR]).await;
            folder.remove(name);
            refused_with_1(&out, what);
            assert!(said(&out).contains(name.as_str()), "{what}: the command names the file {name}:\n{}", said(&out));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = official_packs(&api, &ann.token).await;
        assert_eq!(before, after, "refused imports created no official pack");
    }

    // Nothing appended, nothing stored.
    let created = mentioning(EMOJI, "EmojiPackCreated", vec![t.clone()]).await;
    assert!(created.is_empty(), "a refused import appended a pack: {created:#?}");
    let mut marks: Vec<String> = vec![t.clone()];
    marks.extend(good.iter().flat_map(|(_, b)| [content_hash_of(b), sha256_hex(b)]));
    marks.extend(cases.iter().flat_map(|(_, _, b)| [content_hash_of(b), sha256_hex(b)]));
    let stored = mentioning(FILES, "FileStored", marks).await;
    assert!(stored.is_empty(), "a refused import appended FileStored: {stored:#?}");
    for (name, bytes) in good.iter().map(|(n, b)| (n, b)).chain(cases.iter().map(|(_, n, b)| (n, b))) {
        assert!(!blob_in_store(&content_hash_of(bytes)), "a refused import stored {name} in the file store");
    }

    // The good images alone make a new pack: the refused runs made none of it.
    let out = import(&api, &ann.token, folder.path(), &title, &["--json"]).await;
    succeeded(&out, "emoji import of the good images alone");
    let d = json_out(&out);
    assert_eq!(d["status"], "created", "the refused imports left nothing of this pack: {d}");
    let id = d["pack_id"].as_str().unwrap_or_else(|| panic!("a pack_id: {d}")).to_owned();
    for (name, bytes) in &good {
        assert!(blob_in_store(&content_hash_of(bytes)), "{name} is stored now (so its absence above meant something)");
    }
    tidy(&api, &ann.token, &id).await;
}

#[tokio::test]
async fn the_title_the_description_and_the_number_of_items_follow_the_rules_of_a_users_pack() {
    let api = Api::new();
    let ann = account(&api, "emrules").await;
    let t = tag();
    let one = Folder::new();
    one.write(&format!("x_{t}.png"), &png(12, 12));
    let empty = Folder::new();
    let many = Folder::new();
    for i in 0..201 {
        many.write(&format!("{i:03}_{t}.png"), &png(2, 2));
    }
    let long_title = format!("{t}{}", "x".repeat(33 - t.len()));
    let long_description = format!("{t}{}", "d".repeat(201 - t.len()));
    let ok_title = format!("{t}{}", "ö".repeat(32 - t.len()));
    let cases: Vec<(&str, &Folder, String, Vec<String>)> = vec![
        ("an empty folder", &empty, format!("Empty {t}"), vec![]),
        ("201 images", &many, format!("Many {t}"), vec![]),
        ("a title of 33 characters", &one, long_title, vec![]),
        ("an empty title", &one, String::new(), vec!["--description".into(), format!("no title {t}")]),
        ("a description of 201 characters", &one, format!("Described {t}"), vec!["--description".into(), long_description]),
    ];
    for (what, folder, title, extra) in &cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = import(&api, &ann.token, folder.path(), title, &extra).await;
        assert!(!out.status.success(), "{what} must be refused, but it succeeded:\n{}", said(&out));
    }
    let created = mentioning(EMOJI, "EmojiPackCreated", vec![t.clone()]).await;
    assert!(created.is_empty(), "a refused import appended a pack: {created:#?}");
    let stored = mentioning(FILES, "FileStored", vec![t.clone()]).await;
    assert!(stored.is_empty(), "a refused import appended FileStored: {stored:#?}");

    // The edges pass: a title of 32 characters (not bytes), a description of 200.
    let description = "é".repeat(200);
    let out = import(&api, &ann.token, one.path(), &ok_title, &["--description", &description]).await;
    succeeded(&out, "emoji import with a 32-character title and a 200-character description");
    let id = printed_pack_id(&api, &ann.token, &out).await;
    let p = pack_of(&api, &ann.token, &id).await;
    assert_eq!(p["title"], ok_title.as_str(), "{p}");
    assert_eq!(p["description"], description.as_str(), "{p}");
    tidy(&api, &ann.token, &id).await;
}

// ---------------------------------------------------------------------------
// Users' packs and the filter.

#[tokio::test]
async fn a_users_pack_is_not_official_and_a_bad_official_filter_is_422_naming_it() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(account(&api, "emuser"), account(&api, "emuserb"));
    let title = format!("Mine {}", tag());
    let id = user_pack(&api, &ann, &title).await;
    let p = pack_of(&api, &bob.token, &id).await;
    assert_eq!(p["official"], false, "GET {PACKS}/{{id}} of a user's pack: official false: {p}");
    assert_eq!(p["owner_id"], ann.id.as_str(), "{p}");

    let all = listing(&api, &bob.token, "", 5).await;
    let e = entry(&all, &id).unwrap_or_else(|| panic!("the user's pack is in the public list"));
    assert_eq!(e["official"], false, "{e}");
    let users = listing(&api, &bob.token, "official=false", 5).await;
    assert!(entry(&users, &id).is_some(), "official=false lists the user's pack");
    assert!(users.iter().all(|p| p["official"] == false), "official=false lists only users' packs");
    let official = listing(&api, &bob.token, "official=true", 200).await;
    assert!(entry(&official, &id).is_none(), "official=true does not list a user's pack");

    for bad in ["maybe", "yes", "2"] {
        let a = api.get(&format!("{PACKS}?official={bad}"), Some(&bob.token)).await;
        // The API's one rule for a bad field, query strings included: 422 `invalid_field` naming it.
        let a = status(a, 422, &format!("official={bad}"));
        assert_eq!((a.data()["error"].as_str(), a.data()["field"].as_str()), (Some("invalid_field"), Some("official")), "official={bad}: {}", a.body);
    }
    status(delete_via_api(&api, &ann.token, &format!("{PACKS}/{id}")).await, 200, "the owner deleting her pack");
}

// ---------------------------------------------------------------------------
// Collecting and deleting.

#[tokio::test]
async fn users_collect_an_official_pack_cannot_delete_it_and_the_operators_delete_leaves_every_collectors_list() {
    let api = Api::new();
    let (ann, cat, bob) = tokio::join!(account(&api, "emcol"), account(&api, "emcolc"), account(&api, "emcolb"));
    let t = tag();
    let title = format!("Collected {t}");
    let folder = Folder::new();
    folder.write(&format!("a_{t}.png"), &png(20, 20));
    folder.write(&format!("b_{t}.png"), &png(21, 20));
    let out = import(&api, &ann.token, folder.path(), &title, &[]).await;
    succeeded(&out, "emoji import");
    let id = printed_pack_id(&api, &ann.token, &out).await;

    // Ann and Cat collect it.
    for who in [&ann, &cat] {
        let a = status(collect(&api, &who.token, &id).await, 200, "collecting an official pack");
        assert_eq!(a.data(), &json!({ "pack_id": id, "collected": true }), "{}", a.body);
    }
    let p = eventually(SETTLE, || async {
        let p = pack_of(&api, &ann.token, &id).await;
        (p["collect_count"] == 2).then_some(p)
    })
    .await
    .unwrap_or_else(|| panic!("collect_count comes to 2"));
    assert_eq!(p["collected"], true, "{p}");
    let list = eventually(SETTLE, || async {
        let c = collected(&api, &ann.token, "").await;
        pack_ids(&c["packs"]).contains(&id).then_some(c)
    })
    .await
    .unwrap_or_else(|| panic!("the official pack is in Ann's collected list"));
    let e = list["packs"].as_array().unwrap().iter().find(|x| x["pack_id"] == id.as_str()).unwrap();
    assert_eq!(e["title"], title.as_str(), "{e}");
    assert_eq!(e["item_count"], 2, "{e}");
    let v = list["version"].as_i64().unwrap();

    // Nobody deletes it through the API.
    for (who, token) in [("a collector", &ann.token), ("a stranger", &bob.token)] {
        status(delete_via_api(&api, token, &format!("{PACKS}/{id}")).await, 404, &format!("{who} deleting an official pack"));
    }
    status(get_pack(&api, &bob.token, &id).await, 200, "the official pack stays after refused deletes");

    // The operator deletes it.
    let out = admin_delete(&api, &ann.token, &id).await;
    succeeded(&out, "emoji delete");
    for (who, token) in [("a collector", &ann.token), ("a stranger", &bob.token)] {
        let g = eventually(SETTLE, || async {
            let a = get_pack(&api, token, &id).await;
            (a.status == 404).then_some(a)
        })
        .await
        .unwrap_or_else(|| panic!("{who}: a deleted official pack is 404"));
        g.expect(404);
    }
    status(collect(&api, &bob.token, &id).await, 404, "collecting a deleted official pack");
    for (who, token) in [("Ann", &ann.token), ("Cat", &cat.token)] {
        let synced = eventually(SETTLE, || async {
            let s = collected(&api, token, &format!("?since_version={v}")).await;
            s["removed"].as_array().unwrap().iter().any(|r| r["pack_id"] == id.as_str()).then_some(s)
        })
        .await
        .unwrap_or_else(|| panic!("{who}: the deleted pack is listed as removed"));
        assert!(!pack_ids(&synced["packs"]).contains(&id), "{who}: {synced}");
        let full = collected(&api, token, "").await;
        assert!(!pack_ids(&full["packs"]).contains(&id), "{who}: no longer collected: {full}");
    }
    let official = listing(&api, &bob.token, "official=true", 200).await;
    assert!(entry(&official, &id).is_none(), "a deleted official pack leaves official=true");

    // The events: EmojiPackDeleted keyed by the pack, one EmojiPackUncollected per collector, by the operator.
    let pid = id.clone();
    let evs = records(EMOJI, move |k, v| k == pid || v["payload"]["pack_id"] == pid.as_str()).await;
    let deleted: Vec<&(String, Value)> = evs.iter().filter(|(_, v)| v["event_type"] == "EmojiPackDeleted").collect();
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    let (key, ev) = deleted[0];
    assert_eq!(key, &id, "keyed by the pack id: {ev}");
    assert_eq!(ev["payload"]["pack_id"], id.as_str(), "{ev}");
    assert_eq!(ev["payload"]["owner_id"], OFFICIAL_OWNER, "{ev}");
    assert_operator(ev);
    let uncollected: Vec<&(String, Value)> = evs.iter().filter(|(_, v)| v["event_type"] == "EmojiPackUncollected").collect();
    let mut keys: Vec<&str> = uncollected.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort();
    let mut want = vec![ann.id.as_str(), cat.id.as_str()];
    want.sort();
    assert_eq!(keys, want, "one EmojiPackUncollected per collector, keyed by the collector: {uncollected:#?}");
    for (key, ev) in uncollected {
        assert_eq!(ev["payload"]["user_id"], key.as_str(), "{ev}");
        assert_operator(ev);
    }
}

#[tokio::test]
async fn emoji_delete_refuses_a_users_pack_which_stays() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(account(&api, "emnotop"), account(&api, "emnotopb"));
    let id = user_pack(&api, &ann, &format!("Not official {}", tag())).await;
    pack_of(&api, &bob.token, &id).await;
    let out = admin_delete(&api, &bob.token, &id).await;
    refused_with_1(&out, "emoji delete of a user's pack");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p = status(get_pack(&api, &bob.token, &id).await, 200, "the user's pack after a refused emoji delete");
    assert_eq!(p.data()["owner_id"], ann.id.as_str(), "{}", p.body);
    let pid = id.clone();
    let deleted = records(EMOJI, move |k, v| v["event_type"] == "EmojiPackDeleted" && (k == pid || v["payload"]["pack_id"] == pid.as_str())).await;
    assert!(deleted.is_empty(), "a refused emoji delete appended {deleted:#?}");
    status(delete_via_api(&api, &ann.token, &format!("{PACKS}/{id}")).await, 200, "the owner deleting her pack");
}
