/* The report page: GPS with accuracy, nearby points, point search, category-dependent quick
 * phrases and severity, and a send that survives a bad connection.
 *
 * Everything here is an enhancement: without JavaScript the page is a plain multipart form.
 * The send goes through XMLHttpRequest (for upload progress) and asks for JSON. On a network
 * failure nothing is lost: the photos are still in memory and the same client_token is sent
 * again, so the server files the problem once however often the inspector taps "Send".
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

  function fetchNearby(here) {
    var url = form.getAttribute("data-nearby-url") + "?lat=" + encodeURIComponent(here.lat.toFixed(6)) +
      "&lng=" + encodeURIComponent(here.lng.toFixed(6));
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) return;
        // The fragment is our own server-rendered, escaped template (same origin, CSP-bound).
        nearbyBox.innerHTML = html;
        var first = nearbyBox.querySelector(".nearby-choice");
        if (first && !pointChosenByHand) choosePoint(first, false);
        markChosen();
      })
      .catch(function () { /* offline: the picker below still works */ });
  }

  // The point is a picker (text "name [code]", see picker.js); a nearby button fills it.
  function choosePoint(button, byHand) {
    if (!pointSelect || !button) return;
    pointSelect.value = button.getAttribute("data-point-label") || button.getAttribute("data-point-id");
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

  /* ---------- send ---------- */

  var sending = false;

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

  function showErrors(errors) {
    var general = [];
    var firstSlot = null;
    Object.keys(errors || {}).forEach(function (name) {
      var texts = errors[name].map(function (error) { return error.message; });
      var slot = form.querySelector('[data-errors-for="' + name + '"]');
      if (slot && name !== "__all__") {
        slot.appendChild(errorList(texts));
        if (slot.parentElement) slot.parentElement.classList.add("has-error");
        firstSlot = firstSlot || slot;
      } else {
        general = general.concat(texts);
      }
    });
    showProblem(message("invalid"), general);
  }

  function finish() {
    sending = false;
    submitButton.disabled = false;
    progress.hidden = true;
  }

  function send() {
    var data = new FormData(form);
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.timeout = 5 * 60 * 1000;
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      var percent = Math.round((event.loaded / event.total) * 100);
      progress.value = percent;
      submitStatus.textContent = message("sending", { percent: percent });
    });
    request.addEventListener("load", function () {
      var body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch (error) {
        body = null;
      }
      if (body && body.ok && body.url) {
        submitStatus.textContent = message("sent");
        window.location.assign(body.url);
        return;
      }
      finish();
      submitStatus.textContent = "";
      if (body && body.errors) showErrors(body.errors);
      else if (/\/accounts\/login\//.test(request.responseURL || "")) showProblem(message("logged-out"));
      else showProblem(message("server", { status: request.status }));
    });
    function failed() {
      finish();
      submitStatus.textContent = "";
      showProblem(message("network"));
    }
    request.addEventListener("error", failed);
    request.addEventListener("timeout", failed);
    request.addEventListener("abort", failed);
    progress.value = 0;
    progress.hidden = false;
    submitStatus.textContent = message("sending", { percent: 0 });
    request.send(data);
  }

  form.addEventListener("submit", function (event) {
    if (!window.FormData || !window.XMLHttpRequest) return; // the plain post still works
    event.preventDefault();
    if (sending) return; // a double tap: one request in flight is enough
    sending = true;
    submitButton.disabled = true;
    clearErrors();
    submitStatus.textContent = message("wait-photos");
    var ready = window.CivicPhotos ? window.CivicPhotos.whenReady(form) : Promise.resolve();
    ready.then(send, send);
  });

  /* ---------- start ---------- */

  if (fields.latitude.value && fields.longitude.value) {
    // A re-rendered form keeps its position; offer the points around it again.
    lastFetched = { lat: parseFloat(fields.latitude.value), lng: parseFloat(fields.longitude.value) };
    fetchNearby(lastFetched);
    gpsRetry.hidden = false;
  } else {
    locate();
  }
})();
