// Inspection rounds on the phone: sort the worklist nearest first, and save each tap at once.
// Without JavaScript every button is a plain form post; this only makes it faster and keeps
// taps made without a connection in a queue (same client token, so a replay never doubles).
(function () {
  "use strict";

  var QUEUE_KEY = "civicapp.rounds.queue";
  var position = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function fillPosition() {
    if (!position) { return; }
    document.querySelectorAll("[data-gps]").forEach(function (input) {
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
  if (locateNote && locateNote.getAttribute("data-located") === "0") {
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

  // --- the visit --------------------------------------------------------------------------
  var visit = document.querySelector("[data-visit]");
  if (!visit) { return; }
  var gpsStatus = visit.querySelector("[data-gps-status]");
  var queueStatus = visit.querySelector("[data-queue-status]");

  function readQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }

  function writeQueue(queue) {
    try { localStorage.setItem(QUEUE_KEY, JSON.stringify(queue)); } catch (e) { /* private mode */ }
    if (queue.length) {
      queueStatus.hidden = false;
      queueStatus.textContent = visit.getAttribute("data-msg-offline").replace("{count}", queue.length);
    } else {
      queueStatus.hidden = true;
    }
  }

  function post(url, body, csrf, isForm) {
    var headers = { "X-CSRFToken": csrf, "Accept": "application/json" };
    if (!isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: "POST",
      headers: headers,
      body: isForm ? body : JSON.stringify(body),
      credentials: "same-origin"
    });
  }

  function flushQueue() {
    var queue = readQueue();
    if (!queue.length) { return Promise.resolve(); }
    var entry = queue[0];
    return post(entry.url, entry.body, entry.csrf, false).then(function (response) {
      // Sent (or refused for good): either way it leaves the queue; a retry would change nothing.
      if (response.status !== 0) { writeQueue(readQueue().slice(1)); return flushQueue(); }
    }).catch(function () { writeQueue(queue); });
  }

  function applyStandard(item, standard) {
    item.querySelectorAll(".toggle").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.value === standard.result));
    });
    var extra = item.querySelector("[data-fail-extra]");
    if (extra) { extra.hidden = standard.result !== "no"; }
    item.classList.toggle("is-failed", standard.result === "no");
  }

  locate(function (where) {
    fillPosition();
    gpsStatus.textContent = visit.getAttribute("data-msg-gps").replace("{accuracy}", Math.round(where.accuracy));
    var startForm = visit.querySelector("[data-start-form]");
    if (visit.getAttribute("data-started") === "0" && startForm) {
      var body = {
        client_token: startForm.querySelector("[name=client_token]").value,
        at: new Date().toISOString(),
        latitude: where.latitude.toFixed(6),
        longitude: where.longitude.toFixed(6),
        accuracy_m: Math.round(where.accuracy)
      };
      post(visit.getAttribute("data-start-url"), body, csrfToken(startForm), false).then(function (response) {
        if (response.ok) { window.location.reload(); }
      }).catch(function () { /* the first mark starts the visit as well */ });
    }
  }, function () {
    gpsStatus.textContent = visit.getAttribute("data-msg-no-gps");
  });

  document.querySelectorAll("form[data-standard]").forEach(function (form) {
    var item = form.closest("[data-standard-item]");
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !button.value) { return; }
      event.preventDefault();
      fillPosition();
      form.querySelector("[name=client_token]").value = uuid();
      form.querySelector("[name=observed_at]").value = new Date().toISOString();
      var photo = form.querySelector("[data-photo]");
      var fileCase = button.hasAttribute("data-file-case");
      var data = new FormData(form);
      data.set("result", button.value);
      if (fileCase) { data.set("file_case", "1"); }
      var withFiles = (photo && photo.files.length) || fileCase;
      var simpleTap = button.classList.contains("toggle");
      button.setAttribute("data-saving", "");
      var body = withFiles ? data : Object.fromEntries(Array.from(data.entries()).filter(function (pair) {
        return typeof pair[1] === "string" && pair[0] !== "csrfmiddlewaretoken" && pair[0] !== "photo";
      }));
      post(form.action, body, csrfToken(form), !!withFiles).then(function (response) {
        return response.json().then(function (json) { return { response: response, json: json }; });
      }).then(function (answer) {
        button.removeAttribute("data-saving");
        if (!answer.response.ok) {
          var errors = answer.json.errors || {};
          var text = Object.keys(errors).map(function (key) { return errors[key].join(" "); }).join(" ");
          window.alert(text || answer.json.error || answer.response.statusText);
          return;
        }
        var standardId = Number(form.querySelector("[name=check_item]").value);
        var standard = answer.json.state.standards.filter(function (s) { return s.check_item === standardId; })[0];
        if (!simpleTap || (standard && standard.issue)) { window.location.reload(); return; }
        if (standard) { applyStandard(item, standard); }
      }).catch(function () {
        button.removeAttribute("data-saving");
        if (withFiles) { window.alert(visit.getAttribute("data-msg-photo-offline")); return; }
        var queue = readQueue();
        queue.push({ url: form.action, body: body, csrf: csrfToken(form) });
        writeQueue(queue);
        applyStandard(item, { result: button.value });
      });
    });
  });

  window.addEventListener("online", flushQueue);
  writeQueue(readQueue());
  flushQueue();
})();
