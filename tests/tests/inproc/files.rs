//! The file sweeper (docs/services.md, "Storage and the sweeper"), at test
//! speed: the in-process stack's commands tier sweeps every second, expires
//! uploads after 2 s and deletes blobs unused for a second (TestStack's config).

use beaver_tests::stack::{unique, TestStack};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::{path::Path, sync::Arc, time::Duration};

/// Polls `cond` every 100 ms for up to `limit`.
async fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

pub async fn the_sweeper_expires_open_uploads_and_deletes_blobs_no_stored_file_uses(stack: Arc<TestStack>) {
    let api = stack.api();
    let (_, token) = api.signed_up(&unique("sweep")).await;
    let store = stack.file_store();

    // An upload left open: its staged part is there, then the sweeper expires it.
    let open = api.post("/api/file/uploads", Some(&token), json!({ "name": "left.bin", "size": 5, "purpose": "chat" })).await.expect(201);
    let left = open.data()["file_id"].as_str().unwrap().to_owned();
    api.put_bytes(&format!("/api/file/uploads/{left}/parts/1"), &token, b"abcde".to_vec()).await.expect(200);
    let staged = store.join(format!("staging/{left}/00001"));
    assert!(staged.exists(), "the part is staged at {}", staged.display());
    assert!(within(Duration::from_secs(15), || !staged.exists()).await, "the expired upload's staged part is deleted");
    let status = api.get(&format!("/api/file/uploads/{left}"), Some(&token)).await.expect(200);
    assert_eq!(status.data()["status"], "expired", "{}", status.body);
    assert_eq!(status.data()["parts"], json!([]), "{}", status.body);
    // An expired upload takes no more parts.
    let late = api.put_bytes(&format!("/api/file/uploads/{left}/parts/1"), &token, b"abcde".to_vec()).await.expect(410);
    assert_eq!(late.error_kind(), "gone", "{}", late.body);

    // A stored file's blob stays while the file is stored, and goes once it is deleted.
    let bytes = format!("sweep me {}", unique("bytes")).into_bytes();
    let part_hash = hex(&Sha256::digest(&bytes));
    let hash = hex(&Sha256::digest(part_hash.as_bytes()));
    let a = api.post("/api/file/uploads", Some(&token), json!({ "name": "kept.txt", "size": bytes.len(), "purpose": "chat" })).await.expect(201);
    let kept = a.data()["file_id"].as_str().unwrap().to_owned();
    api.put_bytes(&format!("/api/file/uploads/{kept}/parts/1"), &token, bytes.clone()).await.expect(200);
    let done = api.post(&format!("/api/file/uploads/{kept}/complete"), Some(&token), json!({})).await.expect(200);
    assert_eq!(done.data()["content_hash"], hash.as_str(), "{}", done.body);
    let blob = store.join(format!("blobs/{}/{hash}", &hash[..2]));
    assert!(blob.exists(), "the blob is stored at {}", blob.display());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(blob.exists(), "a blob a stored file uses survives sweeps");
    assert!(!Path::new(&store.join(format!("staging/{kept}"))).join("00001").exists(), "completing deleted the staged part");
    api.call(reqwest::Method::DELETE, &format!("/api/file/{kept}"), Some(&token), None).await.expect(200);
    assert!(within(Duration::from_secs(15), || !blob.exists()).await, "the blob no stored file uses is deleted");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
