//! Where uploaded bytes live: an `object_store` store (the local file
//! system by default), shared by the commands tier (writes parts, blobs and
//! thumbnails), query-api (streams downloads) and `beaver-admin emoji import`
//! (stores official packs' images). The keys are named here once
//! (docs/services.md, "Storage and the sweeper"); bytes never go into Kafka.
//!
//! What a stored file's bytes are is also decided here, once for every
//! writer: [`sniff`] names the MIME type from the bytes (`infer`), and
//! [`decode_image`] decodes an image under limits for its size and the
//! thumbnail stored under [`thumb_key`]. Both are pure (no I/O); callers
//! run the decoder off the async executor.

use bytes::Bytes;
use futures::{stream::BoxStream, StreamExt};
use object_store::{local::LocalFileSystem, path::Path, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use std::{ops::Range, sync::Arc};
use uuid::Uuid;

/// The file store.
#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("store", &self.store.to_string()).finish()
    }
}

/// A staged part of an upload.
pub fn part_key(file_id: Uuid, part_no: u32) -> String {
    format!("staging/{file_id}/{part_no:05}")
}

/// The stored bytes of a content hash (hex).
pub fn blob_key(content_hash: &str) -> String {
    format!("blobs/{}/{content_hash}", &content_hash[..2.min(content_hash.len())])
}

/// The thumbnail of a content hash (a JPEG of at most [`THUMB_SIDE`] px a side).
pub fn thumb_key(content_hash: &str) -> String {
    format!("thumbs/{content_hash}_{THUMB_SIDE}.jpg")
}

/// The longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 320;

/// The MIME type of `bytes`, sniffed from the bytes alone (never from a
/// name or a client's word); `application/octet-stream` when unknown.
pub fn sniff(bytes: &[u8]) -> String {
    infer::get(bytes).map(|t| t.mime_type().to_owned()).unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// A decoded image: its size as shown (EXIF orientation applied) and its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedImage {
    pub width: u32,
    pub height: u32,
    /// A JPEG of at most [`THUMB_SIDE`] px a side, to store under [`thumb_key`].
    pub thumbnail: Vec<u8>,
}

/// Why an image was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A side is longer than the decoder's limit (or the pixels would need too much memory).
    #[error("larger than the decoder accepts ({0} px a side)")]
    TooLarge(u32),
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
}

/// Decodes an image (JPEG, PNG, GIF or WebP) with each side at most
/// `max_side` px and at most 256 MiB of pixels, and makes its thumbnail.
/// CPU-bound: run it with `spawn_blocking` in async code.
pub fn decode_image(bytes: &[u8], max_side: u32) -> Result<DecodedImage, ImageError> {
    use image::{ImageDecoder, ImageReader};
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(256 * 1024 * 1024);
    let refused = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => ImageError::TooLarge(max_side),
        other => ImageError::Undecodable(other.to_string()),
    };
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| ImageError::Undecodable(e.to_string()))?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(refused)?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    let thumb = img.thumbnail(THUMB_SIDE, THUMB_SIDE).into_rgb8();
    let mut thumbnail = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumbnail, 80).encode_image(&thumb).map_err(|e| ImageError::Undecodable(e.to_string()))?;
    Ok(DecodedImage { width, height, thumbnail })
}

impl FileStore {
    /// The local file system under `dir` (created if missing).
    pub fn local(dir: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create the file store {dir}: {e}"))?;
        Ok(FileStore { store: Arc::new(LocalFileSystem::new_with_prefix(dir)?) })
    }

    /// Any store (tests, other backends).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        FileStore { store }
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> object_store::Result<()> {
        self.store.put(&Path::from(key), PutPayload::from(bytes)).await.map(|_| ())
    }

    pub async fn get(&self, key: &str) -> object_store::Result<Bytes> {
        self.store.get(&Path::from(key)).await?.bytes().await
    }

    /// The size of an object, `None` if there is none.
    pub async fn size(&self, key: &str) -> object_store::Result<Option<u64>> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes `range` of an object as a stream (a download).
    pub async fn stream(&self, key: &str, range: Range<u64>) -> object_store::Result<BoxStream<'static, object_store::Result<Bytes>>> {
        let options = GetOptions::default().with_range(Some(GetRange::Bounded(range)));
        Ok(self.store.get_opts(&Path::from(key), options).await?.into_stream())
    }

    /// Writes the concatenation of `parts` (keys, in order) to `key`,
    /// streaming (no part is held in memory twice).
    pub async fn concatenate(&self, parts: &[String], key: &str) -> object_store::Result<()> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
        for part in parts {
            let mut chunks = self.store.get(&Path::from(part.as_str())).await?.into_stream();
            while let Some(chunk) = chunks.next().await {
                writer.wait_for_capacity(4).await?;
                writer.put(chunk?);
            }
        }
        writer.finish().await.map(|_| ())
    }

    /// Deletes an object; one that is not there is no error.
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The keys under `prefix` last written more than `age` ago.
    pub async fn list_older(&self, prefix: &str, age: std::time::Duration) -> object_store::Result<Vec<String>> {
        let before = unix_now() - age.as_secs() as i64;
        let mut out = Vec::new();
        let mut items = self.store.list(Some(&Path::from(prefix)));
        while let Some(item) = items.next().await {
            let item = item?;
            if item.last_modified.timestamp() <= before {
                out.push(item.location.to_string());
            }
        }
        Ok(out)
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_image_is_sniffed_from_its_bytes_and_decoded_with_a_small_jpeg_thumbnail() {
        let bytes = png(640, 200);
        assert_eq!(sniff(&bytes), "image/png");
        assert_eq!(sniff(b"just text, whatever the name says"), "application/octet-stream");
        let d = decode_image(&bytes, 16_384).unwrap();
        assert_eq!((d.width, d.height), (640, 200));
        assert_eq!(sniff(&d.thumbnail), "image/jpeg");
        let thumb = image::load_from_memory(&d.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (THUMB_SIDE, 100));
        assert_eq!(thumb_key("ab"), "thumbs/ab_320.jpg");
    }

    #[test]
    fn an_image_over_the_limit_or_not_an_image_is_not_decoded() {
        assert_eq!(decode_image(&png(65, 10), 64), Err(ImageError::TooLarge(64)));
        let cut = &png(32, 32)[..60];
        assert!(matches!(decode_image(cut, 64), Err(ImageError::Undecodable(_))), "{:?}", decode_image(cut, 64));
        assert!(matches!(decode_image(b"plain text", 64), Err(ImageError::Undecodable(_))));
    }
}
