//! Where uploaded bytes live: an `object_store` store (the local file
//! system by default), shared by the commands tier (writes parts, blobs and
//! thumbnails) and query-api (streams downloads). The keys are named here
//! once (docs/services.md, "Storage and the sweeper"); bytes never go into Kafka.

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

/// The thumbnail of a content hash.
pub fn thumb_key(content_hash: &str) -> String {
    format!("thumbs/{content_hash}_320.jpg")
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
