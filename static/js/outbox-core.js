/* The outbox: phone work waiting to reach the server, kept in IndexedDB, sent with its token.
 *
 * Shared by the pages (static/js/pwa.js, report.js, outbox-page.js) and the service worker
 * (static/js/sw.js, for Background Sync), so it uses only what both have: IndexedDB, fetch,
 * FormData, Blob. Plain code over the `idb` wrapper: the four operations needed here are short,
 * and one file less to vendor and audit.
 *
 * An item is a request to replay, whatever produced it (a report, a fix, a verification, a round
 * visit): {id, user, kind, label, url, method, fields: [[name, value]], files: [{field, name,
 * type, blob, takenAt, gps}], capturedAt, editUrl}. `id` is the item's client token: the server
 * files the work once however often it is sent. Items are sent only for the user who captured
 * them, as the server's session says (GET /offline/session.json), with a fresh CSRF token.
 *
 * States: queued → sending → sent; sending → retry (network, timeout, 5xx, 429: backoff) or
 * login (the session ended) or refused (any other 4xx: kept with the server's message until
 * the user edits or discards it; never dropped silently).
 */
(function (root) {
  "use strict";

  var DB_NAME = "civicapp-offline";
  var DB_VERSION = 1;
  var SESSION_URL = "/offline/session.json";
  // A sender renews its claim while it sends; one that died (tab closed or navigated away
  // mid-upload) lets the item go after this.
  // Short, because a page left mid-send holds its items until then; a second send after a
  // lapsed lease is harmless (the token), only slower.
  var LEASE_MS = 15 * 1000;
  var RENEW_MS = 5 * 1000;
  var TIMEOUT_MS = 2 * 60 * 1000;
  var BACKOFF_BASE_MS = 10 * 1000;
  var BACKOFF_MAX_MS = 30 * 60 * 1000;
  // Sent items stay listed (as sent) this long, so the person sees that they went.
  var SENT_KEEP_MS = 12 * 60 * 60 * 1000;
  var UNSENT = { queued: true, sending: true, retry: true, login: true, refused: true };
  var channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("civic-outbox") : null;

  var dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains("outbox")) {
          db.createObjectStore("outbox", { keyPath: "id" }).createIndex("user", "user");
        }
        if (!db.objectStoreNames.contains("drafts")) db.createObjectStore("drafts", { keyPath: "key" });
        if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta", { keyPath: "key" });
      };
      request.onsuccess = function () {
        var db = request.result;
        // Another tab upgrading the schema: let it, and open again next time.
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { dbPromise = null; reject(request.error); };
      request.onblocked = function () { /* the other tab closes on versionchange */ };
    });
    return dbPromise;
  }

  /* Run fn(stores) in one transaction; resolve with its result once the transaction commits. */
  function transact(names, mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(names, mode);
        var stores = {};
        names.forEach(function (name) { stores[name] = tx.objectStore(name); });
        var result;
        Promise.resolve(fn(stores, tx)).then(function (value) { result = value; }, function (error) {
          try { tx.abort(); } catch (ignored) { /* already finished */ }
          reject(error);
        });
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error || new Error("aborted")); };
      });
    });
  }

  function req(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function notify() {
    if (channel) channel.postMessage({ type: "changed" });
    if (root.dispatchEvent && typeof CustomEvent === "function") {
      root.dispatchEvent(new CustomEvent("civic-outbox-changed"));
    }
  }

  function newToken() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); });
    return hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" + hex.slice(6, 8).join("") +
      "-" + hex.slice(8, 10).join("") + "-" + hex.slice(10).join("");
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* Local time with its offset, the form the server's capture-time fields read. */
  function localIso(ms) {
    var d = new Date(ms);
    var offset = -d.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  /* ---------- items ---------- */

  function enqueue(item) {
    var now = Date.now();
    var stored = Object.assign({
      kind: "report",
      label: "",
      method: "POST",
      fields: [],
      files: [],
      capturedAt: localIso(now),
      createdAt: now,
      attempts: 0,
      nextAttemptAt: 0,
      leaseUntil: 0,
      lastError: "",
      serverMessage: "",
      serverErrors: null,
      resultUrl: "",
    }, item, { state: "queued" });
    if (!stored.id || !stored.user || !stored.url) return Promise.reject(new Error("incomplete item"));
    stored.user = String(stored.user); // the session answers a number, the page's meta a string
    return transact(["outbox"], "readwrite", function (s) { s.outbox.put(stored); })
      .then(function () { notify(); return stored; });
  }

  function get(id) {
    return transact(["outbox"], "readonly", function (s) { return req(s.outbox.get(id)); });
  }

  function list(user) {
    return transact(["outbox"], "readonly", function (s) {
      return req(s.outbox.index("user").getAll(String(user)));
    }).then(function (items) {
      return items.sort(function (a, b) { return a.createdAt - b.createdAt; });
    });
  }

  function unsentCount(user) {
    return list(user).then(function (items) {
      return items.filter(function (item) { return UNSENT[item.state]; }).length;
    });
  }

  function update(id, changes) {
    return transact(["outbox"], "readwrite", function (s) {
      return req(s.outbox.get(id)).then(function (item) {
        if (!item) return null;
        Object.assign(item, changes);
        s.outbox.put(item);
        return item;
      });
    }).then(function (item) { notify(); return item; });
  }

  function remove(id) {
    return transact(["outbox"], "readwrite", function (s) { s.outbox.delete(id); }).then(notify);
  }

  /* Take an item for sending, atomically: two tabs and the worker never send it at once. */
  function claim(id, manual) {
    var now = Date.now();
    return transact(["outbox"], "readwrite", function (s) {
      return req(s.outbox.get(id)).then(function (item) {
        if (!item || item.state === "sent") return null;
        if (item.state === "refused" && !manual) return null;
        if (item.state === "sending" && item.leaseUntil > now) return null;
        if (item.state === "retry" && item.nextAttemptAt > now && !manual) return null;
        item.state = "sending";
        item.leaseUntil = now + LEASE_MS;
        item.attempts = (item.attempts || 0) + 1;
        s.outbox.put(item);
        return item;
      });
    }).then(function (item) { if (item) notify(); return item; });
  }

  /* ---------- sending ---------- */

  function session() {
    // The browser knows it has no network: do not even try (and log no failed request).
    if (typeof navigator !== "undefined" && navigator.onLine === false) return Promise.resolve(null);
    return fetch(SESSION_URL, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .catch(function () { return null; });
  }

  function body(item, csrfToken) {
    var data = new FormData();
    item.fields.forEach(function (pair) {
      if (pair[0] === "csrfmiddlewaretoken") return; // the token of the capture may be stale
      data.append(pair[0], pair[1]);
    });
    data.append("csrfmiddlewaretoken", csrfToken);
    item.files.forEach(function (file) { data.append(file.field, file.blob, file.name); });
    return data;
  }

  function viaFetch(item, data, headers) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return fetch(item.url, {
      method: item.method || "POST",
      body: data,
      headers: headers,
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    }).then(function (response) {
      return response.text().then(function (text) {
        return { status: response.status, url: response.url, text: text };
      });
    }).finally(function () { if (timer) clearTimeout(timer); });
  }

  /* In a page, XMLHttpRequest reports upload progress; fetch cannot. */
  function viaXhr(item, data, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(item.method || "POST", item.url);
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      xhr.timeout = TIMEOUT_MS;
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100), event.total);
      });
      xhr.addEventListener("load", function () {
        resolve({ status: xhr.status, url: xhr.responseURL || "", text: xhr.responseText });
      });
      ["error", "timeout", "abort"].forEach(function (name) {
        xhr.addEventListener(name, function () { reject(new Error(name)); });
      });
      xhr.send(data);
    });
  }

  function messagesOf(errors) {
    var texts = [];
    Object.keys(errors || {}).forEach(function (name) {
      (errors[name] || []).forEach(function (error) { texts.push(error.message || String(error)); });
    });
    return texts;
  }

  /* What an answer means for the item. */
  function outcome(answer) {
    var parsed = null;
    try { parsed = JSON.parse(answer.text); } catch (ignored) { parsed = null; }
    var status = answer.status;
    if (/\/accounts\/login\//.test(answer.url || "")) {
      return { state: "login", lastError: "login" };
    }
    if (status >= 200 && status < 300 && parsed && parsed.ok) {
      return { state: "sent", resultUrl: parsed.url || "", sentAt: Date.now(), lastError: "", serverMessage: "" };
    }
    if (status === 408 || status === 425 || status === 429 || status >= 500 || status < 200 ||
        (status >= 200 && status < 300)) {
      // A proxy's page, an overloaded server: it may work later.
      return { state: "retry", lastError: "server " + status };
    }
    var texts = parsed ? [parsed.message].concat(messagesOf(parsed.errors)).filter(Boolean) : [];
    return {
      state: "refused",
      lastError: "refused " + status,
      status: status,
      serverMessage: texts.join(" ") || ("HTTP " + status),
      serverErrors: parsed && parsed.errors ? parsed.errors : null,
    };
  }

  function backoff(attempts) {
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, attempts - 1)));
    return Math.round(delay * (0.75 + Math.random() * 0.5));
  }

  var held = {}; // ids this page or worker is sending right now

  function renew(id) {
    return transact(["outbox"], "readwrite", function (s) {
      return req(s.outbox.get(id)).then(function (item) {
        if (!item || item.state !== "sending") return;
        item.leaseUntil = Date.now() + LEASE_MS;
        s.outbox.put(item);
      });
    }).catch(function () { return null; });
  }

  /* A page going away mid-send gives its items back at once (best effort; the lease is the net). */
  function releaseHeld() {
    Object.keys(held).forEach(function (id) {
      transact(["outbox"], "readwrite", function (s) {
        return req(s.outbox.get(id)).then(function (item) {
          if (!item || item.state !== "sending") return;
          item.state = "queued";
          item.leaseUntil = 0;
          s.outbox.put(item);
        });
      }).catch(function () { return null; });
    });
  }

  if (root.addEventListener && typeof document !== "undefined") {
    root.addEventListener("pagehide", releaseHeld);
  }

  function sendClaimed(item, csrfToken, options) {
    held[item.id] = true;
    var renewal = setInterval(function () { renew(item.id); }, RENEW_MS);
    var headers = { Accept: "application/json", "X-CSRFToken": csrfToken, "X-Civic-Outbox": "1" };
    var data = body(item, csrfToken);
    var onProgress = options && options.onProgress && options.onProgress[item.id];
    var send = onProgress && typeof XMLHttpRequest === "function"
      ? viaXhr(item, data, headers, onProgress)
      : viaFetch(item, data, headers);
    return send.then(outcome, function () {
      return { state: "retry", lastError: "network" };
    }).then(function (result) {
      clearInterval(renewal);
      delete held[item.id];
      result.leaseUntil = 0;
      if (result.state === "retry") result.nextAttemptAt = Date.now() + backoff(item.attempts);
      return update(item.id, result);
    });
  }

  var flushing = null;

  /* Send every item of the signed-in user that is due; resolves with a summary.
   * options.manual sends even items waiting for their backoff or refused ones (after an edit);
   * options.only limits the run to some ids; options.onProgress maps ids to progress callbacks. */
  function flush(options) {
    options = options || {};
    if (flushing && !options.manual && !options.only) return flushing;
    var run = session().then(function (state) {
      if (!state) return { reachable: false, sent: 0 };
      if (!state.user) return { reachable: true, loggedOut: true, sent: 0 };
      return list(state.user).then(function (items) {
        var sent = 0;
        var due = items.filter(function (item) {
          if (options.only && options.only.indexOf(item.id) === -1) return false;
          return item.state !== "sent" && (item.state !== "refused" || options.manual);
        });
        return due.reduce(function (chain, item) {
          return chain.then(function () {
            return claim(item.id, !!options.manual).then(function (claimed) {
              if (!claimed) return null;
              return sendClaimed(claimed, state.csrf_token, options).then(function (result) {
                if (result && result.state === "sent") sent += 1;
              });
            });
          });
        }, Promise.resolve()).then(function () {
          return prune(state.user).then(function () {
            return { reachable: true, user: state.user, sent: sent };
          });
        });
      });
    });
    if (!options.manual && !options.only) {
      flushing = run;
      run.then(function () { flushing = null; }, function () { flushing = null; });
    }
    return run;
  }

  function prune(user) {
    var cutoff = Date.now() - SENT_KEEP_MS;
    return list(user).then(function (items) {
      var old = items.filter(function (item) { return item.state === "sent" && item.sentAt < cutoff; });
      if (!old.length) return null;
      return transact(["outbox"], "readwrite", function (s) {
        old.forEach(function (item) { s.outbox.delete(item.id); });
      });
    });
  }

  /* ---------- drafts and small settings ---------- */

  function saveDraft(key, value) {
    return transact(["drafts"], "readwrite", function (s) {
      s.drafts.put(Object.assign({}, value, { key: key, savedAt: Date.now() }));
    });
  }

  function loadDraft(key) {
    return transact(["drafts"], "readonly", function (s) { return req(s.drafts.get(key)); });
  }

  function deleteDraft(key) {
    return transact(["drafts"], "readwrite", function (s) { s.drafts.delete(key); });
  }

  function getMeta(key) {
    return transact(["meta"], "readonly", function (s) { return req(s.meta.get(key)); })
      .then(function (row) { return row ? row.value : undefined; });
  }

  function setMeta(key, value) {
    return transact(["meta"], "readwrite", function (s) { s.meta.put({ key: key, value: value }); });
  }

  /* Forget everything of one user on this phone: their outbox and drafts (on logout). */
  function clearUser(user) {
    return transact(["outbox", "drafts"], "readwrite", function (s) {
      return req(s.outbox.index("user").getAllKeys(String(user))).then(function (keys) {
        keys.forEach(function (key) { s.outbox.delete(key); });
        return req(s.drafts.getAllKeys());
      }).then(function (keys) {
        keys.forEach(function (key) {
          if (String(key).split(":")[1] === String(user)) s.drafts.delete(key);
        });
      });
    }).then(notify);
  }

  root.CivicOutboxCore = {
    UNSENT: UNSENT,
    channel: channel,
    newToken: newToken,
    localIso: localIso,
    enqueue: enqueue,
    get: get,
    list: list,
    unsentCount: unsentCount,
    update: update,
    remove: remove,
    flush: flush,
    session: session,
    saveDraft: saveDraft,
    loadDraft: loadDraft,
    deleteDraft: deleteDraft,
    getMeta: getMeta,
    setMeta: setMeta,
    clearUser: clearUser,
  };
})(typeof self !== "undefined" ? self : this);
