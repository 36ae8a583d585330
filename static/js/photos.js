/* Photo inputs, enhanced: previews, removal, and downscaling in the browser before upload.
 *
 * Route chosen (and why): each photo is decoded by the browser, drawn on a canvas no larger
 * than 1600 px on its longest side and re-encoded as JPEG (quality 0.82), which turns a 4-8 MB
 * phone photo into a few hundred kB on a weak street signal. Re-encoding drops EXIF, so the
 * original's capture time and GPS are read first (static/js/exif.js) and sent as hidden fields
 * photo_taken_at[] and photo_gps[], one per photo in file order. The server re-encodes every
 * upload anyway and reads EXIF from it; it falls back to these fields only when the upload has
 * none. We do not splice the original EXIF block into the new JPEG: that block carries the
 * original orientation (the canvas has already applied it, so the server would rotate twice)
 * and often an embedded thumbnail that undoes the savings.
 *
 * The selected photos live in a list here and are written back into the <input type=file>
 * through a DataTransfer, so the form still submits as an ordinary multipart POST. A file the
 * browser cannot decode (HEIC on most desktop browsers) is sent as it is; the server reads it.
 * Without DataTransfer support, or without JavaScript, the plain input is used unchanged.
 */
(function () {
  "use strict";

  // 1600 px and 0.82 keep a report of three 12 MP photos under 1.5 MB (README, measured).
  var QUALITY = 0.82;
  // A JPEG this small and already within the size limit is not worth re-encoding.
  var KEEP_BELOW_BYTES = 600 * 1024;
  // A file modified this recently was just taken with the camera: its time is the capture time.
  var FRESH_CAPTURE_MS = 10 * 60 * 1000;

  function format(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? values[key] : all;
    });
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function localIso(ms) {
    var d = new Date(ms);
    var offset = -d.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function supportsDataTransfer() {
    try {
      return typeof DataTransfer === "function" && !!new DataTransfer().items;
    } catch (error) {
      return false;
    }
  }

  function readBuffer(file) {
    if (file.arrayBuffer) return file.arrayBuffer();
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsArrayBuffer(file);
    });
  }

  function jpegName(name) {
    var base = (name || "photo").replace(/\.[^.]+$/, "");
    return base + ".jpg";
  }

  /* Resolve with a JPEG no larger than maxSide, or with the file itself when that is better. */
  function downscale(file, maxSide) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        var width = image.naturalWidth;
        var height = image.naturalHeight;
        var scale = Math.min(1, maxSide / Math.max(width, height));
        if (!width || !height) {
          URL.revokeObjectURL(url);
          resolve(file);
          return;
        }
        if (scale === 1 && file.type === "image/jpeg" && file.size <= KEEP_BELOW_BYTES) {
          URL.revokeObjectURL(url);
          resolve(file);
          return;
        }
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(width * scale);
        canvas.height = Math.round(height * scale);
        var context = canvas.getContext("2d");
        // Browsers apply the EXIF orientation when drawing an <img>: the result is upright.
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) {
          if (!blob || (blob.size >= file.size && scale === 1)) {
            resolve(file);
            return;
          }
          resolve(new File([blob], jpegName(file.name), {
            type: "image/jpeg",
            lastModified: file.lastModified,
          }));
        }, "image/jpeg", QUALITY);
      };
      image.onerror = function () {
        URL.revokeObjectURL(url);
        resolve(file); // not decodable here (e.g. HEIC): the server handles it
      };
      image.src = url;
    });
  }

  function prepare(file, maxSide) {
    return readBuffer(file)
      .then(function (buffer) { return window.CivicExif ? window.CivicExif.read(buffer) : {}; })
      .catch(function () { return {}; })
      .then(function (meta) {
        var takenAt = meta.takenAt || null;
        if (!takenAt && file.lastModified && Date.now() - file.lastModified < FRESH_CAPTURE_MS) {
          takenAt = localIso(file.lastModified);
        }
        var gps = meta.latitude != null && meta.longitude != null
          ? meta.latitude.toFixed(6) + "," + meta.longitude.toFixed(6)
          : "";
        return downscale(file, maxSide).then(function (output) {
          return { file: output, takenAt: takenAt || "", gps: gps, original: file };
        });
      });
  }

  /* Whether the first bytes are those of a photo the server takes (JPEG, PNG, WebP, HEIC/HEIF):
     anything else is refused here at once, never shown as ready (the server checks again). */
  function looksLikePhoto(file) {
    return readBuffer(file.slice(0, 16)).then(function (buffer) {
      var b = new Uint8Array(buffer);
      var text = function (from, to) { return String.fromCharCode.apply(null, b.subarray(from, to)); };
      if (b.length < 12) return false;
      if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return true;
      if (b[0] === 0x89 && text(1, 4) === "PNG") return true;
      if (text(0, 4) === "RIFF" && text(8, 12) === "WEBP") return true;
      return text(4, 8) === "ftyp";
    }).catch(function () { return false; });
  }

  /* A page with many photo inputs (the verification queue) writes their messages once, on
   * an element marked data-photo-messages, instead of on each input. */
  function message(widget, name) {
    var own = widget.getAttribute(name);
    if (own !== null) return own;
    var shared = document.querySelector("[data-photo-messages]");
    return shared ? shared.getAttribute(name) || "" : "";
  }

  function enhance(widget) {
    var input = widget.querySelector('input[type="file"]');
    if (!input || !supportsDataTransfer() || !window.Promise) return;
    var form = input.form;
    var previews = widget.querySelector("[data-photo-previews]");
    var meta = widget.querySelector("[data-photo-meta]");
    var status = widget.querySelector("[data-photo-status]");
    var maxSide = parseInt(widget.getAttribute("data-max-side"), 10) || 1600;
    var items = [];
    var pending = Promise.resolve();
    var busy = 0;

    widget.classList.add("is-enhanced");

    function setBusy(delta) {
      busy += delta;
      widget.toggleAttribute("data-busy", busy > 0);
      if (form) {
        form.querySelectorAll('button[type="submit"]').forEach(function (button) {
          button.toggleAttribute("data-waiting-photos", busy > 0);
        });
      }
    }

    function sync() {
      var transfer = new DataTransfer();
      items.forEach(function (item) { transfer.items.add(item.file); });
      input.files = transfer.files;
      render();
      widget.dispatchEvent(new CustomEvent("civic-photos-changed", { bubbles: true }));
    }

    /* The outbox keeps photos on the phone: refuse new ones that would not fit, clearly. */
    function fitsStorage(prepared) {
      if (!navigator.storage || !navigator.storage.estimate) return Promise.resolve(true);
      var needed = prepared.reduce(function (sum, item) { return sum + item.file.size; }, 0);
      return navigator.storage.estimate().then(function (estimate) {
        if (!estimate.quota) return true;
        // Room for the draft and the outbox copy, and a margin the browser needs itself.
        return estimate.usage + needed * 2 + 5 * 1024 * 1024 <= estimate.quota;
      }).catch(function () { return true; });
    }

    function render() {
      previews.textContent = "";
      meta.textContent = "";
      items.forEach(function (item, index) {
        var li = document.createElement("li");
        li.className = "photo-preview";
        var img = document.createElement("img");
        img.src = item.url;
        img.alt = "";
        li.appendChild(img);
        var caption = document.createElement("span");
        caption.className = "photo-preview-caption";
        var bits = [Math.max(1, Math.round(item.file.size / 1024)) + " kB"];
        if (item.gps) bits.push(message(widget, "data-msg-located"));
        caption.textContent = bits.join(" · ");
        li.appendChild(caption);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "photo-remove";
        remove.textContent = "×";
        remove.setAttribute("aria-label", format(message(widget, "data-msg-remove"), { number: index + 1 }));
        remove.addEventListener("click", function () {
          URL.revokeObjectURL(item.url);
          items.splice(items.indexOf(item), 1);
          sync();
          input.focus();
        });
        li.appendChild(remove);
        previews.appendChild(li);
        ["photo_taken_at[]", "photo_gps[]"].forEach(function (name) {
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = name;
          hidden.value = name === "photo_gps[]" ? item.gps : item.takenAt;
          meta.appendChild(hidden);
        });
      });
      if (status && refusal && busy === 0) {
        status.textContent = refusal;
        status.classList.add("photo-refused");
      } else if (status) {
        status.classList.remove("photo-refused");
        status.textContent = busy > 0
          ? message(widget, "data-msg-preparing")
          : items.length
            ? format(message(widget, "data-msg-ready"), { count: items.length })
            : status.getAttribute("data-initial") || status.textContent;
      }
    }

    if (status) status.setAttribute("data-initial", status.textContent);
    var refusal = null;  // the one message about the last pick: not a photo, or no room left

    widget.civicPhotoItems = function () {
      return items.map(function (item) { return { file: item.file, takenAt: item.takenAt, gps: item.gps }; });
    };
    widget.civicPhotoRestore = function (saved) {
      saved.forEach(function (entry) {
        var file = entry.blob instanceof File ? entry.blob
          : new File([entry.blob], entry.name || "photo.jpg", { type: entry.type || "image/jpeg" });
        items.push({ file: file, takenAt: entry.takenAt || "", gps: entry.gps || "", url: URL.createObjectURL(file) });
      });
      sync();
    };
    widget.civicPhotoClear = function () {
      items.forEach(function (item) { URL.revokeObjectURL(item.url); });
      items = [];
      sync();
    };

    input.addEventListener("change", function () {
      var picked = Array.prototype.slice.call(input.files || []);
      // The input now holds only the new pick; put the earlier photos back at once.
      refusal = null;  // a new pick replaces the last message instead of piling up
      sync();
      if (!picked.length) return;
      setBusy(1);
      render();
      var chosen = [];
      var work = Promise.all(picked.map(looksLikePhoto))
        .then(function (verdicts) {
          var refused = [];
          picked.forEach(function (file, index) {
            (verdicts[index] ? chosen : refused).push(file);
          });
          if (refused.length) {
            refusal = format(message(widget, "data-msg-not-photo"), {
              name: refused.map(function (file) { return file.name; }).join("、"),
            });
          }
          return Promise.all(chosen.map(function (file) { return prepare(file, maxSide); }));
        })
        .then(function (prepared) {
          return fitsStorage(prepared).then(function (fits) {
            if (!fits) {
              refusal = message(widget, "data-msg-quota");
              return;
            }
            prepared.forEach(function (item) {
              item.url = URL.createObjectURL(item.file);
              items.push(item);
            });
          });
        })
        .catch(function () {
          // If anything goes wrong, send the originals untouched rather than nothing.
          chosen.forEach(function (file) {
            items.push({ file: file, takenAt: "", gps: "", url: URL.createObjectURL(file) });
          });
        })
        .then(function () {
          setBusy(-1);
          sync();
        });
      pending = pending.then(function () { return work; });
    });

    widget.civicPhotosReady = function () { return pending; };
  }

  /* Resolves when every photo input in the form has finished preparing its photos. */
  function whenReady(form) {
    var waits = [];
    form.querySelectorAll("[data-photo-widget]").forEach(function (widget) {
      if (widget.civicPhotosReady) waits.push(widget.civicPhotosReady());
    });
    return Promise.all(waits);
  }

  function init() {
    document.querySelectorAll("[data-photo-widget]").forEach(enhance);
    // A plain (non-report) form with photos still posts natively: hold the post until ready.
    document.querySelectorAll("form").forEach(function (form) {
      // The report form, outbox forms and forms marked data-photos-awaited (a round visit's)
      // wait for the photos themselves.
      if (form.id === "report-form" || form.hasAttribute("data-outbox") || form.hasAttribute("data-photos-awaited")) return;
      if (!form.querySelector("[data-photo-widget]")) return;
      form.addEventListener("submit", function (event) {
        if (!form.querySelector("[data-photo-widget][data-busy]")) return;
        event.preventDefault();
        whenReady(form).then(function () { form.requestSubmit ? form.requestSubmit() : form.submit(); });
      });
    });
  }

  function widgets(form) {
    return Array.prototype.slice.call(form.querySelectorAll("[data-photo-widget]"));
  }

  window.CivicPhotos = {
    whenReady: whenReady,
    /* The prepared photos of a form, per file input name: {name: [{file, takenAt, gps}]}. */
    items: function (form) {
      var result = {};
      widgets(form).forEach(function (widget) {
        var input = widget.querySelector('input[type="file"]');
        if (widget.civicPhotoItems && input) result[input.name] = widget.civicPhotoItems();
      });
      return result;
    },
    /* Put saved photos (a draft's, an outbox item's) back: [{field, blob, name, type, takenAt, gps}]. */
    restore: function (form, files) {
      widgets(form).forEach(function (widget) {
        var input = widget.querySelector('input[type="file"]');
        if (!widget.civicPhotoRestore || !input) return;
        widget.civicPhotoRestore(files.filter(function (file) { return file.field === input.name; }));
      });
    },
    clear: function (form) {
      widgets(form).forEach(function (widget) { if (widget.civicPhotoClear) widget.civicPhotoClear(); });
    },
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
