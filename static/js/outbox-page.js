/* The "待发送" page: every item of this user's outbox with its state, to send, fix or discard.
 *
 * A refused item shows the server's message. A report opens again in the report form to be
 * corrected (same token: it was never filed); other items let their text fields be edited here.
 * Nothing is ever dropped without the user's say.
 */
(function () {
  "use strict";

  var box = document.getElementById("outbox");
  var outbox = window.CivicOutbox;
  if (!box || !outbox) return;
  var core = outbox.core;
  var list = document.getElementById("outbox-list");
  var storageLine = document.getElementById("outbox-storage");
  box.hidden = false;
  document.querySelectorAll("main .no-js-only").forEach(function (note) { note.hidden = true; });

  function text(name, values) {
    var template = box.getAttribute("data-msg-" + name) || "";
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return values && key in values ? values[key] : all;
    });
  }

  function when(ms) {
    var d = new Date(ms);
    return d.toLocaleString(document.documentElement.lang || undefined, {
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }

  function stateText(item) {
    if (item.state === "retry") return text("state-retry", { time: when(item.nextAttemptAt) });
    return text("state-" + item.state);
  }

  function button(label, handler, kind) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "btn btn-small" + (kind ? " " + kind : "");
    element.textContent = label;
    element.addEventListener("click", handler);
    return element;
  }

  // The text an item carries that a person may correct in place (note, reason).
  var EDITABLE = /(^|-)(note|reason|description)$/;

  function render() {
    return core.list(outbox.user).then(function (items) {
      list.textContent = "";
      if (!items.length) {
        var empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = text("empty");
        list.appendChild(empty);
      }
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.className = "outbox-item";
        li.setAttribute("data-state", item.state);
        li.setAttribute("data-id", item.id);
        var title = document.createElement("div");
        title.className = "outbox-title";
        title.textContent = item.label || item.kind;
        li.appendChild(title);
        var meta = document.createElement("div");
        meta.className = "muted small";
        meta.textContent = text("captured", { time: when(Date.parse(item.capturedAt) || item.createdAt) }) +
          " · " + text("photos", { count: item.files.length });
        li.appendChild(meta);
        var state = document.createElement("p");
        state.className = "outbox-state";
        state.textContent = stateText(item);
        li.appendChild(state);
        if (item.state === "refused" && item.serverMessage) {
          var problem = document.createElement("p");
          problem.className = "outbox-message";
          problem.textContent = item.serverMessage;
          li.appendChild(problem);
        }
        var actions = document.createElement("div");
        actions.className = "outbox-actions";
        if (item.state === "sent") {
          if (item.resultUrl) {
            var open = document.createElement("a");
            open.className = "btn btn-small";
            open.href = item.resultUrl;
            open.textContent = text("open");
            actions.appendChild(open);
          }
        } else if (item.state === "refused") {
          if (item.kind === "report") {
            var edit = document.createElement("a");
            edit.className = "btn btn-small btn-primary";
            edit.href = (item.editUrl || "/issues/new/") + "#outbox=" + item.id;
            edit.textContent = text("edit");
            actions.appendChild(edit);
          } else {
            item.fields.forEach(function (pair, index) {
              if (!EDITABLE.test(pair[0])) return;
              var area = document.createElement("textarea");
              area.value = pair[1];
              area.setAttribute("data-field-index", String(index));
              li.appendChild(area);
            });
            actions.appendChild(button(text("save"), function () {
              var fields = item.fields.slice();
              li.querySelectorAll("textarea[data-field-index]").forEach(function (area) {
                var index = parseInt(area.getAttribute("data-field-index"), 10);
                fields[index] = [fields[index][0], area.value];
              });
              core.update(item.id, { fields: fields, state: "queued", serverMessage: "" }).then(function () {
                return outbox.flush({ only: [item.id], manual: true });
              }).then(render);
            }, "btn-primary"));
          }
        } else {
          actions.appendChild(button(text("retry"), function () {
            outbox.flush({ only: [item.id], manual: true }).then(render);
          }, "btn-primary"));
        }
        if (item.state !== "sent" && item.state !== "sending") {
          actions.appendChild(button(text("discard"), function () {
            if (window.confirm(text("discard-confirm"))) core.remove(item.id).then(render);
          }, "btn-danger"));
        }
        li.appendChild(actions);
        list.appendChild(li);
      });
    }).then(showStorage);
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function showStorage() {
    if (!navigator.storage || !navigator.storage.estimate) return null;
    return Promise.all([
      navigator.storage.estimate(),
      navigator.storage.persisted ? navigator.storage.persisted() : Promise.resolve(false),
    ]).then(function (both) {
      storageLine.textContent = text("storage", { used: megabytes(both[0].usage || 0), quota: megabytes(both[0].quota || 0) }) +
        " " + (both[1] ? text("persisted") : text("not-persisted"));
    }).catch(function () { return null; });
  }

  document.getElementById("outbox-send-all").addEventListener("click", function () {
    outbox.flush({ manual: true }).then(render);
  });
  window.addEventListener("civic-outbox-changed", render);
  if (core.channel) core.channel.addEventListener("message", render);
  render();
})();
