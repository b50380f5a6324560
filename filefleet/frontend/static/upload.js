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
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.Worker || !window.fetch || !window.localStorage) return;

  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const list = document.getElementById("uploads");
  const cardTemplate = document.getElementById("card-template");
  const maxUpload = Number(form.dataset.maxUpload);
  const inflight = Number(form.dataset.chunkInflight) || 4;
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

  // -- formatting -------------------------------------------------------------------------

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  }

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

  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
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
  function put(path, blob, onSent) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
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

    finish(result) {
      this.done = this.total;
      this.render(performance.now());
      const seconds = (performance.now() - this.started) / 1000;
      this.text.textContent = `100 % · ${bytes(this.total)} · ${bytes(this.sent)} sent in ` +
        `${duration(seconds)}`;
      this.node.dataset.state = "done";
      this.say(`Ready. Available until ${new Date(result.expires_at).toLocaleString()}.`, "ok");
      const box = this.node.querySelector(".result");
      const link = box.querySelector(".link");
      link.value = result.url;
      box.querySelector(".open").href = result.url;
      box.querySelector(".qr").src = `/download/${encodeURIComponent(result.id)}/qr`;
      box.querySelector(".delete-link").value = result.delete_url;
      box.querySelector(".copy").addEventListener("click", (event) => copy(link, event.target));
      box.hidden = false;
    }

    fail(err) {
      this.node.dataset.state = "error";
      this.say(explain(err), "error");
    }
  }

  async function copy(field, button) {
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (err) {
      field.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy link"; }, 2000);
  }

  // -- one file's upload ------------------------------------------------------------------

  function storageKey(file) {
    return `filefleet:upload:${file.name}:${file.size}:${file.lastModified}`;
  }

  async function resumable(file, key) {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(key) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || !saved.id) return null;
    try {
      const status = await call("GET", `/uploads/${encodeURIComponent(saved.id)}`);
      if (status.state === "uploading" && status.chunk_size === saved.chunk_size) {
        return { ...saved, missing: status.missing, count: status.chunk_count, resumed: true };
      }
    } catch (err) {
      if (!(err instanceof HttpError) || err.status === 0 || err.status >= 500) throw err;
    }
    localStorage.removeItem(key); // gone, completed or collected: start afresh
    return null;
  }

  async function create(file, key, options) {
    const body = { name: file.name, size: file.size, expires: options.expires };
    if (file.type) body.content_type = file.type;
    if (options.maxDownloads) body.max_downloads = options.maxDownloads;
    const upload = await call("POST", "/uploads", body);
    const saved = { id: upload.id, delete_token: upload.delete_token, chunk_size: upload.chunk_size };
    localStorage.setItem(key, JSON.stringify(saved));
    return { ...saved, missing: upload.missing, count: upload.chunk_count, resumed: false };
  }

  async function sendChunk(upload, file, card, index, sha256) {
    const start = index * upload.chunk_size;
    const blob = file.slice(start, Math.min(file.size, start + upload.chunk_size));
    const base = `/uploads/${encodeURIComponent(upload.id)}/chunks/${index}`;
    if (!upload.noClaim) {
      try {
        const answer = await withRetry(() => call("POST", `${base}/claim?sha256=${sha256}`));
        if (answer.claimed) {
          card.add(blob.size, 0);
          return;
        }
      } catch (err) {
        if (!(err instanceof HttpError) || err.status !== 403) throw err;
        upload.noClaim = true; // deduplication is off on this server
      }
    }
    await withRetry(() => put(`${base}?sha256=${sha256}`, blob, (n) => card.add(n, n)));
  }

  // Hash in the worker; hand each missing chunk to the pool as soon as its hash is known.
  function hashAndSend(upload, file, card) {
    const missing = new Set(upload.missing);
    const pool = new TaskPool(inflight);
    const worker = new Worker("/static/hash-worker.js");
    const hashed = new Promise((resolve, reject) => {
      worker.onmessage = (event) => {
        const message = event.data;
        if (pool.error) {
          worker.terminate();
          reject(pool.error);
        } else if (message.type === "chunk") {
          if (missing.has(message.index)) {
            pool.add(() => sendChunk(upload, file, card, message.index, message.sha256));
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
    });
    worker.postMessage({ file, chunkSize: upload.chunk_size });
    return hashed.then(async (sha256) => {
      await pool.drain();
      return sha256;
    });
  }

  async function uploadFile(file, options) {
    const card = new Card(file);
    try {
      if (file.size > maxUpload) {
        throw new HttpError(413, `${file.name} is ${bytes(file.size)}; the largest upload ` +
          `this server accepts is ${bytes(maxUpload)}`);
      }
      const key = storageKey(file);
      const upload = (await resumable(file, key)) || (await create(file, key, options));
      const present = upload.count - upload.missing.length;
      card.node.dataset.resumedChunks = String(upload.resumed ? present : 0);
      if (upload.resumed) {
        card.say(`Resuming: ${present} of ${upload.count} chunks are already on the server.`);
      }
      const lastSize = file.size - (upload.count - 1) * upload.chunk_size;
      const missingBytes = upload.missing.reduce(
        (sum, i) => sum + (i === upload.count - 1 ? lastSize : upload.chunk_size), 0);
      card.add(file.size - missingBytes, 0);
      const sha256 = await hashAndSend(upload, file, card);
      card.say("Checking the whole file on the server…");
      const result = await withRetry(() => call(
        "POST", `/uploads/${encodeURIComponent(upload.id)}/complete`,
        { sha256, delete_token: upload.delete_token },
      ));
      localStorage.removeItem(key);
      card.finish(result);
    } catch (err) {
      card.fail(err);
    }
  }

  function uploadAll(files) {
    const options = {
      expires: form.elements.expires.value,
      maxDownloads: Number(form.elements.max_downloads.value) || null,
    };
    for (const file of files) uploadFile(file, options);
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
