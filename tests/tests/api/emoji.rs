//! Emoji, as docs/services.md ("Emoji") specifies them: favourite stickers
//! made of the caller's own uploaded images (idempotent per file, renamed by a
//! new title, at most 300, synced by version), sticker packs (public, newest
//! first, collected and uncollected idempotently, deleted by their owner
//! only), the `emoji.changed` frames of the user's own devices, and the
//! `beaver.emoji.v1` events. Images are uploaded as "Files and uploads"
//! specifies, with the helpers of `files.rs`. Written from the spec alone.

use crate::files::{delete_file, id_of, initiated, picture, png, put_all, text, upload};
use crate::friends::{delete, new_user, User};
use crate::helpers::{records_where, eventually, Answer, Api};
use crate::ws::{connect, Ws, GATEWAY, WAIT};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const FAVORITES: &str = "/api/emoji/favorites";
const PACKS: &str = "/api/emoji/packs";
const COLLECTED: &str = "/api/emoji/collected";
const TOPIC: &str = "beaver.emoji.v1";
/// How long to watch for a frame that must not arrive, after a positive control.
const QUIET: Duration = Duration::from_millis(1500);
/// How long a projection of another aggregate may take.
const SETTLE: Duration = Duration::from_secs(10);
const MIB: usize = 1024 * 1024;
/// The fields of a favourite, in answers and in the list.
const FAV_KEYS: &[&str] = &["emoji_id", "file_id", "url", "title", "width", "height", "version"];
/// The fields of a pack's item.
const ITEM_KEYS: &[&str] = &["emoji_id", "file_id", "url", "title", "width", "height"];

// ---------------------------------------------------------------------------
// Answers.

fn status(a: Answer, want: u16, what: &str) -> Answer {
    assert_eq!(a.status.as_u16(), want, "{what}: {}", a.body);
    a.expect(want)
}

fn assert_error(a: Answer, code: u16, kind: &str, what: &str) -> Answer {
    let a = status(a, code, what);
    assert_eq!(a.error_kind(), kind, "{what}: {}", a.body);
    a
}

/// 422 `invalid_field` naming `field`.
fn assert_invalid(a: Answer, field: &str, what: &str) -> Answer {
    let a = assert_error(a, 422, "invalid_field", what);
    assert_eq!(a.data()["field"], field, "{what}: {}", a.body);
    a
}

/// Only `keys` of `v` (missing ones as null), to compare answers with list entries.
fn pick(v: &Value, keys: &[&str]) -> Value {
    Value::Object(keys.iter().map(|k| ((*k).to_owned(), v.get(*k).cloned().unwrap_or(Value::Null))).collect())
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("a string {k}: {v}"))
}

fn version(v: &Value) -> i64 {
    v["version"].as_i64().unwrap_or_else(|| panic!("an integer version: {v}"))
}

fn uuid_version(s: &str, what: &str) -> usize {
    uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{what} is a UUID ({e}): {s}")).get_version_num()
}

fn file_url(file_id: &str) -> String {
    format!("/api/file/{file_id}")
}

use crate::helpers::instant;

// ---------------------------------------------------------------------------
// Images.

use crate::files::Noise;

/// A 1×1 PNG whose colour encodes `i` (and `salt`): distinct bytes for every `i` < 65,536.
fn tiny_png(i: u32, salt: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(1, 1, image::Rgb([(i & 0xff) as u8, (i >> 8) as u8, salt]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A `w`×`h` PNG of pure noise: about 3 bytes a pixel, whatever the compressor does.
fn noisy_png(w: u32, h: u32) -> Vec<u8> {
    let mut r = Noise::new();
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        let x = r.next();
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Uploads a fresh `w`×`h` PNG with `purpose`; its file id.
async fn image(api: &Api, user: &User, w: u32, h: u32, purpose: &str) -> String {
    id_of(&upload(api, user, &format!("e{w}x{h}.png"), purpose, &png(w, h)).await)
}

// ---------------------------------------------------------------------------
// Favourites.

async fn favorite(api: &Api, user: &User, body: Value) -> Answer {
    api.post(FAVORITES, Some(&user.token), body).await
}

/// Favourites `file_id` (with `title` if given): 200 and a well-formed answer; its data.
async fn favorited(api: &Api, user: &User, file_id: &str, title: Option<&str>) -> Value {
    let body = match title {
        Some(t) => json!({ "file_id": file_id, "title": t }),
        None => json!({ "file_id": file_id }),
    };
    let a = status(favorite(api, user, body.clone()).await, 200, &format!("favouriting {body}"));
    let d = a.data().clone();
    let id = str_of(&d, "emoji_id");
    assert_eq!(uuid_version(id, "emoji_id"), 5, "emoji_id is a UUIDv5 of the user and the file: {d}");
    assert_eq!(d["file_id"], file_id, "{d}");
    assert_eq!(d["url"], file_url(file_id), "{d}");
    assert!(version(&d) > 0, "a positive version: {d}");
    d
}

/// `d` is the favourite of `file_id` titled `title`, of `w`×`h`.
fn assert_favourite(d: &Value, file_id: &str, title: &str, w: u64, h: u64) {
    assert_eq!(d["file_id"], file_id, "{d}");
    assert_eq!(d["url"], file_url(file_id), "{d}");
    assert_eq!(d["title"], title, "{d}");
    assert_eq!((d["width"].as_u64(), d["height"].as_u64()), (Some(w), Some(h)), "the image's width and height: {d}");
}

/// `GET /api/emoji/favorites{query}` of `user`: 200, a well-formed list; its data.
async fn favorites(api: &Api, user: &User, query: &str) -> Value {
    let a = status(api.get(&format!("{FAVORITES}{query}"), Some(&user.token)).await, 200, &format!("GET {FAVORITES}{query}"));
    let d = a.data().clone();
    assert!(d["favorites"].is_array(), "a favorites list: {d}");
    assert!(d["removed"].is_array(), "a removed list: {d}");
    version(&d);
    d
}

fn emoji_ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap_or_else(|| panic!("a list: {list}")).iter().map(|e| str_of(e, "emoji_id").to_owned()).collect()
}

/// The list's entries restricted to the spec's fields.
fn picked(list: &Value, keys: &[&str]) -> Vec<Value> {
    list.as_array().unwrap_or_else(|| panic!("a list: {list}")).iter().map(|e| pick(e, keys)).collect()
}

async fn unfavorite(api: &Api, user: &User, emoji_id: &str) -> Answer {
    delete(api, &format!("{FAVORITES}/{emoji_id}"), Some(&user.token)).await
}

// ---------------------------------------------------------------------------
// Packs.

async fn create_pack(api: &Api, user: &User, body: Value) -> Answer {
    api.post(PACKS, Some(&user.token), body).await
}

/// Creates a pack of `items` (file id, title): 200 and a well-formed answer
/// repeating them in order; its data.
async fn pack_created(api: &Api, user: &User, title: &str, description: Option<&str>, items: &[(&str, Option<&str>)]) -> Value {
    let list: Vec<Value> = items
        .iter()
        .map(|(f, t)| match t {
            Some(t) => json!({ "file_id": f, "title": t }),
            None => json!({ "file_id": f }),
        })
        .collect();
    let mut body = json!({ "title": title, "items": list });
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    let a = status(create_pack(api, user, body.clone()).await, 200, &format!("creating the pack {title:?}"));
    let d = a.data().clone();
    uuid_version(str_of(&d, "pack_id"), "pack_id");
    assert_eq!(d["title"], title, "{d}");
    match description {
        Some(text) => assert_eq!(d["description"], text, "{d}"),
        None => assert!(d["description"] == "" || d["description"].is_null(), "no description: empty: {d}"),
    }
    assert_eq!(d["owner_id"], user.id.as_str(), "{d}");
    let created = instant(&d["created_at"]).unwrap_or_else(|| panic!("created_at is a time: {d}"));
    assert!((created - OffsetDateTime::now_utc()).abs() < time::Duration::minutes(5), "created_at is now: {d}");
    let got = d["items"].as_array().unwrap_or_else(|| panic!("an items list: {d}"));
    assert_eq!(got.len(), items.len(), "every item, in order: {d}");
    for (i, ((file, title), item)) in items.iter().zip(got).enumerate() {
        assert_eq!(item["file_id"], *file, "item {i}: {d}");
        assert_eq!(item["url"], file_url(file), "item {i}: {d}");
        assert_eq!(item["title"], title.unwrap_or(""), "item {i} (title default empty): {d}");
        assert!(item["emoji_id"].as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()), "item {i}: an emoji_id UUID: {d}");
        assert!(item["width"].as_u64().is_some_and(|w| w > 0) && item["height"].as_u64().is_some_and(|h| h > 0), "item {i}: {d}");
    }
    d
}

fn pack_id(d: &Value) -> String {
    str_of(d, "pack_id").to_owned()
}

async fn get_pack(api: &Api, user: &User, id: &str) -> Answer {
    api.get(&format!("{PACKS}/{id}"), Some(&user.token)).await
}

async fn collect(api: &Api, user: &User, id: &str) -> Answer {
    api.put(&format!("{PACKS}/{id}/collect"), Some(&user.token), json!({})).await
}

async fn uncollect(api: &Api, user: &User, id: &str) -> Answer {
    delete(api, &format!("{PACKS}/{id}/collect"), Some(&user.token)).await
}

async fn delete_pack(api: &Api, user: &User, id: &str) -> Answer {
    delete(api, &format!("{PACKS}/{id}"), Some(&user.token)).await
}

/// `GET /api/emoji/collected{query}` of `user`: 200, a well-formed list; its data.
async fn collected(api: &Api, user: &User, query: &str) -> Value {
    let a = status(api.get(&format!("{COLLECTED}{query}"), Some(&user.token)).await, 200, &format!("GET {COLLECTED}{query}"));
    let d = a.data().clone();
    assert!(d["packs"].is_array() && d["removed"].is_array(), "packs and removed lists: {d}");
    version(&d);
    d
}

fn pack_ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap_or_else(|| panic!("a list: {list}")).iter().map(|e| str_of(e, "pack_id").to_owned()).collect()
}

/// The public list from the newest, page by page (`limit=50`, `before` the
/// last), until every one of `wanted` has been seen or `pages` pages were
/// read: every entry seen, in order.
async fn public_packs(api: &Api, user: &User, wanted: &[&str], pages: usize) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..pages {
        let path = match &before {
            Some(b) => format!("{PACKS}?limit=50&before={b}"),
            None => format!("{PACKS}?limit=50"),
        };
        let a = status(api.get(&path, Some(&user.token)).await, 200, &format!("GET {path}"));
        let page = a.data()["packs"].as_array().unwrap_or_else(|| panic!("a packs list: {}", a.body)).clone();
        assert!(page.len() <= 50, "at most limit entries: {}", a.body);
        let more = a.data()["has_more"].as_bool().unwrap_or_else(|| panic!("a boolean has_more: {}", a.body));
        before = page.last().map(pack_id);
        seen.extend(page);
        let found = !wanted.is_empty() && wanted.iter().all(|w| seen.iter().any(|p| p["pack_id"] == *w));
        if found || !more || before.is_none() {
            break;
        }
    }
    seen
}

// ---------------------------------------------------------------------------
// Events.

/// Every `beaver.emoji.v1` record whose key is, or whose JSON mentions, one of `ids`: (key, value), in topic order.
async fn emoji_records(ids: &[String]) -> Vec<(String, Value)> {
    let ids = ids.to_vec();
    let mentions = move |key: &str, v: &Value| {
        let text = v.to_string();
        ids.iter().any(|id| key == id || text.contains(id.as_str()))
    };
    records_where(TOPIC, mentions).await.into_iter().map(|(k, _, v)| (k, v)).collect()
}

fn of_type<'a>(records: &'a [(String, Value)], ty: &str) -> Vec<&'a (String, Value)> {
    records.iter().filter(|(_, v)| v["event_type"] == ty).collect()
}

// ---------------------------------------------------------------------------
// 1. Favourites.

#[tokio::test]
async fn favourites_are_idempotent_per_file_renamed_by_a_new_title_listed_newest_first_and_synced_by_version() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "emfav"), new_user(&api, "emfavb"));
    let (a, b) = tokio::join!(image(&api, &ann, 64, 48, "emoji"), image(&api, &ann, 30, 20, "emoji"));

    let empty = favorites(&api, &ann, "").await;
    assert_eq!(empty["favorites"], json!([]), "a new user has no favourites: {empty}");
    assert_eq!(empty["removed"], json!([]), "{empty}");
    let v0 = version(&empty);

    // Favouriting: the answer; the same file and title again changes nothing.
    let fa = favorited(&api, &ann, &a, Some("smile")).await;
    assert_favourite(&fa, &a, "smile", 64, 48);
    let va = version(&fa);
    assert!(va > v0, "favouriting moves the list's version ({v0} → {va}): {fa}");
    let again = favorited(&api, &ann, &a, Some("smile")).await;
    assert_eq!(pick(&again, FAV_KEYS), pick(&fa, FAV_KEYS), "the same file again: the same emoji_id, and nothing changes (version too)");
    assert_eq!(version(&favorites(&api, &ann, "").await), va, "a repeated favourite does not move the list's version");

    // A new title renames it.
    let renamed = favorited(&api, &ann, &a, Some("grin")).await;
    assert_eq!(renamed["emoji_id"], fa["emoji_id"], "renaming keeps the emoji_id: {renamed}");
    assert_favourite(&renamed, &a, "grin", 64, 48);
    let vr = version(&renamed);
    assert!(vr > va, "a rename is a change: the version moves ({va} → {vr})");

    // A second one, without a title.
    let fb = favorited(&api, &ann, &b, None).await;
    assert_favourite(&fb, &b, "", 30, 20);
    assert_ne!(fb["emoji_id"], fa["emoji_id"], "another file, another emoji");
    let vb = version(&fb);
    assert!(vb > vr, "{vr} → {vb}");

    // The list: newest first, as answered; without since_version, removed is empty.
    let list = favorites(&api, &ann, "").await;
    assert_eq!(picked(&list["favorites"], FAV_KEYS), vec![pick(&fb, FAV_KEYS), pick(&renamed, FAV_KEYS)], "newest first: {list}");
    assert_eq!(list["removed"], json!([]), "{list}");
    assert_eq!(version(&list), vb, "the list's version is its latest change: {list}");

    // since_version: only what changed after it.
    let since = favorites(&api, &ann, &format!("?since_version={va}")).await;
    assert_eq!(emoji_ids(&since["favorites"]), emoji_ids(&list["favorites"]), "both changed after {va}: {since}");
    let since = favorites(&api, &ann, &format!("?since_version={vr}")).await;
    assert_eq!(picked(&since["favorites"], FAV_KEYS), vec![pick(&fb, FAV_KEYS)], "only b changed after the rename: {since}");
    assert_eq!(since["removed"], json!([]), "{since}");
    let since = favorites(&api, &ann, &format!("?since_version={vb}")).await;
    assert_eq!((since["favorites"].clone(), since["removed"].clone(), version(&since)), (json!([]), json!([]), vb), "nothing after {vb}: {since}");

    // Removing a: `removed` after it.
    let ida = str_of(&fa, "emoji_id").to_owned();
    let idb = str_of(&fb, "emoji_id").to_owned();
    let del = status(unfavorite(&api, &ann, &ida).await, 200, "removing a favourite");
    assert_eq!(del.data(), &json!({ "emoji_id": ida, "removed": true }), "{}", del.body);
    let since = favorites(&api, &ann, &format!("?since_version={vb}")).await;
    assert_eq!(since["favorites"], json!([]), "{since}");
    let removed = since["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "a left the list after {vb}: {since}");
    assert_eq!(removed[0]["emoji_id"], ida.as_str(), "{since}");
    let vd = version(&removed[0]);
    assert!(vd > vb, "the removal has a newer version: {since}");
    assert_eq!(version(&since), vd, "{since}");
    let full = favorites(&api, &ann, "").await;
    assert_eq!(emoji_ids(&full["favorites"]), vec![idb.clone()], "{full}");
    assert_eq!(full["removed"], json!([]), "without since_version removed is empty: {full}");
    let ahead = favorites(&api, &ann, &format!("?since_version={}", vd + 1000)).await;
    assert_eq!(ahead["full_sync"], true, "a since_version beyond the current version answers the full list: {ahead}");
    assert_eq!(emoji_ids(&ahead["favorites"]), vec![idb.clone()], "{ahead}");

    // Not among the caller's favourites: 404.
    assert_error(unfavorite(&api, &ann, &ida).await, 404, "not_found", "removing it again");
    status(unfavorite(&api, &ann, &uuid::Uuid::new_v4().to_string()).await, 404, "an unknown emoji");
    status(unfavorite(&api, &bob, &idb).await, 404, "someone else's favourite");
    assert_eq!(emoji_ids(&favorites(&api, &ann, "").await["favorites"]), vec![idb.clone()], "Bob's attempt removed nothing");
    let bobs = favorites(&api, &bob, "").await;
    assert_eq!(bobs["favorites"], json!([]), "Bob sees none of Ann's favourites: {bobs}");

    // Favouriting a again gives the same emoji_id (a UUIDv5 of the user and the file).
    let back = favorited(&api, &ann, &a, Some("back")).await;
    assert_eq!(back["emoji_id"], ida.as_str(), "the same user and file: the same emoji_id: {back}");
    assert!(version(&back) > vd, "{back}");
    let since = favorites(&api, &ann, &format!("?since_version={vd}")).await;
    assert_eq!(picked(&since["favorites"], FAV_KEYS), vec![pick(&back, FAV_KEYS)], "{since}");
}

// ---------------------------------------------------------------------------
// 2. What may be a favourite.

#[tokio::test]
async fn a_favourite_must_be_the_callers_own_stored_image_of_at_most_1024_px_a_side_and_2_mib_with_a_short_title() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "emval"), new_user(&api, "emvalb"));

    // Files that must be refused.
    let heavy_bytes = noisy_png(1000, 800);
    assert!(heavy_bytes.len() > 2 * MIB, "the heavy image must be over 2 MiB: {}", heavy_bytes.len());
    let (bobs, note, wide, tall, heavy) = tokio::join!(
        image(&api, &bob, 20, 20, "emoji"),
        async { id_of(&upload(&api, &ann, "note.txt", "chat", &text()).await) },
        image(&api, &ann, 1100, 10, "chat"),
        image(&api, &ann, 10, 1100, "chat"),
        async { id_of(&upload(&api, &ann, "heavy.png", "chat", &heavy_bytes).await) },
    );
    let open_bytes = png(32, 32);
    let open = id_of(&initiated(&api, &ann, "open.png", open_bytes.len(), "emoji").await);
    put_all(&api, &ann.token, &open, &open_bytes).await;
    let gone = image(&api, &ann, 24, 24, "emoji").await;
    status(delete_file(&api, &ann.token, &gone).await, 200, "deleting an image");

    let cases: Vec<(&str, Value)> = vec![
        ("someone else's image", json!({ "file_id": bobs })),
        ("an unknown file id", json!({ "file_id": uuid::Uuid::new_v4().to_string() })),
        ("a file id that is not a UUID", json!({ "file_id": "not-a-file" })),
        ("a file_id that is not a string", json!({ "file_id": 42 })),
        ("no file_id", json!({ "title": "nothing" })),
        ("a text file", json!({ "file_id": note })),
        ("an image 1,100 px wide", json!({ "file_id": wide })),
        ("an image 1,100 px high", json!({ "file_id": tall })),
        ("an image over 2 MiB", json!({ "file_id": heavy })),
        ("an unfinished upload", json!({ "file_id": open })),
        ("a deleted image", json!({ "file_id": gone })),
    ];
    for (what, body) in cases {
        assert_invalid(favorite(&api, &ann, body).await, "file_id", what);
    }

    // The limits' edges are accepted: 1,024 px a side, any stored image (a JPEG, a chat upload).
    let (edge, jpeg) = tokio::join!(image(&api, &ann, 1024, 1, "chat"), async {
        id_of(&upload(&api, &ann, "face.jpg", "emoji", &picture(50, 40, image::ImageFormat::Jpeg)).await)
    });
    let fe = favorited(&api, &ann, &edge, None).await;
    assert_favourite(&fe, &edge, "", 1024, 1);
    let fj = favorited(&api, &ann, &jpeg, Some("jpeg")).await;
    assert_favourite(&fj, &jpeg, "jpeg", 50, 40);

    // Titles: at most 32 characters (not bytes), no control characters.
    let mine = image(&api, &ann, 40, 40, "emoji").await;
    let long = "ü".repeat(32);
    let ft = favorited(&api, &ann, &mine, Some(&long)).await;
    assert_favourite(&ft, &mine, &long, 40, 40);
    for (what, title) in [
        ("33 characters", json!("a".repeat(33))),
        ("33 two-byte characters", json!("ü".repeat(33))),
        ("a control character", json!("bell\u{7}title")),
        ("a newline", json!("two\nlines")),
        ("a number", json!(5)),
    ] {
        let a = favorite(&api, &ann, json!({ "file_id": mine, "title": title })).await;
        assert_invalid(a, "title", &format!("a title of {what}"));
    }
    let after = favorites(&api, &ann, "").await;
    let mut got = emoji_ids(&after["favorites"]);
    got.sort();
    let mut want = vec![str_of(&fe, "emoji_id").to_owned(), str_of(&fj, "emoji_id").to_owned(), str_of(&ft, "emoji_id").to_owned()];
    want.sort();
    assert_eq!(got, want, "only the accepted favourites, refused titles renamed nothing: {after}");
    let kept = after["favorites"].as_array().unwrap().iter().find(|f| f["file_id"] == mine.as_str()).unwrap().clone();
    assert_eq!(kept["title"], long.as_str(), "{after}");

    // Every call needs a token.
    for a in [
        api.get(FAVORITES, None).await,
        api.post(FAVORITES, None, json!({ "file_id": mine })).await,
        delete(&api, &format!("{FAVORITES}/{}", str_of(&ft, "emoji_id")), None).await,
        api.get(PACKS, None).await,
        api.get(COLLECTED, None).await,
    ] {
        status(a, 401, "without a token");
    }
}

// ---------------------------------------------------------------------------
// 3. The cap.

#[tokio::test]
async fn the_301st_favourite_is_409_limit_reached_while_a_repeat_still_answers_and_a_removal_frees_a_place() {
    let started = Instant::now();
    let api = Api::new();
    let ann = new_user(&api, "emcap").await;
    let salt = uuid::Uuid::new_v4().as_bytes()[0];
    // 301 distinct 1×1 images, at most 16 uploads open at a time (the cap is 20).
    let files: Vec<String> = futures::stream::iter(0..301u32)
        .map(|i| {
            let (api, ann) = (&api, &ann);
            async move { id_of(&upload(api, ann, &format!("c{i}.png"), "emoji", &tiny_png(i, salt)).await) }
        })
        .buffered(16)
        .collect()
        .await;
    let uploaded = started.elapsed();

    let favs: Vec<Value> = futures::stream::iter(files[..300].iter())
        .map(|f| favorited(&api, &ann, f, None))
        .buffered(16)
        .collect()
        .await;
    let mut ids: Vec<String> = favs.iter().map(|f| str_of(f, "emoji_id").to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300, "300 distinct favourites");
    let list = favorites(&api, &ann, "").await;
    assert_eq!(list["favorites"].as_array().unwrap().len(), 300, "all 300 listed");

    let last = &files[300];
    let a = favorite(&api, &ann, json!({ "file_id": last })).await;
    assert_error(a, 409, "limit_reached", "the 301st favourite");
    let v = version(&favorites(&api, &ann, "").await);
    assert_eq!(v, version(&list), "a refused favourite changes nothing");

    // At the cap a repeat is no new favourite, and a rename is allowed.
    let again = favorited(&api, &ann, &files[0], None).await;
    assert_eq!(pick(&again, FAV_KEYS), pick(&favs[0], FAV_KEYS), "a repeat at the cap answers the same favourite");
    let renamed = favorited(&api, &ann, &files[1], Some("renamed")).await;
    assert_eq!(renamed["emoji_id"], favs[1]["emoji_id"], "{renamed}");

    // A removal frees a place.
    status(unfavorite(&api, &ann, str_of(&favs[0], "emoji_id")).await, 200, "removing one");
    let f = favorited(&api, &ann, last, None).await;
    assert_favourite(&f, last, "", 1, 1);
    let list = favorites(&api, &ann, "").await;
    assert_eq!(list["favorites"].as_array().unwrap().len(), 300, "still 300: {}", list["version"]);
    assert_eq!(list["favorites"][0]["emoji_id"], f["emoji_id"], "the newest first");
    let a = favorite(&api, &ann, json!({ "file_id": files[0] })).await;
    assert_error(a, 409, "limit_reached", "the removed one again, at the cap");
    eprintln!("cap test: uploads {uploaded:?}, total {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 4. Packs.

#[tokio::test]
async fn a_pack_answers_its_items_is_readable_by_anyone_and_listed_newest_first_with_cover_and_item_count() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "empack"), new_user(&api, "empackb"));
    let (f1, f2, f3) = tokio::join!(image(&api, &ann, 40, 30, "emoji"), image(&api, &ann, 50, 20, "emoji"), image(&api, &ann, 16, 16, "emoji"));
    let title = format!("Faces {}", &uuid::Uuid::new_v4().simple().to_string()[..10]);

    let p1 = pack_created(&api, &ann, &title, Some("three faces"), &[(&f1, Some("one")), (&f2, None), (&f3, Some("three"))]).await;
    let items = p1["items"].as_array().unwrap().clone();
    let dims: Vec<(u64, u64)> = items.iter().map(|i| (i["width"].as_u64().unwrap(), i["height"].as_u64().unwrap())).collect();
    assert_eq!(dims, vec![(40, 30), (50, 20), (16, 16)], "each item has its image's size: {p1}");
    let mut eids: Vec<&str> = items.iter().map(|i| i["emoji_id"].as_str().unwrap()).collect();
    eids.sort();
    eids.dedup();
    assert_eq!(eids.len(), 3, "three distinct emoji ids: {p1}");
    let id1 = pack_id(&p1);

    // Anyone reads it: the pack as answered, plus collect_count and collected.
    for who in [&ann, &bob] {
        let g = status(get_pack(&api, who, &id1).await, 200, "reading the pack");
        let d = g.data();
        for k in ["pack_id", "title", "description", "owner_id"] {
            assert_eq!(d[k], p1[k], "{k}: {d}");
        }
        assert_eq!(instant(&d["created_at"]), instant(&p1["created_at"]), "created_at: {d}");
        assert_eq!(picked(&d["items"], ITEM_KEYS), picked(&p1["items"], ITEM_KEYS), "the items, in order: {d}");
        assert_eq!(d["collect_count"], 0, "{d}");
        assert_eq!(d["collected"], false, "{d}");
    }
    status(get_pack(&api, &bob, &uuid::Uuid::new_v4().to_string()).await, 404, "an unknown pack");

    // A second pack, without a description.
    let p2 = pack_created(&api, &ann, "Second", None, &[(&f3, None)]).await;
    let id2 = pack_id(&p2);

    // The public list, newest first.
    let seen = public_packs(&api, &bob, &[&id1, &id2], 10).await;
    let pos = |id: &str| seen.iter().position(|p| p["pack_id"] == id).unwrap_or_else(|| panic!("pack {id} is in the public list"));
    assert!(pos(&id2) < pos(&id1), "the newer pack comes first");
    let e1 = &seen[pos(&id1)];
    assert_eq!(e1["title"], title.as_str(), "{e1}");
    assert_eq!(e1["owner_id"], ann.id.as_str(), "{e1}");
    assert_eq!(e1["item_count"], 3, "{e1}");
    assert_eq!(e1["collect_count"], 0, "{e1}");
    let cover = e1["cover_url"].as_str().unwrap_or_else(|| panic!("a cover_url: {e1}"));
    assert!(cover == file_url(&f1) || cover.starts_with(&format!("{}?", file_url(&f1))), "the cover is the first item's image: {e1}");
    let e2 = &seen[pos(&id2)];
    assert_eq!((e2["item_count"].as_u64(), e2["title"].as_str()), (Some(1), Some("Second")), "{e2}");

    // Paging: `limit`, and `before` gives only older packs.
    let a = status(api.get(&format!("{PACKS}?limit=1"), Some(&bob.token)).await, 200, "limit=1");
    assert_eq!(a.data()["packs"].as_array().map(Vec::len), Some(1), "{}", a.body);
    assert_eq!(a.data()["has_more"], true, "there are at least two packs: {}", a.body);
    let a = status(api.get(&format!("{PACKS}?before={id2}&limit=50"), Some(&bob.token)).await, 200, "before the second pack");
    let older = pack_ids(&a.data()["packs"]);
    assert!(!older.contains(&id2), "before excludes the pack itself: {}", a.body);
    assert!(older.contains(&id1), "the first pack is older than the second (and few packs came between): {}", a.body);
    for bad in ["0", "51", "many"] {
        let a = api.get(&format!("{PACKS}?limit={bad}"), Some(&bob.token)).await;
        assert_invalid(a, "limit", &format!("limit={bad}"));
    }
}

#[tokio::test]
async fn collecting_is_idempotent_and_counted_and_uncollecting_or_the_owners_deletion_leaves_the_collected_list_as_removed() {
    let api = Api::new();
    let (ann, bob, cat) = tokio::join!(new_user(&api, "emcol"), new_user(&api, "emcolb"), new_user(&api, "emcolc"));
    let (f1, f2) = tokio::join!(image(&api, &ann, 20, 30, "emoji"), image(&api, &ann, 30, 20, "emoji"));
    let p = pack_created(&api, &ann, "Collect me", Some("two"), &[(&f1, None), (&f2, None)]).await;
    let id = pack_id(&p);

    let c0 = collected(&api, &bob, "").await;
    assert_eq!(c0["packs"], json!([]), "{c0}");
    let v0 = version(&c0);

    // Bob collects: counted, flagged for him only, listed.
    let a = status(collect(&api, &bob, &id).await, 200, "collecting");
    assert_eq!(a.data(), &json!({ "pack_id": id, "collected": true }), "{}", a.body);
    let g = status(get_pack(&api, &bob, &id).await, 200, "the collector reading the pack");
    assert_eq!((g.data()["collected"].clone(), g.data()["collect_count"].clone()), (json!(true), json!(1)), "{}", g.body);
    let owner_view = eventually(SETTLE, || async {
        let g = get_pack(&api, &ann, &id).await;
        (g.status == 200 && g.data()["collect_count"] == 1).then(|| g.data().clone())
    })
    .await;
    let Some(owner_view) = owner_view else {
        panic!("the owner sees collect_count 1: {}", get_pack(&api, &ann, &id).await.body);
    };
    assert_eq!(owner_view["collected"], false, "collected is the caller's own: {owner_view}");
    let c1 = collected(&api, &bob, "").await;
    let entries = c1["packs"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{c1}");
    let e = &entries[0];
    assert_eq!(e["pack_id"], id.as_str(), "{c1}");
    assert_eq!(e["title"], "Collect me", "{c1}");
    assert_eq!(e["item_count"], 2, "{c1}");
    let cover = e["cover_url"].as_str().unwrap_or_else(|| panic!("a cover_url: {c1}"));
    assert!(cover == file_url(&f1) || cover.starts_with(&format!("{}?", file_url(&f1))), "the cover is the first item's image: {c1}");
    let v1 = version(&c1);
    assert!(v1 > v0 && version(e) == v1, "collecting moves the list's version to the entry's: {c1}");
    let listed = eventually(SETTLE, || async {
        let seen = public_packs(&api, &cat, &[&id], 4).await;
        seen.into_iter().find(|x| x["pack_id"] == id.as_str() && x["collect_count"] == 1)
    })
    .await;
    assert!(listed.is_some(), "the public list counts the collection");

    // Collecting again changes nothing.
    let a = status(collect(&api, &bob, &id).await, 200, "collecting again");
    assert_eq!(a.data(), &json!({ "pack_id": id, "collected": true }), "{}", a.body);
    assert_eq!(version(&collected(&api, &bob, "").await), v1, "a repeated collect does not move the version");
    let g = status(get_pack(&api, &bob, &id).await, 200, "reading after the repeat");
    assert_eq!(g.data()["collect_count"], 1, "a repeat is not counted twice: {}", g.body);

    // Uncollecting: `removed` after v1; idempotent too.
    let a = status(uncollect(&api, &bob, &id).await, 200, "uncollecting");
    assert_eq!(a.data(), &json!({ "pack_id": id, "collected": false }), "{}", a.body);
    let since = collected(&api, &bob, &format!("?since_version={v1}")).await;
    assert_eq!(since["packs"], json!([]), "{since}");
    let removed = since["removed"].as_array().unwrap();
    assert_eq!(pack_ids(&since["removed"]), vec![id.clone()], "the uncollected pack is removed after {v1}: {since}");
    let v2 = version(&removed[0]);
    assert!(v2 > v1 && version(&since) == v2, "{since}");
    let full = collected(&api, &bob, "").await;
    assert_eq!((full["packs"].clone(), full["removed"].clone()), (json!([]), json!([])), "{full}");
    let g = status(get_pack(&api, &bob, &id).await, 200, "reading after uncollecting");
    assert_eq!((g.data()["collected"].clone(), g.data()["collect_count"].clone()), (json!(false), json!(0)), "{}", g.body);
    let a = status(uncollect(&api, &bob, &id).await, 200, "uncollecting again");
    assert_eq!(a.data(), &json!({ "pack_id": id, "collected": false }), "{}", a.body);
    assert_eq!(version(&collected(&api, &bob, "").await), v2, "a repeated uncollect does not move the version");

    // Collected again, then the owner deletes the pack.
    status(collect(&api, &bob, &id).await, 200, "collecting once more");
    let c3 = collected(&api, &bob, &format!("?since_version={v2}")).await;
    assert_eq!(pack_ids(&c3["packs"]), vec![id.clone()], "{c3}");
    let v3 = version(&c3);

    // Only the owner deletes: for anyone else the pack does not exist to delete.
    status(delete_pack(&api, &cat, &id).await, 404, "a non-owner deleting");
    status(delete_pack(&api, &bob, &id).await, 404, "the collector deleting");
    status(get_pack(&api, &cat, &id).await, 200, "the pack stays after refused deletes");
    let a = status(delete_pack(&api, &ann, &id).await, 200, "the owner deleting");
    assert_eq!(a.data(), &json!({ "pack_id": id, "deleted": true }), "{}", a.body);
    for who in [&ann, &bob, &cat] {
        let g = get_pack(&api, who, &id).await;
        status(g, 404, "a deleted pack");
    }
    status(delete_pack(&api, &ann, &id).await, 404, "deleting it again");
    status(collect(&api, &cat, &id).await, 404, "collecting a deleted pack");

    // It leaves the collector's list, as removed.
    let synced = eventually(SETTLE, || async {
        let s = collected(&api, &bob, &format!("?since_version={v3}")).await;
        s["removed"].as_array().unwrap().iter().any(|r| r["pack_id"] == id.as_str()).then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("the pack its owner deleted is listed in the collector's removed after {v3}"));
    let r = synced["removed"].as_array().unwrap().iter().find(|r| r["pack_id"] == id.as_str()).unwrap();
    assert!(version(r) > v3, "{synced}");
    assert!(!pack_ids(&synced["packs"]).contains(&id), "{synced}");
    let full = collected(&api, &bob, "").await;
    assert_eq!(full["packs"], json!([]), "the deleted pack is no longer collected: {full}");

    // And the public list.
    let gone = eventually(SETTLE, || async { (!public_packs(&api, &cat, &[], 3).await.iter().any(|x| x["pack_id"] == id.as_str())).then_some(()) }).await;
    assert!(gone.is_some(), "a deleted pack leaves the public list");
}

#[tokio::test]
async fn a_pack_needs_a_title_of_1_to_32_characters_a_short_description_and_1_to_200_of_the_callers_own_images() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "empval"), new_user(&api, "empvalb"));
    let (f, g, note, wide) = tokio::join!(
        image(&api, &ann, 12, 12, "emoji"),
        image(&api, &bob, 12, 12, "emoji"),
        async { id_of(&upload(&api, &ann, "note.txt", "chat", &text()).await) },
        image(&api, &ann, 1100, 10, "chat"),
    );
    let item = |id: &str| json!({ "file_id": id });
    let good = json!([item(&f)]);

    for (what, title) in [("an empty title", json!("")), ("33 characters", json!("x".repeat(33))), ("a number", json!(7))] {
        assert_invalid(create_pack(&api, &ann, json!({ "title": title, "items": good })).await, "title", what);
    }
    assert_invalid(create_pack(&api, &ann, json!({ "items": good })).await, "title", "no title");
    let a = create_pack(&api, &ann, json!({ "title": "ok", "description": "d".repeat(201), "items": good })).await;
    assert_invalid(a, "description", "a 201-character description");

    let many: Vec<Value> = (0..201).map(|_| item(&f)).collect();
    for (what, items) in [("no items", json!([])), ("201 items", json!(many)), ("items not a list", json!("nope"))] {
        assert_invalid(create_pack(&api, &ann, json!({ "title": "ok", "items": items })).await, "items", what);
    }
    assert_invalid(create_pack(&api, &ann, json!({ "title": "ok" })).await, "items", "no items field");

    // A bad item is named by its index (from 0) in the message.
    for (what, bad) in [
        ("someone else's image", g.clone()),
        ("an unknown file", uuid::Uuid::new_v4().to_string()),
        ("a text file", note.clone()),
        ("an image 1,100 px wide", wide.clone()),
    ] {
        let items = json!([item(&f), item(&f), item(&f), item(&bad), item(&f)]);
        let a = assert_invalid(create_pack(&api, &ann, json!({ "title": "ok", "items": items })).await, "items", what);
        let message = a.body["message"].as_str().unwrap().replace(&bad, "").replace(&f, "");
        let numbers: Vec<&str> = message.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect();
        assert!(numbers.contains(&"3"), "{what}: the message names the bad item's index 3: {}", a.body);
    }

    // The edges are accepted: 32 characters (not bytes), 200 of description, 200 items.
    let long = "ö".repeat(32);
    let p1 = pack_created(&api, &ann, &long, Some(&"d".repeat(200)), &[(&f, None)]).await;
    let ids: Vec<(&str, Option<&str>)> = (0..200).map(|_| (f.as_str(), None)).collect();
    let p2 = pack_created(&api, &ann, "Two hundred", None, &ids).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 200);

    // Refused packs were not created: only the two accepted ones are events of Ann's.
    let records = emoji_records(std::slice::from_ref(&ann.id)).await;
    let mut created: Vec<String> = of_type(&records, "EmojiPackCreated")
        .iter()
        .filter(|(_, v)| v["payload"]["owner_id"] == ann.id.as_str())
        .map(|(_, v)| v["payload"]["pack_id"].as_str().unwrap_or("?").to_owned())
        .collect();
    created.sort();
    let mut want = vec![pack_id(&p1), pack_id(&p2)];
    want.sort();
    assert_eq!(created, want, "only the accepted packs were created");
}

#[tokio::test]
async fn the_31st_pack_of_a_user_is_409_limit_reached_until_one_is_deleted() {
    let api = Api::new();
    let ann = new_user(&api, "emp30").await;
    let f = image(&api, &ann, 8, 8, "emoji").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let a = status(create_pack(&api, &ann, json!({ "title": format!("Pack {i}"), "items": [{ "file_id": f }] })).await, 200, &format!("pack {i}"));
        ids.push(pack_id(a.data()));
    }
    let body = json!({ "title": "One too many", "items": [{ "file_id": f }] });
    assert_error(create_pack(&api, &ann, body.clone()).await, 409, "limit_reached", "the 31st pack");
    status(delete_pack(&api, &ann, &ids[0]).await, 200, "deleting one");
    status(create_pack(&api, &ann, body.clone()).await, 200, "a pack in the freed place");
    assert_error(create_pack(&api, &ann, body).await, 409, "limit_reached", "the 31st again");
    // Tidy the public list.
    futures::future::join_all(ids[1..].iter().map(|id| delete_pack(&api, &ann, id))).await;
}

// ---------------------------------------------------------------------------
// 5. Push frames.

fn event_of(d: &Value) -> &str {
    d["event"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_users_own_socket_gets_emoji_changed_for_their_favourites_and_collections_and_nobody_elses_does() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "emws"), new_user(&api, "emwsb"));
    let (fa, fp) = tokio::join!(image(&api, &ann, 33, 22, "emoji"), image(&api, &ann, 22, 33, "emoji"));
    let p = pack_created(&api, &ann, "Pushed", None, &[(&fp, None)]).await;
    let pid = pack_id(&p);
    let (ann_dev, bob_dev) = (crate::helpers::unique("dev"), crate::helpers::unique("dev"));
    let (mut ann_ws, mut bob_ws): (Ws, Ws) = tokio::join!(connect(GATEWAY, &ann.token, &ann_dev, "web"), connect(GATEWAY, &bob.token, &bob_dev, "web"));
    assert_eq!((ann_ws.ready["user_id"].as_str(), bob_ws.ready["user_id"].as_str()), (Some(ann.id.as_str()), Some(bob.id.as_str())));

    // Ann favourites: her socket hears it with the event's payload.
    let fav = favorited(&api, &ann, &fa, Some("pushed")).await;
    let eid = str_of(&fav, "emoji_id").to_owned();
    let frame = ann_ws.expect_where("emoji.changed", |d| event_of(d) == "EmojiFavorited" && d["emoji_id"] == eid.as_str(), WAIT).await;
    let d = &frame["data"];
    assert_eq!(d["user_id"], ann.id.as_str(), "{frame}");
    assert_eq!(d["file_id"], fa.as_str(), "{frame}");
    assert_eq!(d["title"], "pushed", "{frame}");
    assert_eq!((d["width"].as_u64(), d["height"].as_u64()), (Some(33), Some(22)), "{frame}");
    // A repeat changes nothing, so it is not pushed (checked below, after later frames).
    favorited(&api, &ann, &fa, Some("pushed")).await;

    // Bob collects and uncollects Ann's pack: his socket hears both.
    status(collect(&api, &bob, &pid).await, 200, "collecting");
    let frame = bob_ws.expect_where("emoji.changed", |d| event_of(d) == "EmojiPackCollected", WAIT).await;
    assert_eq!((frame["data"]["user_id"].as_str(), frame["data"]["pack_id"].as_str()), (Some(bob.id.as_str()), Some(pid.as_str())), "{frame}");
    status(uncollect(&api, &bob, &pid).await, 200, "uncollecting");
    let frame = bob_ws.expect_where("emoji.changed", |d| event_of(d) == "EmojiPackUncollected", WAIT).await;
    assert_eq!(frame["data"]["pack_id"], pid.as_str(), "{frame}");

    // Ann unfavourites: her socket hears it.
    status(unfavorite(&api, &ann, &eid).await, 200, "unfavouriting");
    let frame = ann_ws.expect_where("emoji.changed", |d| event_of(d) == "EmojiUnfavorited", WAIT).await;
    assert_eq!(frame["data"]["emoji_id"], eid.as_str(), "{frame}");

    // Nobody hears anyone else's: Ann nothing of Bob's collection of her pack, Bob
    // nothing of Ann's favourites or pack; and the repeat was not pushed.
    let bob_id = bob.id.clone();
    let repeated = eid.clone();
    let theirs_for_ann = move |d: &Value| {
        d["user_id"] == bob_id.as_str()
            || matches!(event_of(d), "EmojiPackCollected" | "EmojiPackUncollected")
            || (event_of(d) == "EmojiFavorited" && d["emoji_id"] == repeated.as_str())
    };
    let bob_id = bob.id.clone();
    let theirs_for_bob = move |d: &Value| {
        (!d["user_id"].is_null() && d["user_id"] != bob_id.as_str())
            || matches!(event_of(d), "EmojiFavorited" | "EmojiUnfavorited" | "EmojiPackCreated" | "EmojiPackDeleted")
    };
    tokio::join!(
        ann_ws.assert_no("emoji.changed", theirs_for_ann, QUIET, "Ann's socket: Bob's collections, or a frame for a repeated favourite"),
        bob_ws.assert_no("emoji.changed", theirs_for_bob, QUIET, "Bob's socket: Ann's favourites or pack"),
    );
    ann_ws.close().await;
    bob_ws.close().await;
}

// ---------------------------------------------------------------------------
// 6. Events.

#[tokio::test]
async fn favourites_and_collections_are_events_keyed_by_user_id_and_packs_events_keyed_by_pack_id() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "emev"), new_user(&api, "emevb"));
    let (fa, f1, f2) = tokio::join!(image(&api, &ann, 70, 35, "emoji"), image(&api, &ann, 10, 11, "emoji"), image(&api, &ann, 12, 13, "emoji"));
    let fav = favorited(&api, &ann, &fa, Some("evented")).await;
    let eid = str_of(&fav, "emoji_id").to_owned();
    favorited(&api, &ann, &fa, Some("evented")).await; // a repeat appends nothing
    status(unfavorite(&api, &ann, &eid).await, 200, "unfavouriting");
    let p = pack_created(&api, &ann, "Evented", Some("for the log"), &[(&f1, Some("first")), (&f2, None)]).await;
    let pid = pack_id(&p);
    status(collect(&api, &bob, &pid).await, 200, "collecting");
    status(collect(&api, &bob, &pid).await, 200, "collecting again");
    status(uncollect(&api, &bob, &pid).await, 200, "uncollecting");
    status(delete_pack(&api, &ann, &pid).await, 200, "deleting the pack");

    let ids = vec![ann.id.clone(), bob.id.clone(), pid.clone()];
    let records = eventually(SETTLE, || async {
        let r = emoji_records(&ids).await;
        (!of_type(&r, "EmojiPackDeleted").is_empty() && !of_type(&r, "EmojiPackUncollected").is_empty()).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("the pack's deletion and Bob's uncollect are on {TOPIC}"));

    // Favourites: keyed by the user; a repeat appended nothing.
    let favd = of_type(&records, "EmojiFavorited");
    assert_eq!(favd.len(), 1, "one EmojiFavorited (a repeat appends nothing): {favd:#?}");
    let (key, v) = favd[0];
    assert_eq!(key, &ann.id, "keyed by the user id: {v}");
    let pl = &v["payload"];
    assert_eq!(pl["user_id"], ann.id.as_str(), "{v}");
    assert_eq!(pl["emoji_id"], eid.as_str(), "{v}");
    assert_eq!(pl["file_id"], fa.as_str(), "{v}");
    assert_eq!(pl["title"], "evented", "{v}");
    assert_eq!((pl["width"].as_u64(), pl["height"].as_u64()), (Some(70), Some(35)), "{v}");
    let unf = of_type(&records, "EmojiUnfavorited");
    assert_eq!(unf.len(), 1, "{unf:#?}");
    assert_eq!(unf[0].0, ann.id, "keyed by the user id: {:?}", unf[0]);
    assert_eq!((unf[0].1["payload"]["user_id"].as_str(), unf[0].1["payload"]["emoji_id"].as_str()), (Some(ann.id.as_str()), Some(eid.as_str())));

    // Collections: keyed by the collector; the repeat appended nothing.
    let col = of_type(&records, "EmojiPackCollected");
    assert_eq!(col.len(), 1, "one EmojiPackCollected (a repeat appends nothing): {col:#?}");
    assert_eq!(col[0].0, bob.id, "keyed by the collector's id: {:?}", col[0]);
    assert_eq!((col[0].1["payload"]["user_id"].as_str(), col[0].1["payload"]["pack_id"].as_str()), (Some(bob.id.as_str()), Some(pid.as_str())));
    let unc = of_type(&records, "EmojiPackUncollected");
    assert_eq!(unc.len(), 1, "{unc:#?}");
    assert_eq!(unc[0].0, bob.id, "{:?}", unc[0]);
    assert_eq!(unc[0].1["payload"]["pack_id"], pid.as_str(), "{:?}", unc[0]);

    // Packs: keyed by the pack id.
    let created = of_type(&records, "EmojiPackCreated");
    assert_eq!(created.len(), 1, "{created:#?}");
    let (key, v) = created[0];
    assert_eq!(key, &pid, "EmojiPackCreated is keyed by the pack id: {v}");
    let pl = &v["payload"];
    assert_eq!(pl["pack_id"], pid.as_str(), "{v}");
    assert_eq!(pl["owner_id"], ann.id.as_str(), "{v}");
    assert_eq!(pl["title"], "Evented", "{v}");
    assert_eq!(pl["description"], "for the log", "{v}");
    let items = pl["items"].as_array().unwrap_or_else(|| panic!("items: {v}"));
    let files: Vec<&str> = items.iter().map(|i| i["file_id"].as_str().unwrap_or("?")).collect();
    assert_eq!(files, vec![f1.as_str(), f2.as_str()], "the items in order: {v}");
    let deleted = of_type(&records, "EmojiPackDeleted");
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    assert_eq!(deleted[0].0, pid, "EmojiPackDeleted is keyed by the pack id: {:?}", deleted[0]);
    assert_eq!((deleted[0].1["payload"]["pack_id"].as_str(), deleted[0].1["payload"]["owner_id"].as_str()), (Some(pid.as_str()), Some(ann.id.as_str())));

    // In order: favourited before unfavourited, created before collected before deleted.
    let pos = |ty: &str| records.iter().position(|(_, v)| v["event_type"] == ty).unwrap();
    assert!(pos("EmojiFavorited") < pos("EmojiUnfavorited"));
    assert!(pos("EmojiPackCollected") < pos("EmojiPackUncollected"));
}
