// The download Service Worker of end-to-end encrypted files (docs/encryption.md): it turns
// the ciphertext of a link into a plaintext download that streams to disk, so a file of
// many GiB never sits whole in memory.
//
// The landing page registers it for the scope /static/e2e/ and posts
// {type: "download", token, url, key} with a MessagePort; it then opens
// /static/e2e/download/<token> in a hidden frame. This worker answers that request by
// fetching `url` (the ciphertext), opening its header with the key (a wrong key: an error
// on the port, nothing downloaded), and responding with the plaintext as an attachment,
// decrypted record by record as the browser writes it; a record that does not verify
// makes the download fail. The port hears "registered", "header", "progress", "done" and
// "error". The key stays in this browser: the request for the ciphertext carries none.
"use strict";
importScripts("/static/e2e.js");

const E2E = self.filefleetE2E;
const pending = new Map(); // token -> {url, key, port}, until its download is requested

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const message = event.data;
  const port = event.ports[0];
  if (!message || message.type !== "download" || !port) return;
  pending.set(String(message.token), { url: message.url, key: message.key, port });
  port.postMessage({ type: "registered" });
});

self.addEventListener("fetch", (event) => {
  const match = new URL(event.request.url).pathname.match(/^\/static\/e2e\/download\/(\w+)$/);
  if (!match) return;
  const job = pending.get(match[1]);
  pending.delete(match[1]);
  if (!job) {
    event.respondWith(new Response("This download was started already.", { status: 404 }));
    return;
  }
  event.respondWith(decrypting(job));
});

function disposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

async function decrypting(job) {
  const port = job.port;
  try {
    const opener = new E2E.Opener(job.key);
    const answer = await fetch(job.url, { headers: { Accept: "application/octet-stream" } });
    if (!answer.ok) {
      let message = `HTTP ${answer.status}`;
      try {
        message = (await answer.json()).error || message;
      } catch (err) { /* not JSON */ }
      throw new Error(message);
    }
    const reader = answer.body.getReader();
    const early = await E2E.openHeader(reader, opener);
    const header = opener.header;
    port.postMessage({ type: "header", name: header.name, size: header.size,
      content_type: header.content_type });
    let written = 0;
    let reported = 0;
    const plain = E2E.plaintextStream(reader, opener, early, {
      progress(n) {
        written += n;
        if (written - reported >= 4 * 1024 * 1024 || written === header.size) {
          reported = written;
          port.postMessage({ type: "progress", bytes: written });
        }
      },
      end(err) {
        if (err) port.postMessage({ type: "error", message: err.message || String(err) });
        else port.postMessage({ type: "done", name: header.name, size: written });
      },
    });
    return new Response(plain, {
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": disposition(header.name),
        "Content-Length": String(header.size),
        "X-Content-Type-Options": "nosniff",
      },
    });
  } catch (err) {
    const message = (err && err.message) || String(err);
    port.postMessage({ type: "error", message });
    return new Response(message, { status: 400, headers: { "Content-Type": "text/plain" } });
  }
}
