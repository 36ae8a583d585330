/* The service worker of civicapp, served from /sw.js (issues/views/offline.py) for the whole site.
 *
 * Plain service-worker code, no Workbox: three small strategies are all it needs, and the rules
 * that matter here (a page is kept only for the user it was drawn for) are ours, not a
 * library's. What it does:
 * - static files: cache first, filled as pages use them (their names are hashed in production);
 * - pages marked by the server with X-Civic-Offline-User (home, report, outbox, an issue) and the
 *   reference data: network first with a short timeout, the cached copy when offline, and only
 *   for the same user; another user signing in or a logout empties that cache;
 * - any other page with no network: the Chinese offline page (/offline/);
 * - POSTs are never touched: the outbox (outbox-core.js) sends them, from the page or from here
 *   on Background Sync.
 * A new version installs and waits; the page offers "新版本已就绪，点击刷新" when no capture is in
 * progress and then asks it to take over (message "skip-waiting").
 */
/* global CivicOutboxCore */
"use strict";

importScripts("/static/js/outbox-core.js");

var VERSION = "2026-12-01.2";
var STATIC_CACHE = "civic-static-" + VERSION;
var SHELL_CACHE = "civic-shell-" + VERSION;
var USER_CACHE = "civic-user";
var USER_HEADER = "X-Civic-Offline-User";
var OFFLINE_URL = "/offline/";
var NETWORK_TIMEOUT_MS = 6000;
var SYNC_TAG = "civic-outbox";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
      return cache.addAll([OFFLINE_URL, "/manifest.webmanifest"]);
    })
  );
  // No skipWaiting here: a capture in progress must not find its page's scripts replaced.
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.map(function (name) {
        var ours = name.indexOf("civic-static-") === 0 || name.indexOf("civic-shell-") === 0;
        if (ours && name !== STATIC_CACHE && name !== SHELL_CACHE) return caches.delete(name);
        return null;
      }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "skip-waiting") self.skipWaiting();
  if (data.type === "warm") event.waitUntil(warm(data.urls || [], data.pages || []));
  if (data.type === "forget-user") event.waitUntil(forgetUser());
});

self.addEventListener("sync", function (event) {
  if (event.tag === SYNC_TAG) event.waitUntil(CivicOutboxCore.flush());
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" || url.pathname === "/offline/reference.json") {
    event.respondWith(networkFirst(event, request, request.mode === "navigate"));
  }
});

function cacheFirst(request) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      if (hit) return hit;
      return fetch(request).then(function (response) {
        if (response.ok) cache.put(request, response.clone());
        return response;
      });
    });
  });
}

function currentUser() {
  return CivicOutboxCore.getMeta("user").catch(function () { return undefined; });
}

/* Keep a marked response for its user; a different user than before empties the cache first.
 * One at a time: two responses arriving together must not each empty what the other stored. */
var keeping = Promise.resolve();
function keep(request, response) {
  var owner = response.headers.get(USER_HEADER);
  if (!response.ok || !owner || response.redirected) return Promise.resolve();
  keeping = keeping.then(function () { return store(request, response, owner); })
    .catch(function () { return null; });
  return keeping;
}

function store(request, response, owner) {
  return currentUser().then(function (user) {
    var ready = user !== owner
      ? caches.delete(USER_CACHE).then(function () { return CivicOutboxCore.setMeta("user", owner); })
      : Promise.resolve();
    return ready.then(function () {
      return caches.open(USER_CACHE).then(function (cache) { return cache.put(request.url, response); });
    });
  });
}

/* The cached copy, only if it was drawn for the user this phone last saw signed in. */
function cachedForUser(request) {
  return Promise.all([caches.open(USER_CACHE), currentUser()]).then(function (both) {
    return both[0].match(request.url, { ignoreVary: true }).then(function (hit) {
      if (!hit || !both[1] || hit.headers.get(USER_HEADER) !== both[1]) return null;
      return hit;
    });
  });
}

function offlinePage() {
  return caches.match(OFFLINE_URL).then(function (hit) {
    return hit || new Response("离线：没有网络连接。", {
      status: 503,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  });
}

function networkFirst(event, request, isPage) {
  var network = fetch(request);
  // Keeping the fresh copy outlives the answer (a cached page may answer first): the worker
  // must not be stopped before the copy is stored, or the next offline visit finds none.
  event.waitUntil(network.then(function (response) {
    // A signed-in page of someone else, or no user at all (the login page): the cache of the
    // previous user must not outlive this.
    var owner = response.headers.get(USER_HEADER);
    if (owner) return keep(request, response.clone());
    if (isPage && /\/accounts\/login\//.test(response.url)) return forgetUser();
    return null;
  }).catch(function () { return null; }));
  var timeout = new Promise(function (resolve) {
    setTimeout(function () { resolve(null); }, NETWORK_TIMEOUT_MS);
  });
  var fallback = function () {
    return cachedForUser(request).then(function (hit) {
      if (hit) return hit;
      return isPage ? offlinePage() : new Response(JSON.stringify({ ok: false, offline: true }), {
        status: 503,
        headers: { "Content-Type": "application/json" },
      });
    });
  };
  return Promise.race([network.catch(function () { return null; }), timeout]).then(function (first) {
    if (first) return first;
    // A slow network: answer from the cache now; the network answer still refreshes it.
    return cachedForUser(request).then(function (hit) {
      return hit || network.catch(fallback);
    });
  });
}

/* Fill the caches with what the current page uses, so the next visit works offline. */
function warm(urls, pages) {
  var statics = cacheStatics(urls);
  var marked = Promise.all(pages.map(function (url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      var copy = response.clone();
      return keep(new Request(url), response).then(function () {
        return copy.headers.get("Content-Type").indexOf("text/html") === 0 ? copy.text() : "";
      });
    }).then(function (html) {
      // The scripts and styles that page needs, so it also works when first opened offline.
      return cacheStatics(staticUrlsIn(html || ""));
    }).catch(function () { return null; });
  }));
  return Promise.all([statics, marked]);
}

function staticUrlsIn(html) {
  var found = [];
  var pattern = /(?:src|href)="(\/static\/[^"]+)"/g;
  var match;
  while ((match = pattern.exec(html)) !== null) found.push(match[1]);
  return found;
}

function cacheStatics(urls) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return Promise.all(urls.map(function (url) {
      return cache.match(url).then(function (hit) {
        return hit || fetch(url).then(function (response) {
          if (response.ok) return cache.put(url, response);
          return null;
        }).catch(function () { return null; });
      });
    }));
  });
}

function forgetUser() {
  // In line with `keep`, so a page stored a moment ago cannot outlive the logout.
  keeping = keeping.then(function () {
    return caches.delete(USER_CACHE).then(function () {
      return CivicOutboxCore.setMeta("user", null);
    });
  }).catch(function () { return null; });
  return keeping;
}
