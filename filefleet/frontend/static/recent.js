// "Your recent uploads": the links this browser made, kept in localStorage until they
// expire, each with its expiry, a copy button and a delete button (the delete link is
// kept here, in this browser only, since the server keeps only its hash).
"use strict";
window.filefleetRecent = (function () {
  const KEY = "filefleet:recent";
  const LIMIT = 50;

  function load() {
    let items = [];
    try {
      items = JSON.parse(localStorage.getItem(KEY) || "[]");
    } catch (err) {
      items = [];
    }
    const now = Date.now();
    return Array.isArray(items) ? items.filter((i) => i && Date.parse(i.expires_at) > now) : [];
  }

  function save(items) {
    try {
      localStorage.setItem(KEY, JSON.stringify(items.slice(0, LIMIT)));
    } catch (err) { /* storage full or refused: the list is a convenience */ }
  }

  function add(result) {
    const items = load().filter((i) => i.id !== result.id);
    items.unshift({
      id: result.id, name: result.name, size: result.size, url: result.url,
      delete_url: result.delete_url, expires_at: result.expires_at,
      files: result.files ? result.files.length : 0,
    });
    save(items);
    render();
  }

  function forget(id) {
    save(load().filter((i) => i.id !== id));
    render();
  }

  async function remove(item, button) {
    if (!window.confirm(`Delete ${item.name}? Its link stops working for everyone.`)) return;
    button.disabled = true;
    try {
      const response = await fetch(item.delete_url, {
        method: "DELETE", headers: { Accept: "application/json" },
      });
      // 404/410: already gone (collected, expired or deleted elsewhere): forget it too.
      if (response.ok || response.status === 404 || response.status === 410) {
        forget(item.id);
        return;
      }
      const body = await response.json().catch(() => ({}));
      button.textContent = `Failed: ${body.error || response.status}`;
    } catch (err) {
      button.textContent = "Failed: network error";
    }
    button.disabled = false;
  }

  function render() {
    const section = document.getElementById("recent");
    const list = document.getElementById("recent-list");
    if (!section || !list || !window.filefleetFormat) return;
    const f = window.filefleetFormat;
    const items = load();
    list.replaceChildren();
    for (const item of items) {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      const what = document.createElement("span");
      what.className = "what";
      const link = document.createElement("a");
      link.href = item.url;
      link.textContent = item.name;
      const about = document.createElement("small");
      const kind = item.files ? `${item.files} files, ` : "";
      about.textContent = `${kind}${f.bytes(item.size)} · expires ${f.moment(item.expires_at)} ` +
        `(${f.remaining(item.expires_at)})`;
      what.append(link, about);
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "secondary copy-recent";
      copy.textContent = "Copy link";
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(item.url);
          copy.textContent = "Copied";
        } catch (err) {
          copy.textContent = item.url;
        }
      });
      const del = document.createElement("button");
      del.type = "button";
      del.className = "danger delete-recent";
      del.textContent = "Delete";
      del.addEventListener("click", () => remove(item, del));
      li.append(what, copy, del);
      list.appendChild(li);
    }
    section.hidden = items.length === 0;
  }

  document.addEventListener("DOMContentLoaded", render);
  return { add, render, forget };
})();
