// Files (docs/services.md, "Files and uploads"): resumable uploads in parts,
// and downloads with the bearer header turned into blob: URLs, so the
// access token never lands in an <img src> (or the gateway's access log).

import { post, put, accessToken, refresh } from './api.js';

/**
 * Upload a File. onProgress(fraction). Resolves with the `complete` answer:
 * {file_id, url, thumb_url, name, size, mime, kind, width, height}.
 */
export async function upload(file, purpose = 'chat', onProgress = () => {}) {
  const init = await post('/api/file/uploads', { name: cleanName(file.name), size: file.size, purpose });
  const { file_id: id, part_size: partSize, part_count: parts } = init;
  for (let n = 1; n <= parts; n += 1) {
    const chunk = file.slice((n - 1) * partSize, Math.min(file.size, n * partSize));
    await put(`/api/file/uploads/${id}/parts/${n}`, chunk, { raw: true, headers: { 'content-type': 'application/octet-stream' } });
    onProgress(n / parts);
  }
  return post(`/api/file/uploads/${id}/complete`, {});
}

function cleanName(name) {
  // the server refuses / \ NUL and control characters
  const s = String(name || 'file').replace(/[\\/\u0000-\u001f\u007f]/g, '_').slice(0, 255);
  return s || 'file';
}

const blobCache = new Map(); // path -> Promise<objectURL>

/** A blob: URL for a file path such as /api/file/<id>[?thumb=1] (cached per page). */
export function blobUrl(path) {
  if (!isFilePath(path)) return Promise.resolve(null);
  if (!blobCache.has(path)) {
    const p = fetchBlob(path).then((b) => URL.createObjectURL(b));
    p.catch(() => blobCache.delete(path));
    blobCache.set(path, p);
  }
  return blobCache.get(path);
}

async function fetchBlob(path, retried = false) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${accessToken()}` } });
  if (res.status === 401 && !retried) {
    await refresh();
    return fetchBlob(path, true);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.blob();
}

export function isFilePath(url) {
  return typeof url === 'string' && /^\/api\/file\/[0-9a-fA-F-]{36}(\?thumb=1)?$/.test(url);
}

/** Save a stored file under its name (a download the browser handles). */
export async function download(path, name) {
  const href = await blobUrl(path);
  const a = document.createElement('a');
  a.href = href;
  a.download = name || 'file';
  document.body.append(a);
  a.click();
  a.remove();
}

/** Fill an <img> from a stored file path; external http(s) URLs are not loaded (CSP: self only). */
export function loadInto(img, path) {
  blobUrl(path)
    .then((u) => {
      if (u) img.src = u;
    })
    .catch(() => {
      img.alt = `${img.alt || 'image'} (could not be loaded)`;
      img.classList.add('broken');
    });
}

