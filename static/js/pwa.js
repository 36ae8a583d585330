/* The installable app on every signed-in page: the service worker, the outbox and its signs.
 *
 * - registers /sw.js and offers a waiting new version ("新版本已就绪，点击刷新") only while no
 *   capture is in progress (window.CivicCapture.busy(), set by the report page);
 * - sends the outbox when the connection returns (`online`), when the page gets focus, on a
 *   timer while items wait, and through Background Sync where the browser has it;
 * - shows online / offline / syncing in the header and the unsent count on the home page and
 *   the bottom bar;
 * - on logout, asks before discarding unsent items, then clears this user's caches and outbox;
 * - turns forms marked data-outbox (the fix and verification forms) into outbox items.
 */
/* global CivicOutboxCore */
(function () {
  "use strict";

  var core = window.CivicOutboxCore;
  var userMeta = document.querySelector('meta[name="civic-user"]');
  if (!core || !userMeta || !window.indexedDB) return;
  var user = userMeta.content;
  var body = document.body;
  var netStatus = document.getElementById("net-status");
  var RETRY_EVERY_MS = 20 * 1000;
  var SYNC_TAG = "civic-outbox";
  var syncing = false;
  var lastCount = 0;

  function text(name, values) {
    var template = body.getAttribute("data-msg-" + name) || "";
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values && key in values ? values[key] : all;
    });
  }

  /* ---------- indicators ---------- */

  function showNet() {
    if (!netStatus) return;
    var state = !navigator.onLine ? "offline" : syncing ? "syncing" : "online";
    netStatus.setAttribute("data-state", state);
    netStatus.querySelector(".net-label").textContent = text("net-" + state);
  }

  function showCount() {
    return core.unsentCount(user).then(function (count) {
      lastCount = count;
      document.querySelectorAll("[data-outbox-count]").forEach(function (element) {
        element.textContent = String(count);
        element.hidden = count === 0;
      });
      document.querySelectorAll("[data-outbox-summary]").forEach(function (element) {
        element.hidden = count === 0;
        var label = element.querySelector("[data-outbox-summary-text]");
        if (label) label.textContent = text("unsent", { count: count });
      });
      return count;
    }).catch(function () { return 0; });
  }

  /* ---------- sending ---------- */

  function flush(options) {
    if (!navigator.onLine && !(options && options.manual)) return Promise.resolve(null);
    syncing = true;
    showNet();
    return core.flush(options).catch(function () { return null; }).then(function (result) {
      syncing = false;
      showNet();
      showCount();
      return result;
    });
  }

  function askBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register(SYNC_TAG);
      return null;
    }).catch(function () { /* not supported or not allowed: the page's own triggers remain */ });
  }

  function askPersistence() {
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persisted().then(function (persisted) {
        if (!persisted) return navigator.storage.persist();
        return persisted;
      }).catch(function () { return false; });
    }
  }

  /* Store an item (the work is safe from here on), then try to send it at once. */
  function enqueue(item, options) {
    item.user = user;
    return core.enqueue(item).then(function (stored) {
      askPersistence();
      askBackgroundSync();
      showCount();
      return flush({ only: [stored.id], manual: true, onProgress: options && options.onProgress })
        .then(function () { return core.get(stored.id); });
    });
  }

  var TOKEN_NAME = /(^|-)client_token$/;
  var OBSERVED_NAME = /(^|-)observed_at$/;

  /* An outbox item from a form as it stands: its fields, its (prepared) photos, a new token. */
  function captureForm(form, extra) {
    var data = new FormData(form);
    var fields = [];
    var files = [];
    var token = (extra && extra.id) || core.newToken();
    var capturedAt = core.localIso(Date.now());
    var takenAt = data.getAll("photo_taken_at[]");
    var gps = data.getAll("photo_gps[]");
    var fileIndex = 0;
    data.forEach(function (value, name) {
      if (typeof value !== "string") {
        if (value && value.size > 0) {
          files.push({
            field: name,
            name: value.name || "photo.jpg",
            type: value.type,
            blob: value,
            takenAt: takenAt[fileIndex] || "",
            gps: gps[fileIndex] || "",
          });
          fileIndex += 1;
        }
        return;
      }
      if (TOKEN_NAME.test(name)) value = token;
      if (OBSERVED_NAME.test(name)) value = capturedAt;
      fields.push([name, value]);
    });
    return Object.assign({
      id: token,
      url: form.getAttribute("action") || window.location.pathname,
      method: "POST",
      fields: fields,
      files: files,
      capturedAt: capturedAt,
    }, extra || {}, { id: token });
  }

  /* ---------- forms marked data-outbox (fix, verification) ---------- */

  function enhanceForm(form) {
    var status = document.createElement("p");
    status.className = "outbox-form-status";
    status.setAttribute("role", "status");
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;
      event.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      status.textContent = text("sending");
      var ready = window.CivicPhotos ? window.CivicPhotos.whenReady(form) : Promise.resolve();
      ready.then(function () {
        var item = captureForm(form, {
          kind: form.getAttribute("data-outbox"),
          label: form.getAttribute("data-outbox-label") || document.title,
          editUrl: window.location.pathname,
        });
        return enqueue(item);
      }).then(function (item) {
        if (item && item.state === "sent") {
          window.location.assign(item.resultUrl || window.location.pathname);
          return;
        }
        if (button) button.disabled = false;
        if (item && item.state === "refused") {
          status.textContent = item.serverMessage;
          status.className = "outbox-form-status is-refused";
          // Nothing was recorded and the form still holds everything: no outbox item needed.
          core.remove(item.id).then(showCount);
          return;
        }
        status.className = "outbox-form-status is-queued";
        status.textContent = item && item.state === "login" ? text("queued-login") : text("queued");
        if (window.CivicPhotos) window.CivicPhotos.clear(form);
        form.reset();
      }).catch(function () {
        if (button) button.disabled = false;
        status.textContent = text("storage-failed");
      });
    });
  }

  document.querySelectorAll("form[data-outbox]").forEach(enhanceForm);

  /* ---------- logout: nothing of this user stays on a shared phone ---------- */

  function forgetEverything() {
    var jobs = [core.clearUser(user), core.setMeta("user", null)];
    if (window.caches) {
      jobs.push(caches.keys().then(function (names) {
        return Promise.all(names.filter(function (name) { return name === "civic-user"; })
          .map(function (name) { return caches.delete(name); }));
      }));
    }
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "forget-user" });
    }
    return Promise.all(jobs).catch(function () { return null; });
  }

  document.querySelectorAll("form[data-logout]").forEach(function (form) {
    var confirmed = false;
    form.addEventListener("submit", function (event) {
      if (confirmed) return;
      event.preventDefault();
      core.unsentCount(user).catch(function () { return 0; }).then(function (count) {
        if (count > 0 && !window.confirm(text("logout-unsent", { count: count }))) return;
        forgetEverything().then(function () {
          confirmed = true;
          form.submit();
        });
      });
    });
  });

  /* ---------- the service worker and safe updates ---------- */

  var waitingWorker = null;
  var banner = document.getElementById("update-banner");

  function captureBusy() {
    return !!(window.CivicCapture && window.CivicCapture.busy());
  }

  function offerUpdate() {
    if (!waitingWorker || !banner) return;
    if (captureBusy()) {
      window.setTimeout(offerUpdate, 5000);
      return;
    }
    banner.hidden = false;
  }

  if (banner) {
    banner.addEventListener("click", function () {
      if (!waitingWorker || captureBusy()) return;
      banner.hidden = true;
      var reloading = false;
      navigator.serviceWorker.addEventListener("controllerchange", function () {
        if (reloading) return;
        reloading = true;
        window.location.reload();
      });
      waitingWorker.postMessage({ type: "skip-waiting" });
    });
  }

  function watchRegistration(registration) {
    if (registration.waiting && navigator.serviceWorker.controller) {
      waitingWorker = registration.waiting;
      offerUpdate();
    }
    registration.addEventListener("updatefound", function () {
      var installing = registration.installing;
      if (!installing) return;
      installing.addEventListener("statechange", function () {
        if (installing.state === "installed" && navigator.serviceWorker.controller) {
          waitingWorker = installing;
          offerUpdate();
        }
      });
    });
  }

  function warm() {
    var urls = [];
    document.querySelectorAll('script[src], link[rel="stylesheet"], link[rel="icon"], link[rel="apple-touch-icon"]')
      .forEach(function (element) {
        var url = element.src || element.href;
        if (url && url.indexOf(window.location.origin + "/static/") === 0) urls.push(url);
      });
    var pagesMeta = document.querySelector('meta[name="civic-offline-pages"]');
    var pages = pagesMeta ? pagesMeta.content.split(/\s+/).filter(Boolean) : [];
    // A page the server lets the phone keep, but missing from the cache: it came from the
    // network, not through the worker (a first visit while the worker was still installing, or
    // claimed by it mid-load). Fetch it once more through the worker so that it is kept.
    var here = window.location.pathname + window.location.search;
    var checkHere = document.querySelector('meta[name="civic-offline-self"]') && window.caches
      ? caches.open("civic-user").then(function (cache) { return cache.match(here, { ignoreVary: true }); })
        .then(function (hit) { if (!hit) pages.push(here); }).catch(function () { return null; })
      : Promise.resolve();
    Promise.all([navigator.serviceWorker.ready, checkHere]).then(function (both) {
      var registration = both[0];
      if (registration.active) registration.active.postMessage({ type: "warm", urls: urls, pages: pages });
    });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (registration) {
      watchRegistration(registration);
      warm();
    }).catch(function () { /* no worker (private mode, old browser): the pages still work online */ });
  }

  /* ---------- triggers ---------- */

  window.addEventListener("online", function () { showNet(); flush(); });
  window.addEventListener("offline", showNet);
  window.addEventListener("focus", function () { flush(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  window.addEventListener("civic-outbox-changed", showCount);
  if (core.channel) {
    core.channel.addEventListener("message", function () { showCount(); });
  }
  window.setInterval(function () {
    if (lastCount > 0) flush();
  }, RETRY_EVERY_MS);

  window.CivicOutbox = {
    user: user,
    enqueue: enqueue,
    captureForm: captureForm,
    flush: flush,
    showCount: showCount,
    core: core,
  };

  showNet();
  showCount().then(function (count) { if (count > 0) flush(); });
})();
