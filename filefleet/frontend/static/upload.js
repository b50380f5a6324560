// The upload page, enhanced: several files at once, each through the resumable chunk API
// (docs/api.md), with a progress bar, a copy button, a QR code and the delete link.
// Without JavaScript the page is a plain multipart form posting to /upload.
//
// One file's upload:
//  1. Resume or create. localStorage keeps {id, delete_token, chunk_size} under the file's
//     name, size and modification time; GET /uploads/{id} tells which chunks are missing.
//     Else POST /uploads creates one (a 503 here: no storage node is active).
//  2. A Web Worker (hash-worker.js) hashes chunk after chunk; each missing chunk is claimed
//     first (the fleet may already hold it: no bytes sent), else PUT, with `inflight`
//     chunks in flight and a few retries on network errors and 5xx answers.
//  3. POST /uploads/{id}/complete with the whole-file SHA-256: the server reads the chunks
//     back and checks it. The stored entry is dropped; the delete link is shown once.
// A reload or a lost connection between steps loses nothing the server holds: choosing
// the same file again continues at step 2 with only the missing chunks.
// Cancel stops the hashing and the chunks in flight and abandons the upload on the server
// (DELETE /uploads/{id}), whose chunks the GC then frees.
// "One link for all files": each file is uploaded as above, then POST /bundles makes one
// link of them (the files' own links never show: they become the bundle's).
// Every finished link is kept in "Your recent uploads" (recent.js) until it expires.
// "Encrypt in this browser" (e2e.js, docs/encryption.md): the chunks sent are the file's
// ciphertext, the server sees the name encrypted.bin, and the key is added to the link
// after '#'; the key is kept with the upload's entry until it completes, so a resumed
// upload makes the same ciphertext.
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.Worker || !window.fetch || !window.localStorage) return;

  const input = document.getElementById("file");
  const chosen = document.getElementById("chosen");
  const fmt = window.filefleetFormat;
  const drop = document.getElementById("drop");
  const list = document.getElementById("uploads");
  const cardTemplate = document.getElementById("card-template");
  const maxUpload = Number(form.dataset.maxUpload);
  const inflight = Number(form.dataset.chunkInflight) || 4;
  const encryptBox = document.getElementById("encrypt");
  const RETRIES = 4;

  document.documentElement.classList.add("js");
  input.multiple = true;
  input.required = false;

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  class Cancelled extends Error {
    constructor() {
      super("cancelled");
    }
  }

  // -- formatting -------------------------------------------------------------------------

  const bytes = fmt.bytes;

  function duration(seconds) {
    if (!isFinite(seconds)) return "…";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.ceil((seconds % 3600) / 60)} min`;
  }

  function explain(err) {
    if (err instanceof HttpError) {
      if (err.status === 503) {
        return `The cluster cannot store files right now: ${err.message}. Try again later; ` +
          "choosing the same file again resumes the upload.";
      }
      if (err.status === 413) return `Too large: ${err.message}.`;
      if (err.status === 0) {
        return "The server could not be reached. Choose the same file again to resume.";
      }
      return `Upload failed: ${err.message}.`;
    }
    return `Upload failed: ${err.message || err}.`;
  }

  // -- HTTP -------------------------------------------------------------------------------

  async function call(method, path, body, job) {
    if (job && job.cancelled) throw new Cancelled();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: job ? job.abort.signal : undefined,
      });
    } catch (err) {
      if (job && job.cancelled) throw new Cancelled();
      throw new HttpError(0, String(err.message || err));
    }
    const text = await response.text();
    let data = null;
    try {
      data = JSON.parse(text);
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      throw new HttpError(response.status, (data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  // PUT with XMLHttpRequest: fetch() tells nothing about upload progress.
  function put(path, blob, onSent, job) {
    if (job.cancelled) return Promise.reject(new Cancelled());
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      job.requests.add(xhr);
      xhr.onloadend = () => job.requests.delete(xhr);
      xhr.onabort = () => {
        onSent(-reported);
        reject(new Cancelled());
      };
      let reported = 0;
      xhr.open("PUT", path);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (event) => {
        onSent(event.loaded - reported);
        reported = event.loaded;
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onSent(blob.size - reported);
          resolve();
          return;
        }
        onSent(-reported);
        let message = `HTTP ${xhr.status}`;
        try {
          message = JSON.parse(xhr.responseText).error || message;
        } catch (err) { /* not JSON */ }
        reject(new HttpError(xhr.status, message));
      };
      xhr.onerror = () => {
        onSent(-reported);
        reject(new HttpError(0, "network error"));
      };
      xhr.send(blob);
    });
  }

  async function withRetry(step) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        const retryable = err instanceof HttpError && (err.status === 0 || err.status >= 500);
        if (err instanceof Cancelled) throw err;
        if (!retryable || attempt >= RETRIES) throw err;
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }

  // -- a bounded pool of chunk tasks ------------------------------------------------------

  class TaskPool {
    constructor(limit) {
      this.limit = limit;
      this.waiting = [];
      this.running = 0;
      this.error = null;
      this.idle = [];
    }

    add(task) {
      if (this.error) return;
      this.waiting.push(task);
      this.next();
    }

    next() {
      while (!this.error && this.running < this.limit && this.waiting.length) {
        const task = this.waiting.shift();
        this.running++;
        task().then(
          () => this.finished(null),
          (err) => this.finished(err),
        );
      }
    }

    finished(err) {
      this.running--;
      if (err && !this.error) this.error = err;
      this.next();
      if (this.running === 0 && (this.error || !this.waiting.length)) {
        this.idle.splice(0).forEach((resolve) => resolve());
      }
    }

    async drain() {
      if (this.running || (this.waiting.length && !this.error)) {
        await new Promise((resolve) => this.idle.push(resolve));
      }
      if (this.error) throw this.error;
    }
  }

  // -- one file's card --------------------------------------------------------------------

  class Card {
    constructor(file) {
      this.node = cardTemplate.content.firstElementChild.cloneNode(true);
      this.node.querySelector(".name").textContent = file.name;
      this.node.querySelector(".size").textContent = `(${bytes(file.size)})`;
      this.bar = this.node.querySelector(".bar");
      this.bar.setAttribute("aria-label", `Upload of ${file.name}`);
      this.text = this.node.querySelector(".progress-text");
      this.message = this.node.querySelector(".message");
      this.total = file.size;
      this.done = 0; // bytes on the server: sent, claimed, or already there
      this.sent = 0; // bytes sent over the network by this page
      this.samples = [];
      this.started = performance.now();
      this.cancel = this.node.querySelector(".cancel");
      list.appendChild(this.node);
    }

    say(text, kind) {
      this.message.textContent = text;
      this.message.className = `message ${kind || ""}`;
    }

    add(doneBytes, sentBytes) {
      this.done += doneBytes;
      this.sent += sentBytes;
      const now = performance.now();
      this.samples.push([now, this.sent]);
      while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
      this.render(now);
    }

    render(now) {
      const percent = this.total ? Math.min(100, Math.floor((100 * this.done) / this.total)) : 100;
      this.bar.value = percent;
      this.bar.textContent = `${percent} %`;
      this.node.dataset.percent = String(percent);
      const [t0, s0] = this.samples[0] || [now, this.sent];
      const speed = now > t0 ? ((this.sent - s0) * 1000) / (now - t0) : 0;
      const left = speed > 0 ? (this.total - this.done) / speed : Infinity;
      this.text.textContent = `${percent} % · ${bytes(this.done)} of ${bytes(this.total)} · ` +
        `${bytes(this.sent)} sent · ${bytes(speed)}/s · ${duration(left)} left`;
    }

    // The bytes are on the server: say how they got there ("already stored" when the
    // fleet held every chunk and nothing had to be sent).
    uploaded() {
      this.done = this.total;
      this.render(performance.now());
      const seconds = (performance.now() - this.started) / 1000;
      this.node.dataset.sent = String(this.sent);
      if (this.total > 0 && this.sent === 0) {
        this.text.textContent = `100 % · ${bytes(this.total)} · already stored: nothing ` +
          "had to be sent";
      } else {
        this.text.textContent = `100 % · ${bytes(this.total)} · ${bytes(this.sent)} sent ` +
          `in ${duration(seconds)}`;
      }
    }

    finish(result) {
      this.uploaded();
      this.node.dataset.state = "done";
      this.say(`Ready. Available until ${fmt.moment(result.expires_at)} ` +
        `(${fmt.remaining(result.expires_at)}).`, "ok");
      const box = this.node.querySelector(".result");
      const link = box.querySelector(".link");
      link.value = result.url;
      box.querySelector(".open").href = result.url;
      box.querySelector(".qr").src = `/download/${encodeURIComponent(result.id)}/qr`;
      const deleteLink = box.querySelector(".delete-link");
      deleteLink.value = result.delete_url;
      box.querySelector(".copy").addEventListener(
        "click", (event) => copy(link, event.target, "Copy link"));
      box.querySelector(".copy-delete").addEventListener(
        "click", (event) => copy(deleteLink, event.target, "Copy delete link"));
      box.hidden = false;
      if (window.filefleetRecent) window.filefleetRecent.add(result);
    }

    cancelled() {
      this.node.dataset.state = "cancelled";
      this.say("Cancelled: nothing of it is kept.", "");
    }

    fail(err) {
      this.node.dataset.state = "error";
      this.say(explain(err), "error");
    }
  }

  async function copy(field, button, label) {
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (err) {
      field.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 2000);
  }

  // -- one file's upload ------------------------------------------------------------------

  function storageKey(file) {
    return `filefleet:upload:${file.name}:${file.size}:${file.lastModified}`;
  }

  async function resumable(file, key, job) {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(key) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || !saved.id) return null;
    try {
      const status = await call("GET", `/uploads/${encodeURIComponent(saved.id)}`, undefined, job);
      if (status.state === "uploading" && status.chunk_size === saved.chunk_size) {
        return { ...saved, missing: status.missing, count: status.chunk_count, resumed: true };
      }
    } catch (err) {
      if (!(err instanceof HttpError) || err.status === 0 || err.status >= 500) throw err;
    }
    localStorage.removeItem(key); // gone, completed or collected: start afresh
    return null;
  }

  async function create(file, key, options, job) {
    const body = { name: file.name, size: file.size, expires: options.expires };
    if (file.type) body.content_type = file.type;
    if (options.maxDownloads && !options.bundle) body.max_downloads = options.maxDownloads;
    if (options.encrypt && !(window.crypto && window.crypto.subtle)) {
      throw new Error("encrypting needs a secure connection (https); nothing was sent");
    }
    const secrets = options.encrypt ? window.filefleetE2E.newSecrets() : null;
    if (secrets) {
      body.name = window.filefleetE2E.PLACEHOLDER_NAME;
      body.size = window.filefleetE2E.encryptedSize(file.size);
      body.content_type = window.filefleetE2E.PLACEHOLDER_TYPE;
    }
    if (options.password) body.password = options.password;
    const upload = await call("POST", "/uploads", body, job);
    const saved = { id: upload.id, delete_token: upload.delete_token, chunk_size: upload.chunk_size };
    if (secrets) saved.e2e = secrets;
    localStorage.setItem(key, JSON.stringify(saved));
    return { ...saved, missing: upload.missing, count: upload.chunk_count, resumed: false };
  }

  async function sendChunk(upload, file, card, index, sha256, job) {
    const start = index * upload.chunk_size;
    const end = Math.min(upload.size, start + upload.chunk_size);
    const blob = upload.source
      ? new Blob([await upload.source.bytes(start, end)]) : file.slice(start, end);
    const base = `/uploads/${encodeURIComponent(upload.id)}/chunks/${index}`;
    if (!upload.noClaim) {
      try {
        const answer = await withRetry(
          () => call("POST", `${base}/claim?sha256=${sha256}`, undefined, job));
        if (answer.claimed) {
          card.add(blob.size, 0);
          return;
        }
      } catch (err) {
        if (!(err instanceof HttpError) || err.status !== 403) throw err;
        upload.noClaim = true; // deduplication is off on this server
      }
    }
    await withRetry(() => put(`${base}?sha256=${sha256}`, blob, (n) => card.add(n, n), job));
  }

  // Hash in the worker; hand each missing chunk to the pool as soon as its hash is known.
  function hashAndSend(upload, file, card, job) {
    const missing = new Set(upload.missing);
    const pool = new TaskPool(inflight);
    const worker = new Worker("/static/hash-worker.js");
    job.worker = worker;
    const hashed = new Promise((resolve, reject) => {
      worker.onmessage = (event) => {
        const message = event.data;
        if (pool.error) {
          worker.terminate();
          reject(pool.error);
        } else if (message.type === "chunk") {
          if (missing.has(message.index)) {
            pool.add(() => sendChunk(upload, file, card, message.index, message.sha256, job));
          }
        } else if (message.type === "done") {
          worker.terminate();
          resolve(message.sha256);
        } else {
          worker.terminate();
          reject(new Error(`hashing failed: ${message.message}`));
        }
      };
      worker.onerror = (event) => {
        worker.terminate();
        reject(new Error(`hashing failed: ${event.message || "worker error"}`));
      };
      job.stopHashing = () => {
        worker.terminate();
        reject(new Cancelled());
      };
    });
    worker.postMessage({ file, chunkSize: upload.chunk_size, e2e: upload.e2e || null });
    return hashed.then(async (sha256) => {
      await pool.drain();
      return sha256;
    });
  }

  // A job: what Cancel stops (fetches, chunk PUTs, the hashing worker).
  function newJob(card) {
    const job = { cancelled: false, abort: new AbortController(), requests: new Set() };
    job.cancel = () => {
      if (job.cancelled) return;
      job.cancelled = true;
      job.abort.abort();
      job.requests.forEach((xhr) => xhr.abort());
      if (job.stopHashing) job.stopHashing();
    };
    card.cancel.addEventListener("click", job.cancel);
    return job;
  }

  // Give a cancelled upload up on the server too, so its chunks are freed.
  async function abandon(upload, key) {
    localStorage.removeItem(key);
    if (!upload) return;
    const path = `/uploads/${encodeURIComponent(upload.id)}` +
      `?delete_token=${encodeURIComponent(upload.delete_token)}`;
    try {
      await call("DELETE", path);
    } catch (err) { /* collected after the GC grace anyway */ }
  }

  // One file to the server; the completed answer (its link), or null if it failed or was
  // cancelled (the card says which).
  async function uploadFile(file, options, card) {
    const job = newJob(card);
    const key = storageKey(file) + (options.encrypt ? ":e2e" : "");
    let upload = null;
    try {
      if (file.size > maxUpload) {
        throw new HttpError(413, `${file.name} is ${bytes(file.size)}; the largest upload ` +
          `this server accepts is ${bytes(maxUpload)}`);
      }
      upload = (await resumable(file, key, job)) || (await create(file, key, options, job));
      upload.source = upload.e2e ? await window.filefleetE2E.encryptedSource(file, upload.e2e) : null;
      upload.size = upload.source ? upload.source.size : file.size;
      card.total = upload.size;
      const present = upload.count - upload.missing.length;
      card.node.dataset.resumedChunks = String(upload.resumed ? present : 0);
      if (upload.resumed) {
        card.say(`Resuming: ${present} of ${upload.count} chunks are already on the server.`);
      }
      const lastSize = upload.size - (upload.count - 1) * upload.chunk_size;
      const missingBytes = upload.missing.reduce(
        (sum, i) => sum + (i === upload.count - 1 ? lastSize : upload.chunk_size), 0);
      card.add(upload.size - missingBytes, 0);
      const sha256 = await hashAndSend(upload, file, card, job);
      card.say("Checking the whole file on the server…");
      const result = await withRetry(() => call(
        "POST", `/uploads/${encodeURIComponent(upload.id)}/complete`,
        { sha256, delete_token: upload.delete_token }, job,
      ));
      localStorage.removeItem(key);
      card.cancel.hidden = true;
      if (upload.e2e) {
        result.url = `${result.url}#${upload.e2e.key}`; // the key never reaches the server
        result.name = file.name; // as "Your recent uploads" shows it, in this browser only
        card.node.dataset.encrypted = "true";
      }
      return result;
    } catch (err) {
      if (err instanceof Cancelled || job.cancelled) {
        card.cancelled();
        await abandon(upload, key);
      } else {
        card.fail(err);
      }
      return null;
    }
  }

  async function uploadOne(file, options) {
    const card = new Card(file);
    const result = await uploadFile(file, options, card);
    if (result) card.finish(result);
  }

  // Several files, one link: each uploaded on its own card, then one card for the bundle.
  async function uploadBundle(files, options) {
    const cards = files.map((file) => new Card(file));
    const results = await Promise.all(files.map((file, i) => uploadFile(file, options, cards[i])));
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const bundle = new Card({ name: `One link for ${files.length} files`, size: total });
    bundle.node.classList.add("bundle");
    bundle.cancel.hidden = true;
    if (results.some((r) => !r)) {
      bundle.fail(new Error("a file did not upload; choose the files again to retry"));
      return;
    }
    results.forEach((r, i) => {
      cards[i].uploaded();
      cards[i].node.dataset.state = "done";
      cards[i].say("Uploaded: part of the link below.", "ok");
    });
    bundle.say("Making one link for all the files…");
    try {
      const body = { files: results.map((r) => ({ id: r.id, delete_token: tokenOf(r) })) };
      if (options.expires) body.expires = options.expires;
      if (options.maxDownloads) body.max_downloads = options.maxDownloads;
      if (options.password) body.password = options.password;
      const result = await withRetry(() => call("POST", "/bundles", body));
      bundle.sent = cards.reduce((sum, c) => sum + c.sent, 0);
      bundle.finish(result);
    } catch (err) {
      bundle.fail(err);
    }
  }

  function tokenOf(result) {
    return decodeURIComponent(result.delete_url.split("/").pop());
  }

  function uploadAll(files) {
    if (!files.length) return;
    const options = {
      expires: form.elements.expires.value,
      maxDownloads: Number(form.elements.max_downloads.value) || null,
      encrypt: Boolean(encryptBox && encryptBox.checked && window.filefleetE2E),
      password: form.elements.password.value || null,
    };
    options.bundle = !options.encrypt && form.elements.bundle.checked && files.length > 1;
    if (chosen) chosen.textContent = files.map((f) => f.name).join(", ");
    if (options.bundle) {
      uploadBundle(files, options);
      return;
    }
    for (const file of files) uploadOne(file, options);
  }

  input.addEventListener("change", () => {
    const files = Array.from(input.files);
    input.value = "";
    uploadAll(files);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    uploadAll(Array.from(input.files));
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("dragging"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    uploadAll(Array.from(event.dataTransfer.files));
  });
})();
