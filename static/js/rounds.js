// Inspection rounds on the phone: the worklist nearest first, and every part of a visit (its
// start, each tap, notes and photos, its finish) through the outbox (static/js/pwa.js,
// outbox-core.js), like reports, fixes and verifications.
//
// Each write is an outbox item with its own client token and its capture time (observed_at /
// at), with the GPS position and its accuracy: stored in IndexedDB first, sent at once when
// there is a connection, otherwise when it returns; the server files it once however often it
// is sent, and keeps both the capture and the receipt time. Photos are shrunk on the phone by
// the report form's code (static/js/photos.js) before they are queued. A write the server
// refuses for good (a closed round: 409, a point no longer yours: 403/404, a bad field: 400)
// stays in "待发送" with the server's message. Without JavaScript or IndexedDB every button is
// a plain form post.
(function () {
  "use strict";

  var outbox = window.CivicOutbox;
  var position = null;

  function fillPosition(scope) {
    if (!position) { return; }
    (scope || document).querySelectorAll("[data-gps]").forEach(function (input) {
      var kind = input.getAttribute("data-gps");
      input.value = kind === "accuracy" ? Math.round(position.accuracy) : position[kind].toFixed(6);
    });
  }

  function locate(onDone, onFail) {
    if (!navigator.geolocation) { onFail(); return; }
    navigator.geolocation.getCurrentPosition(function (found) {
      position = {
        latitude: found.coords.latitude,
        longitude: found.coords.longitude,
        accuracy: found.coords.accuracy
      };
      onDone(position);
    }, onFail, { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
  }

  // --- the worklist: reload once with the position so the server sorts nearest first ----------
  var locateNote = document.querySelector("[data-locate]");
  if (locateNote && locateNote.getAttribute("data-located") === "0" && navigator.onLine !== false) {
    locateNote.textContent = locateNote.getAttribute("data-msg-locating");
    locate(function (where) {
      var url = new URL(window.location.href);
      url.searchParams.set("lat", where.latitude.toFixed(6));
      url.searchParams.set("lng", where.longitude.toFixed(6));
      window.location.replace(url.toString());
    }, function () {
      locateNote.textContent = locateNote.getAttribute("data-msg-failed");
    });
  }

  // The worklist's points and their check items, kept for a walk without signal: the worker
  // fetches the visit pages not yet in the cache (it keeps only pages marked for this user).
  var pointLinks = document.querySelectorAll("[data-point-link]");
  if (pointLinks.length && outbox && navigator.onLine !== false && window.caches &&
      navigator.serviceWorker) {
    caches.open("civic-user").then(function (cache) {
      return Promise.all(Array.prototype.map.call(pointLinks, function (link) {
        var path = new URL(link.href).pathname;
        return cache.match(path, { ignoreVary: true }).then(function (hit) { return hit ? null : path; });
      }));
    }).then(function (paths) {
      var missing = paths.filter(Boolean);
      if (!missing.length) { return null; }
      // Without the cleaned ?lat= query: the same page is then found offline.
      var here = window.location.pathname;
      return navigator.serviceWorker.ready.then(function (registration) {
        if (registration.active) {
          registration.active.postMessage({ type: "warm", urls: [], pages: missing.concat([here]) });
        }
      });
    }).catch(function () { /* no cache: the pages still work online */ });
  }

  // --- the visit --------------------------------------------------------------------------
  var visit = document.querySelector("[data-visit]");
  if (!visit) { return; }
  var gpsStatus = visit.querySelector("[data-gps-status]");
  var queueStatus = visit.querySelector("[data-queue-status]");
  var startUrl = visit.getAttribute("data-start-url");
  var markForms = document.querySelectorAll("form[data-standard]");
  var markUrl = markForms.length ? markForms[0].getAttribute("action") : null;
  var finishForm = document.querySelector("form[data-finish]");
  var label = visit.getAttribute("data-outbox-label") || document.title;
  var core = outbox ? outbox.core : null;

  function fieldOf(item, name) {
    var pair = item.fields.filter(function (field) { return field[0] === name; })[0];
    return pair ? pair[1] : null;
  }

  function applyStandard(element, result) {
    element.querySelectorAll(".toggle").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.value === result));
    });
    var extra = element.querySelector("[data-fail-extra]");
    if (extra) { extra.hidden = result !== "no"; }
    element.classList.toggle("is-failed", result === "no");
  }

  /* This visit's items not yet on the server: shown as marked, and counted. */
  function unsentHere() {
    if (!core) { return Promise.resolve([]); }
    var urls = [startUrl, markUrl, finishForm && finishForm.getAttribute("action")];
    return core.list(outbox.user).then(function (items) {
      return items.filter(function (item) {
        return core.UNSENT[item.state] && urls.indexOf(item.url) !== -1;
      });
    }).catch(function () { return []; });
  }

  function showQueue() {
    return unsentHere().then(function (items) {
      items.forEach(function (item) {
        if (item.url !== markUrl) { return; }
        var element = document.getElementById("standard-" + fieldOf(item, "check_item"));
        if (element) { applyStandard(element, fieldOf(item, "result")); }
      });
      if (items.length) {
        queueStatus.hidden = false;
        queueStatus.textContent = visit.getAttribute("data-msg-offline").replace("{count}", items.length);
      } else {
        queueStatus.hidden = true;
      }
      return items;
    });
  }

  /* Store the item, try to send it now; resolves with it in its new state. */
  function queue(item) {
    item.kind = "round";
    item.label = label;
    item.editUrl = window.location.pathname;
    return outbox.enqueue(item).then(function (stored) {
      showQueue();
      if (stored && stored.state === "refused") {
        // Nothing was recorded and the page still shows what was tapped: say why, and let
        // the list keep no copy the person would have to discard.
        window.alert(stored.serverMessage);
        core.remove(stored.id).then(showQueue);
      }
      return stored;
    });
  }

  function startItem(fields) {
    var token = core.newToken();
    var at = core.localIso(Date.now());
    return {
      id: token,
      url: startUrl,
      capturedAt: at,
      fields: [["client_token", token], ["at", at]].concat(fields),
      files: []
    };
  }

  function positionFields() {
    if (!position) { return []; }
    return [
      ["latitude", position.latitude.toFixed(6)],
      ["longitude", position.longitude.toFixed(6)],
      ["accuracy_m", String(Math.round(position.accuracy))]
    ];
  }

  /* The visit starts where the phone is, once: not again while a start waits to be sent. */
  function start() {
    return unsentHere().then(function (items) {
      if (items.some(function (item) { return item.url === startUrl; })) { return null; }
      return queue(startItem(positionFields())).then(function (stored) {
        if (stored && stored.state === "sent") { window.location.reload(); }
      });
    });
  }

  locate(function (where) {
    fillPosition();
    gpsStatus.textContent = visit.getAttribute("data-msg-gps").replace("{accuracy}", Math.round(where.accuracy));
    if (visit.getAttribute("data-started") === "0" && outbox) { start(); }
  }, function () {
    gpsStatus.textContent = visit.getAttribute("data-msg-no-gps");
  });

  if (!outbox) { return; } // no IndexedDB: the forms post as they are

  // A mark being saved, a photo being prepared or waiting to be saved, a note typed: the
  // update banner (pwa.js) waits until none is left.
  window.CivicCapture = {
    busy: function () {
      if (document.querySelector(".standards [data-saving], .standards [data-photo-widget][data-busy]," +
          " .standards .photo-preview")) { return true; }
      return Array.prototype.some.call(document.querySelectorAll(".standards input[name=note]"),
        function (input) { return input.value !== input.defaultValue; });
    }
  };

  var startForm = visit.querySelector("[data-start-form]");
  if (startForm) {
    startForm.addEventListener("submit", function (event) {
      event.preventDefault();
      start();
    });
  }

  markForms.forEach(function (form) {
    var element = form.closest("[data-standard-item]");
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !button.value) { return; }
      event.preventDefault();
      fillPosition(form);
      var fileCase = button.hasAttribute("data-file-case");
      var simpleTap = button.classList.contains("toggle");
      button.setAttribute("data-saving", "");
      var ready = window.CivicPhotos ? window.CivicPhotos.whenReady(form) : Promise.resolve();
      ready.then(function () {
        // The form as it stands: a new token, the capture time, the shrunk photo.
        var item = outbox.captureForm(form);
        item.fields = item.fields.filter(function (pair) { return pair[0] !== "result"; });
        item.fields.push(["result", button.value]);
        if (fileCase) { item.fields.push(["file_case", "1"]); }
        return queue(item);
      }).then(function (stored) {
        button.removeAttribute("data-saving");
        if (!stored || stored.state === "refused") { return; }
        if (stored.state === "sent" && !simpleTap) { window.location.reload(); return; }
        applyStandard(element, button.value);
        if (!simpleTap && window.CivicPhotos) { window.CivicPhotos.clear(form); }
      }).catch(function () {
        button.removeAttribute("data-saving");
      });
    });
  });

  if (finishForm) {
    finishForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var item = startItem(positionFields());
      item.url = finishForm.getAttribute("action");
      item.fields = item.fields.filter(function (pair) { return pair[0] !== "client_token"; });
      // Sent or kept on the phone, the next point is the next step.
      queue(item).then(function (stored) {
        if (stored && stored.state !== "refused") {
          window.location.assign(visit.getAttribute("data-worklist-url"));
        }
      });
    });
  }

  window.addEventListener("civic-outbox-changed", showQueue);
  if (core.channel) { core.channel.addEventListener("message", showQueue); }
  showQueue();
})();
