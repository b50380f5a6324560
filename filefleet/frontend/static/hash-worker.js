// The hashing Web Worker of the upload page: reads the file chunk after chunk, hashes each
// chunk with WebCrypto (the id the server checks the chunk against) and feeds it to the
// incremental whole-file SHA-256 (sha256.js; WebCrypto has no streaming digest), so the
// page stays responsive on a file of any size.
//
// With `e2e` (the secrets of an encrypted upload, e2e.js), what is read, hashed and
// sent is the file's ciphertext, made again chunk by chunk from the file.
//
// in:  {file: File, chunkSize: number, e2e?: {key, salt, nonce}}
// out: {type: "chunk", index, sha256, hashed}   one per chunk, in order
//      {type: "done", sha256}                   the whole file's SHA-256
//      {type: "error", message}
"use strict";
importScripts("/static/sha256.js", "/static/e2e.js");

async function chunkHex(bytes) {
  const subtle = self.crypto && self.crypto.subtle; // absent outside a secure context
  if (subtle) return self.filefleetHex(new Uint8Array(await subtle.digest("SHA-256", bytes)));
  return new self.FilefleetSha256().update(bytes).hex();
}

self.onmessage = async (event) => {
  const { file, chunkSize, e2e } = event.data;
  try {
    const source = e2e ? await self.filefleetE2E.encryptedSource(file, e2e) : null;
    const size = source ? source.size : file.size;
    const whole = new self.FilefleetSha256();
    const count = Math.ceil(size / chunkSize);
    for (let index = 0; index < count; index++) {
      const end = Math.min(size, (index + 1) * chunkSize);
      const bytes = source
        ? await source.bytes(index * chunkSize, end)
        : new Uint8Array(await file.slice(index * chunkSize, end).arrayBuffer());
      const sha256 = await chunkHex(bytes);
      whole.update(bytes);
      self.postMessage({ type: "chunk", index, sha256, hashed: end });
    }
    self.postMessage({ type: "done", sha256: whole.hex() });
  } catch (err) {
    self.postMessage({ type: "error", message: String((err && err.message) || err) });
  }
};
