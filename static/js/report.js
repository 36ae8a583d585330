/* The report page: GPS with accuracy, nearby points, point search, category-dependent quick
 * phrases and severity, and a send that survives a bad connection.
 *
 * Everything here is an enhancement: without JavaScript the page is a plain multipart form.
 * With it, "Send" first stores the report (fields, prepared photos, a new client token, the
 * capture time) in the phone's outbox (static/js/outbox-core.js), then sends it through
 * XMLHttpRequest (for upload progress) asking for JSON. With no signal the report waits in the
 * outbox and goes by itself later; the token makes the server file it once however often it is
 * sent. What is typed is kept as a draft as it is typed, and comes back after the tab closed.
 * The page itself may come from the service worker's cache, so the token is made here.
 */
(function () {
  "use strict";

  var form = document.getElementById("report-form");
  if (!form) return;

  // Stop refining the position once it is this good, or after this long.
  var GOOD_ACCURACY_M = 20;
  var WATCH_LIMIT_MS = 60 * 1000;
  // Ask the server for nearby points again only after moving this far.
  var REFRESH_DISTANCE_M = 30;

  var gpsStatus = document.getElementById("gps-status");
  var gpsRetry = document.getElementById("gps-retry");
  var nearbyBox = document.getElementById("nearby-points");
  var pointSelect = document.getElementById("id_point");
  var communitySelect = document.getElementById("id_community");
  var description = document.getElementById("id_description");
  var submitButton = document.getElementById("report-submit");
  var progress = document.getElementById("upload-progress");
  var submitStatus = document.getElementById("submit-status");
  var problemBox = document.getElementById("report-problem");
  var fields = {
    latitude: form.querySelector('input[name="latitude"]'),
    longitude: form.querySelector('input[name="longitude"]'),
    accuracy: form.querySelector('input[name="accuracy_m"]'),
  };

  function message(name, values) {
    var template = form.getAttribute("data-msg-" + name) || "";
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values && key in values ? values[key] : all;
    });
  }

  form.classList.add("js");

  /* ---------- position ---------- */

  var watchId = null;
  var lastFetched = null;
  var pointChosenByHand = !!(pointSelect && pointSelect.value);

  function distance(a, b) {
    var rad = Math.PI / 180;
    var dLat = (b.lat - a.lat) * rad;
    var dLng = (b.lng - a.lng) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) * Math.sin(dLng / 2);
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function showStatus(text, kind) {
    gpsStatus.textContent = text;
    gpsStatus.className = "gps-status" + (kind ? " gps-" + kind : "");
  }

  function onPosition(position) {
    var here = { lat: position.coords.latitude, lng: position.coords.longitude };
    var accuracy = Math.round(position.coords.accuracy);
    fields.latitude.value = here.lat.toFixed(6);
    fields.longitude.value = here.lng.toFixed(6);
    fields.accuracy.value = String(accuracy);
    showStatus(message("accuracy", { accuracy: accuracy }), accuracy <= 50 ? "good" : "rough");
    gpsRetry.hidden = false;
    if (!lastFetched || distance(lastFetched, here) > REFRESH_DISTANCE_M) {
      lastFetched = here;
      fetchNearby(here);
    }
    if (accuracy <= GOOD_ACCURACY_M) stopWatching();
  }

  function onPositionError(error) {
    stopWatching();
    if (fields.latitude.value) return; // keep the position we already have
    showStatus(message("gps-denied"), "off");
    gpsRetry.hidden = false;
    if (pointSelect) pointSelect.focus({ preventScroll: true });
  }

  function stopWatching() {
    if (watchId !== null) {
      navigator.geolocation.clearWatch(watchId);
      watchId = null;
    }
  }

  function locate() {
    if (!("geolocation" in navigator)) {
      showStatus(message("gps-unsupported"), "off");
      return;
    }
    stopWatching();
    showStatus(message("locating"), "busy");
    watchId = navigator.geolocation.watchPosition(onPosition, onPositionError, {
      enableHighAccuracy: true,
      maximumAge: 30000,
      timeout: 20000,
    });
    window.setTimeout(stopWatching, WATCH_LIMIT_MS);
  }

  function afterNearby() {
    var first = nearbyBox.querySelector(".nearby-choice");
    if (first && !pointChosenByHand) choosePoint(first, false);
    markChosen();
  }

  function fetchNearby(here) {
    var url = form.getAttribute("data-nearby-url") + "?lat=" + encodeURIComponent(here.lat.toFixed(6)) +
      "&lng=" + encodeURIComponent(here.lng.toFixed(6));
    if (!navigator.onLine) {
      nearbyOffline(here);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) return;
        // The fragment is our own server-rendered, escaped template (same origin, CSP-bound).
        nearbyBox.innerHTML = html;
        afterNearby();
      })
      .catch(function () { nearbyOffline(here); });
  }

  /* No signal: the nearest points from the reference data the service worker keeps. */
  var referencePoints = null;
  function loadReference() {
    if (referencePoints) return Promise.resolve(referencePoints);
    return fetch(form.getAttribute("data-reference-url"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { points: [] }; })
      .then(function (data) {
        referencePoints = (data.points || []).filter(function (p) { return p.lat != null && p.lng != null; });
        return referencePoints;
      })
      .catch(function () { return []; });
  }

  function nearbyOffline(here) {
    var radius = parseInt(form.getAttribute("data-nearby-radius"), 10) || 500;
    loadReference().then(function (points) {
      var ranked = points.map(function (p) {
        return { point: p, distance: Math.round(distance(here, { lat: p.lat, lng: p.lng })) };
      }).filter(function (entry) { return entry.distance <= radius; })
        .sort(function (a, b) { return a.distance - b.distance || a.point.id - b.point.id; })
        .slice(0, 8);
      nearbyBox.textContent = "";
      var help = document.createElement("p");
      help.className = "help";
      help.textContent = ranked.length ? message("nearby-offline", { radius: radius }) : message("nearby-none", { radius: radius });
      nearbyBox.appendChild(help);
      if (!ranked.length) return;
      var list = document.createElement("ul");
      list.className = "nearby-list";
      ranked.forEach(function (entry) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "nearby-choice";
        button.setAttribute("data-point-id", String(entry.point.id));
        button.setAttribute("data-point-label", entry.point.label || entry.point.name);
        button.setAttribute("aria-pressed", "false");
        [["nearby-name", entry.point.name], ["nearby-meta", entry.point.community],
          ["nearby-distance", message("metres", { distance: entry.distance })]].forEach(function (part) {
          var span = document.createElement("span");
          span.className = part[0];
          span.textContent = part[1];
          button.appendChild(span);
        });
        li.appendChild(button);
        list.appendChild(li);
      });
      nearbyBox.appendChild(list);
      afterNearby();
    });
  }

  // The point is a picker (text "name [code]", see picker.js); a nearby button fills it.
  // `choice` is a nearby button, or the picker's text itself (a draft or an outbox item).
  function choosePoint(choice, byHand) {
    if (!pointSelect || !choice) return;
    pointSelect.value = typeof choice === "string"
      ? choice
      : choice.getAttribute("data-point-label") || choice.getAttribute("data-point-id");
    if (byHand) pointChosenByHand = true;
    if (communitySelect) communitySelect.value = "";
    markChosen();
  }

  function markChosen() {
    nearbyBox.querySelectorAll(".nearby-choice").forEach(function (button) {
      var chosen = !!pointSelect && button.getAttribute("data-point-label") === pointSelect.value;
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  nearbyBox.addEventListener("click", function (event) {
    var button = event.target.closest(".nearby-choice");
    if (!button) return;
    choosePoint(button, true);
  });

  gpsRetry.addEventListener("click", function () {
    lastFetched = null;
    locate();
  });

  if (pointSelect) {
    pointSelect.addEventListener("change", function () {
      pointChosenByHand = true;
      if (pointSelect.value && communitySelect) communitySelect.value = "";
      markChosen();
    });
    pointSelect.addEventListener("input", function () {
      pointChosenByHand = true;
      markChosen();
    });
  }
  if (communitySelect) {
    communitySelect.addEventListener("change", function () {
      if (communitySelect.value) {
        pointSelect.value = "";
        pointChosenByHand = true;
        markChosen();
      }
    });
  }

  /* ---------- category: quick phrases and default severity ---------- */

  var severityTouched = !!form.querySelector('input[name="severity"]:checked');
  form.querySelectorAll('input[name="severity"]').forEach(function (radio) {
    radio.addEventListener("change", function () { severityTouched = true; });
  });

  function onCategory(radio) {
    var id = radio ? radio.value : "";
    document.querySelectorAll(".quick-phrases").forEach(function (box) {
      box.hidden = box.getAttribute("data-category") !== id;
    });
    if (radio && !severityTouched) {
      var severity = form.querySelector('input[name="severity"][value="' + radio.getAttribute("data-severity") + '"]');
      if (severity) severity.checked = true;
    }
  }

  form.querySelectorAll('input[name="category"]').forEach(function (radio) {
    radio.addEventListener("change", function () { onCategory(radio); });
  });
  onCategory(form.querySelector('input[name="category"]:checked'));

  document.getElementById("quick-phrases").addEventListener("click", function (event) {
    var chip = event.target.closest(".chip");
    if (!chip || !description) return;
    var phrase = chip.getAttribute("data-phrase");
    var text = description.value.replace(/\s+$/, "");
    if (text && text.indexOf(phrase) !== -1) return; // already there: a second tap adds nothing
    var separator = text && !/[。；;,，.!！?？]$/.test(text) ? message("phrase-separator") : "";
    description.value = text + separator + phrase;
    chip.classList.add("chip-used");
  });

  /* ---------- send, through the outbox ---------- */

  var sending = false;
  var outbox = window.CivicOutbox;
  var tokenInput = form.querySelector('input[name="client_token"]');
  var queuedBox = document.getElementById("report-queued");
  var draftBox = document.getElementById("report-draft");
  var draftKey = outbox ? "report:" + outbox.user : null;
  var dirty = false;
  var editing = null; // the outbox item being corrected, if any

  // The page may be the service worker's cached copy: every new report gets its own token.
  if (outbox && tokenInput) tokenInput.value = outbox.core.newToken();

  function clearErrors() {
    problemBox.hidden = true;
    problemBox.textContent = "";
    form.querySelectorAll("[data-errors-for]").forEach(function (slot) { slot.textContent = ""; });
    form.querySelectorAll(".has-error").forEach(function (row) { row.classList.remove("has-error"); });
  }

  function errorList(messages) {
    var list = document.createElement("ul");
    list.className = "errorlist";
    messages.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    return list;
  }

  function showProblem(text, extra) {
    problemBox.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    problemBox.appendChild(p);
    if (extra && extra.length) problemBox.appendChild(errorList(extra));
    problemBox.hidden = false;
    problemBox.scrollIntoView({ block: "center" });
  }

  function showErrors(errors, text) {
    var general = [];
    Object.keys(errors || {}).forEach(function (name) {
      var texts = errors[name].map(function (error) { return error.message; });
      var slot = form.querySelector('[data-errors-for="' + name + '"]');
      if (slot && name !== "__all__") {
        slot.appendChild(errorList(texts));
        if (slot.parentElement) slot.parentElement.classList.add("has-error");
      } else {
        general = general.concat(texts);
      }
    });
    showProblem(text || message("invalid"), general);
  }

  function finish() {
    sending = false;
    submitButton.disabled = false;
    progress.hidden = true;
  }

  /* ---------- drafts: what is typed survives a closed tab ---------- */

  var SKIP_IN_DRAFT = { csrfmiddlewaretoken: true, "photo_taken_at[]": true, "photo_gps[]": true };

  function snapshot() {
    var data = new FormData(form);
    var fields = [];
    data.forEach(function (value, name) {
      if (typeof value === "string" && !SKIP_IN_DRAFT[name]) fields.push([name, value]);
    });
    var photos = window.CivicPhotos ? window.CivicPhotos.items(form) : {};
    var files = [];
    Object.keys(photos).forEach(function (field) {
      photos[field].forEach(function (item) {
        files.push({ field: field, blob: item.file, name: item.file.name, type: item.file.type,
          takenAt: item.takenAt, gps: item.gps });
      });
    });
    return { fields: fields, files: files };
  }

  function hasContent(state) {
    return state.files.length > 0 || state.fields.some(function (pair) {
      return pair[1] && ["category", "description", "address", "point", "community"].indexOf(pair[0]) !== -1;
    });
  }

  var draftTimer = null;
  function saveDraftSoon() {
    if (!draftKey || editing) return;
    dirty = true;
    window.clearTimeout(draftTimer);
    draftTimer = window.setTimeout(function () {
      var state = snapshot();
      if (!hasContent(state)) {
        outbox.core.deleteDraft(draftKey);
        dirty = false;
        return;
      }
      outbox.core.saveDraft(draftKey, state);
    }, 400);
  }

  function applyFields(fields) {
    var byName = {};
    fields.forEach(function (pair) { byName[pair[0]] = pair[1]; });
    ["description", "address", "latitude", "longitude", "accuracy_m"].forEach(function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      if (input && name in byName) input.value = byName[name];
    });
    ["category", "severity"].forEach(function (name) {
      var radio = form.querySelector('input[name="' + name + '"][value="' + byName[name] + '"]');
      if (radio) {
        radio.checked = true;
        if (name === "category") {
          var more = radio.closest("details");
          if (more) more.open = true;
          onCategory(radio);
        } else {
          severityTouched = true;
        }
      }
    });
    if (byName.point && pointSelect) {
      choosePoint(byName.point, true);
    } else if (byName.community && communitySelect) {
      communitySelect.value = byName.community;
    }
    if (byName.latitude && byName.longitude) {
      showStatus(message("position-kept", { lat: byName.latitude, lng: byName.longitude }), "good");
    }
  }

  function restore(state) {
    applyFields(state.fields || []);
    if (window.CivicPhotos && state.files && state.files.length) window.CivicPhotos.restore(form, state.files);
  }

  form.addEventListener("input", saveDraftSoon);
  form.addEventListener("change", saveDraftSoon);
  form.addEventListener("civic-photos-changed", saveDraftSoon);
  nearbyBox.addEventListener("click", saveDraftSoon);

  function discardDraft() {
    if (draftKey) outbox.core.deleteDraft(draftKey);
    dirty = false;
    if (draftBox) draftBox.hidden = true;
  }

  function resetForNext() {
    form.reset();
    if (window.CivicPhotos) window.CivicPhotos.clear(form);
    if (tokenInput) tokenInput.value = outbox.core.newToken();
    editing = null;
    discardDraft();
    onCategory(null);
    document.querySelectorAll(".chip-used").forEach(function (chip) { chip.classList.remove("chip-used"); });
    // form.reset() emptied the position: take it again for the next report.
    lastFetched = null;
    locate();
  }

  if (draftBox) {
    draftBox.querySelector("button").addEventListener("click", function () {
      resetForNext();
    });
  }

  /* The capture in progress holds back a new version of the app until it is sent or dropped. */
  window.CivicCapture = { busy: function () { return sending || dirty; } };

  /* ---------- send ---------- */

  function sendPlain() {
    // No outbox (no IndexedDB): the form posts as it always did.
    form.submit();
  }

  function reportLabel() {
    var chosen = form.querySelector('input[name="category"]:checked');
    var tile = chosen && chosen.closest("label");
    var name = tile ? tile.textContent.replace(/\s+/g, " ").trim() : "";
    // The point is a picker: its text is already the point's name and code.
    var where = pointSelect && pointSelect.value ? pointSelect.value : "";
    return [message("outbox-label"), name, where].filter(Boolean).join(" · ");
  }

  function sendThroughOutbox() {
    var item = outbox.captureForm(form, {
      id: editing || (tokenInput && tokenInput.value) || undefined,
      kind: "report",
      label: reportLabel(),
      editUrl: window.location.pathname,
    });
    progress.value = 0;
    progress.hidden = false;
    submitStatus.textContent = message("sending", { percent: 0 });
    var onProgress = {};
    onProgress[item.id] = function (percent) {
      progress.value = percent;
      submitStatus.textContent = message("sending", { percent: percent });
    };
    outbox.enqueue(item, { onProgress: onProgress }).then(function (stored) {
      discardDraft();
      if (stored && stored.state === "sent") {
        submitStatus.textContent = message("sent");
        outbox.core.remove(stored.id).then(function () {
          window.location.assign(stored.resultUrl);
        });
        return;
      }
      finish();
      submitStatus.textContent = "";
      if (stored && stored.state === "refused") {
        // Nothing was filed and the form still holds everything: correct it here.
        outbox.core.remove(stored.id);
        editing = stored.id;
        showErrors(stored.serverErrors, stored.serverMessage);
        return;
      }
      queuedBox.hidden = false;
      queuedBox.querySelector("[data-queued-text]").textContent =
        stored && stored.state === "login" ? message("queued-login") : message("queued");
      queuedBox.scrollIntoView({ block: "center" });
      resetForNext();
    }, function () {
      finish();
      submitStatus.textContent = "";
      showProblem(message("storage-failed"));
    });
  }

  form.addEventListener("submit", function (event) {
    if (!window.FormData) return; // the plain post still works
    event.preventDefault();
    if (sending) return; // a double tap: one send is enough
    sending = true;
    submitButton.disabled = true;
    clearErrors();
    if (queuedBox) queuedBox.hidden = true;
    submitStatus.textContent = message("wait-photos");
    var ready = window.CivicPhotos ? window.CivicPhotos.whenReady(form) : Promise.resolve();
    var go = outbox ? sendThroughOutbox : sendPlain;
    ready.then(go, go);
  });

  /* ---------- a draft, or an outbox item to correct ---------- */

  function openSaved() {
    if (!outbox) return Promise.resolve(false);
    var match = /#outbox=([0-9a-f-]+)/.exec(window.location.hash);
    if (match) {
      return outbox.core.get(match[1]).then(function (item) {
        if (!item || item.user !== outbox.user || item.kind !== "report") return false;
        editing = item.id;
        if (tokenInput) tokenInput.value = item.id;
        restore(item);
        if (item.serverMessage) showErrors(item.serverErrors, item.serverMessage);
        return true;
      });
    }
    return outbox.core.loadDraft(draftKey).then(function (draft) {
      if (!draft || !hasContent(draft)) return false;
      restore(draft);
      dirty = true;
      if (draftBox) draftBox.hidden = false;
      return true;
    });
  }

  /* ---------- start ---------- */

  function start() {
    if (fields.latitude.value && fields.longitude.value) {
      // A re-rendered or restored form keeps its position; offer the points around it again.
      lastFetched = { lat: parseFloat(fields.latitude.value), lng: parseFloat(fields.longitude.value) };
      fetchNearby(lastFetched);
      gpsRetry.hidden = false;
    } else {
      locate();
    }
  }

  openSaved().catch(function () { return false; }).then(start);
})();
