//! `emoji import|delete`: the app's own (official) sticker packs
//! (docs/services.md, "Official packs"). An import examines every entry of
//! a folder first — sniffs each file's bytes and decodes the images with the
//! upload path's own code (`beaver_platform::files`) — and lets
//! `beaver_writemodel::domain::emoji` apply the item rules to all of them;
//! only a folder without a refused entry is stored (blobs and thumbnails in
//! the tiers' file store) and appended (`FileStored` on `beaver.files.v1`,
//! then `EmojiPackCreated` on `beaver.emoji.v1`), with the operator as
//! actor. Both commands return once the projections show what they
//! appended.

use crate::{operate, Global};
use anyhow::Context;
use beaver_events::{emoji::EmojiEvent, files::FileEvent, DomainEvent};
use beaver_platform::files::{decode_image, sniff, FileStore};
use beaver_readmodel::{
    emoji as read, files as files_read,
    progress::{EMOJI_PROJECTOR, FILES_PROJECTOR},
};
use beaver_writemodel::domain::{
    emoji::{self as rules, Examined, ExistingPack, FolderEntry, OfficialImport, OfficialState},
    files::{content_hash, DECODED_IMAGES, MAX_IMAGE_SIDE},
};
use clap::Subcommand;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};
use uuid::Uuid;

/// How long a command waits for the projections to show what it appended.
const VISIBLE_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Subcommand)]
pub enum EmojiCommand {
    /// Import a folder of images as an official sticker pack, which every user sees and may collect.
    ///
    /// Every regular file of <DIR> must be a PNG, GIF, WebP or JPEG image (sniffed from
    /// its bytes, never the extension) of at most 1,024 px a side and 2 MiB; each becomes
    /// an item, in file-name order, titled by its file name without the extension (cut to
    /// 32 characters). If any entry is not such an image, every such entry is named with
    /// why, the command exits 1, and nothing is stored or appended.
    ///
    /// The images go to the file store (--file-store, as the tiers use it) and to
    /// beaver.files.v1 (owner 00000000-0000-0000-0000-000000000000), then the pack to
    /// beaver.emoji.v1 with "official": true. The pack id is made of the title and the
    /// images: importing the same folder under the same title again prints unchanged.
    ///
    ///   beaver-admin emoji import ./stickers/classics --title "Beaver classics" \
    ///     --description "The originals"
    #[command(verbatim_doc_comment)]
    Import {
        /// The folder of images.
        dir: PathBuf,
        /// The pack's title (1–32 characters).
        #[arg(long)]
        title: String,
        /// Shown with the pack (at most 200 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete an official pack: it leaves the public list and every user's collection.
    ///
    /// A user's pack is refused (exit 1): only its owner deletes it, through the API.
    ///
    ///   beaver-admin emoji delete 6f1c…
    #[command(verbatim_doc_comment)]
    Delete {
        /// The pack id (as `emoji import` printed it).
        pack_id: Uuid,
    },
}

pub async fn run(global: &Global, cmd: EmojiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EmojiCommand::Import { dir, title, description } => import(global, dir, title, description).await,
        EmojiCommand::Delete { pack_id } => delete(global, pack_id).await,
    }
}

/// One entry of the folder: the rules' view of it, and what storing it needs.
struct Found {
    entry: FolderEntry,
    path: PathBuf,
    /// The thumbnail made while decoding (to store under the content hash).
    thumbnail: Option<Vec<u8>>,
}

/// Reads at most `limit` bytes of `path`.
fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// As an upload of `bytes` in one part would name them.
fn hash_of(bytes: &[u8]) -> String {
    content_hash(&[hex::encode(Sha256::digest(bytes))])
}

/// Examines one entry: what a regular file's bytes are (its type sniffed,
/// an image decoded under the upload path's limits), or why it is not one.
fn examine(path: &Path) -> (Result<Examined, String>, Option<Vec<u8>>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return (Err("not a regular file".into()), None),
        Err(e) => return (Err(format!("cannot be read: {e}")), None),
    };
    let size = meta.len();
    // A file over the size limit is refused on its size: read only enough to name its type.
    let limit = if size > rules::MAX_BYTES { 8 * 1024 } else { rules::MAX_BYTES + 1 };
    let bytes = match read_at_most(path, limit) {
        Ok(b) => b,
        Err(e) => return (Err(format!("cannot be read: {e}")), None),
    };
    // What was read is the file (it may have changed since its metadata).
    let size = if size > rules::MAX_BYTES { size } else { bytes.len() as u64 };
    let mime = sniff(&bytes);
    if size > rules::MAX_BYTES || !DECODED_IMAGES.contains(&mime.as_str()) {
        return (Ok(Examined { size, mime, decoded: Err("not decoded".into()), content_hash: String::new() }), None);
    }
    let content_hash = hash_of(&bytes);
    match decode_image(&bytes, MAX_IMAGE_SIDE) {
        Ok(image) => (Ok(Examined { size, mime, decoded: Ok((image.width, image.height)), content_hash }), Some(image.thumbnail)),
        Err(e) => (Ok(Examined { size, mime, decoded: Err(e.to_string()), content_hash }), None),
    }
}

/// Every entry of `dir`, examined.
fn examine_folder(dir: &Path) -> anyhow::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read the folder {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read the folder {}", dir.display()))?;
        let path = entry.path();
        let (content, thumbnail) = examine(&path);
        found.push(Found { entry: FolderEntry { name: entry.file_name().to_string_lossy().into_owned(), content }, path, thumbnail });
    }
    Ok(found)
}

/// A pack item as `emoji import --json` prints it (the API's item shape).
#[derive(Debug, Serialize)]
struct ItemOut {
    emoji_id: Uuid,
    file_id: Uuid,
    url: String,
    title: String,
    width: u32,
    height: u32,
}

/// What `emoji import` did.
#[derive(Debug, Serialize)]
struct Imported {
    pack_id: Uuid,
    items: Vec<ItemOut>,
    /// `created` or `unchanged`.
    status: &'static str,
}

/// What `emoji delete` did.
#[derive(Debug, Serialize)]
struct Deleted {
    pack_id: Uuid,
    /// `deleted` or `unchanged` (deleted before).
    status: &'static str,
    /// How many users' collections it left.
    uncollected: usize,
}

/// The file store the tiers use (`--file-store`, `BEAVER_FILE_STORE`).
fn file_store(global: &Global) -> anyhow::Result<FileStore> {
    let dir = global.file_store.as_str();
    if !Path::new(dir).is_dir() {
        eprintln!("note: the file store {dir} did not exist and is created; the tiers must use it too (BEAVER_FILE_STORE)");
    }
    FileStore::local(dir)
}

async fn import(global: &Global, dir: PathBuf, title: String, description: Option<String>) -> anyhow::Result<ExitCode> {
    let operator = operate::operator(global)?;
    // 1. Every entry examined and every rule applied: a refusal stores and appends nothing.
    let found = tokio::task::spawn_blocking(move || examine_folder(&dir)).await.context("the folder's examination failed")??;
    let req = OfficialImport { title, description, files: found.iter().map(|f| f.entry.clone()).collect() };
    let pack = rules::check_official_pack(&req).map_err(operate::refused)?;
    let pool = operate::database(global).await?;
    let pack_active = read::pack_standing(&pool, pack.pack_id).await?.is_some_and(|p| p.active);
    let mut stored_files = Vec::new();
    for item in &pack.items {
        let id = item.item.file_id;
        if !stored_files.contains(&id) && files_read::load(&pool, id).await?.is_some_and(|f| f.status == "stored") {
            stored_files.push(id);
        }
    }
    let events = rules::decide_official_pack(&OfficialState { pack_active, stored_files }, &pack);
    let items = pack
        .items
        .iter()
        .map(|i| ItemOut {
            emoji_id: i.item.emoji_id,
            file_id: i.item.file_id,
            url: format!("/api/file/{}", i.item.file_id),
            title: i.item.title.clone(),
            width: i.item.width,
            height: i.item.height,
        })
        .collect();
    let out = Imported { pack_id: pack.pack_id, items, status: if events.unchanged() { "unchanged" } else { "created" } };

    if !events.unchanged() {
        // 2. The bytes, under their content hash, before any event names them.
        let store = file_store(global)?;
        for event in &events.files {
            let FileEvent::FileStored(f) = event else { continue };
            let source = found
                .iter()
                .find(|s| s.entry.content.as_ref().is_ok_and(|e| e.content_hash == f.content_hash))
                .context("an image to store was not among the examined files")?;
            let bytes = read_at_most(&source.path, rules::MAX_BYTES + 1).with_context(|| format!("cannot read {}", source.path.display()))?;
            anyhow::ensure!(hash_of(&bytes) == f.content_hash, "{} changed while it was imported; nothing of the pack was appended, run the import again", source.path.display());
            if store.size(&f.blob_key).await?.is_none() {
                store.put(&f.blob_key, bytes.into()).await.with_context(|| format!("cannot store {}", f.blob_key))?;
            }
            if let (Some(key), Some(thumbnail)) = (&f.thumb_key, &source.thumbnail) {
                store.put(key, thumbnail.clone().into()).await.with_context(|| format!("cannot store {key}"))?;
            }
        }
        // 3. The images' facts, then the pack.
        let stored = operate::append_at(global, &operator, events.files).await?;
        let created = operate::append_at(global, &operator, events.pack.into_iter().collect()).await?;
        let visible = operate::applied(&pool, FILES_PROJECTOR, FileEvent::TOPIC, &stored, VISIBLE_WITHIN).await?
            && operate::applied(&pool, EMOJI_PROJECTOR, EmojiEvent::TOPIC, &created, VISIBLE_WITHIN).await?;
        if !visible {
            eprintln!("note: appended, but the projections do not show it yet (are beaver-projectors running?)");
        }
    }

    if global.json {
        println!("{}", serde_json::to_string(&out)?);
    } else if out.status == "created" {
        println!("{}: created, {} items (appended by {operator})", out.pack_id, out.items.len());
    } else {
        println!("{}: unchanged", out.pack_id);
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(global: &Global, pack_id: Uuid) -> anyhow::Result<ExitCode> {
    let operator = operate::operator(global)?;
    let pool = operate::database(global).await?;
    let standing = read::pack_standing(&pool, pack_id).await?.map(|p| ExistingPack { owner_id: p.owner_id, official: p.official, active: p.active });
    let collectors = match &standing {
        Some(p) if p.official => read::collectors(&pool, pack_id).await?,
        _ => vec![],
    };
    let events = rules::decide_delete_official(standing.as_ref(), pack_id, &collectors).map_err(operate::refused)?;
    let deleted = events.iter().any(|e| matches!(e, EmojiEvent::EmojiPackDeleted(_)));
    let uncollected = events.iter().filter(|e| matches!(e, EmojiEvent::EmojiPackUncollected(_))).count();
    let positions = operate::append_at(global, &operator, events).await?;
    if !operate::applied(&pool, EMOJI_PROJECTOR, EmojiEvent::TOPIC, &positions, VISIBLE_WITHIN).await? {
        eprintln!("note: appended, but the emoji projection does not show it yet (are beaver-projectors running?)");
    }
    let out = Deleted { pack_id, status: if deleted { "deleted" } else { "unchanged" }, uncollected };
    if global.json {
        println!("{}", serde_json::to_string(&out)?);
    } else if deleted {
        println!("{pack_id}: deleted, left {uncollected} collections (appended by {operator})");
    } else if uncollected > 0 {
        println!("{pack_id}: deleted before; left {uncollected} more collections (appended by {operator})");
    } else {
        println!("{pack_id}: unchanged (deleted before)");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn folder(files: &[(&str, Vec<u8>)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("beaver-admin-emoji-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        dir
    }

    #[test]
    fn a_folder_is_examined_by_its_bytes_and_checked_as_a_whole() {
        let dir = folder(&[("b.txt", png(10, 20)), ("a.png", b"not an image".to_vec()), ("big.png", png(1100, 4))]);
        std::fs::create_dir(dir.join("sub")).unwrap();
        let found = examine_folder(&dir).unwrap();
        let of = |name: &str| found.iter().find(|f| f.entry.name == name).unwrap();
        let b = of("b.txt").entry.content.clone().unwrap();
        assert_eq!((b.mime.as_str(), b.decoded.clone()), ("image/png", Ok((10, 20))), "sniffed, whatever the extension");
        assert_eq!(b.content_hash, content_hash(&[hex::encode(Sha256::digest(png(10, 20)))]), "hashed as a one-part upload");
        assert!(of("b.txt").thumbnail.is_some());
        let req = OfficialImport { title: "Mixed".into(), description: None, files: found.iter().map(|f| f.entry.clone()).collect() };
        let why = rules::check_official_pack(&req).unwrap_err().to_string();
        for named in ["a.png: not a PNG", "big.png: 1100×4 px", "sub: not a regular file"] {
            assert!(why.contains(named), "{named:?} in {why}");
        }
        assert!(!why.contains("b.txt"), "{why}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_over_2_mib_is_refused_without_reading_it_whole() {
        let mut bytes = png(4, 4);
        bytes.resize(rules::MAX_BYTES as usize + 1, 0);
        let dir = folder(&[("huge.png", bytes)]);
        let (content, thumbnail) = examine(&dir.join("huge.png"));
        let e = content.unwrap();
        assert_eq!((e.size, e.mime.as_str(), thumbnail), (rules::MAX_BYTES + 1, "image/png", None));
        let req = OfficialImport { title: "Big".into(), description: None, files: vec![FolderEntry { name: "huge.png".into(), content: Ok(e) }] };
        assert!(rules::check_official_pack(&req).unwrap_err().to_string().contains("huge.png: 2097153 bytes"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
