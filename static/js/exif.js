/* A small EXIF reader: capture time and GPS position from a JPEG's APP1 block.
 *
 * The report page re-encodes photos in the browser to save mobile data, and the re-encoded
 * JPEG has no EXIF. So before re-encoding we read the original's DateTimeOriginal (with
 * OffsetTimeOriginal when present) and GPS latitude/longitude, and send them in hidden fields
 * beside each photo. The server uses them only when the uploaded file has no EXIF of its own.
 *
 * Only what we need is parsed, defensively: every offset is bounds-checked and anything
 * malformed yields null rather than an exception.
 */
(function () {
  "use strict";

  var TAG_EXIF_IFD = 0x8769;
  var TAG_GPS_IFD = 0x8825;
  var TAG_DATETIME_ORIGINAL = 0x9003;
  var TAG_OFFSET_TIME_ORIGINAL = 0x9011;
  var TAG_DATETIME = 0x0132;
  var GPS_LAT_REF = 1;
  var GPS_LAT = 2;
  var GPS_LNG_REF = 3;
  var GPS_LNG = 4;
  var TYPE_SIZES = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };

  function findApp1(view) {
    if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return null; // not a JPEG
    var offset = 2;
    while (offset + 4 <= view.byteLength) {
      if (view.getUint8(offset) !== 0xff) return null;
      var marker = view.getUint8(offset + 1);
      if (marker === 0xd9 || marker === 0xda) return null; // end of image / start of scan
      var length = view.getUint16(offset + 2);
      if (length < 2) return null;
      if (marker === 0xe1 && offset + 10 <= view.byteLength &&
          view.getUint32(offset + 4) === 0x45786966 && view.getUint16(offset + 8) === 0) {
        return { start: offset + 10, end: Math.min(offset + 2 + length, view.byteLength) };
      }
      offset += 2 + length;
    }
    return null;
  }

  function Tiff(view, start, end) {
    this.view = view;
    this.start = start;
    this.end = end;
    var order = view.getUint16(start);
    if (order === 0x4949) this.little = true;
    else if (order === 0x4d4d) this.little = false;
    else throw new Error("bad byte order");
    if (this.u16(2) !== 42) throw new Error("bad TIFF marker");
  }

  Tiff.prototype.inside = function (relative, size) {
    return relative >= 0 && this.start + relative + size <= this.end;
  };
  Tiff.prototype.u16 = function (relative) {
    if (!this.inside(relative, 2)) throw new Error("out of bounds");
    return this.view.getUint16(this.start + relative, this.little);
  };
  Tiff.prototype.u32 = function (relative) {
    if (!this.inside(relative, 4)) throw new Error("out of bounds");
    return this.view.getUint32(this.start + relative, this.little);
  };

  /* The entries of the IFD at `relative`, as {tag: {type, count, valueOffset}}. */
  Tiff.prototype.ifd = function (relative) {
    var entries = {};
    var count = this.u16(relative);
    if (count > 500) throw new Error("implausible IFD");
    for (var i = 0; i < count; i++) {
      var at = relative + 2 + i * 12;
      var tag = this.u16(at);
      var type = this.u16(at + 2);
      var n = this.u32(at + 4);
      var size = (TYPE_SIZES[type] || 1) * n;
      entries[tag] = { type: type, count: n, valueOffset: size <= 4 ? at + 8 : this.u32(at + 8) };
    }
    return entries;
  };

  Tiff.prototype.ascii = function (entry) {
    if (!entry || entry.type !== 2 || entry.count > 64 || !this.inside(entry.valueOffset, entry.count)) {
      return null;
    }
    var text = "";
    for (var i = 0; i < entry.count; i++) {
      var code = this.view.getUint8(this.start + entry.valueOffset + i);
      if (code === 0) break;
      text += String.fromCharCode(code);
    }
    return text.trim();
  };

  Tiff.prototype.rationals = function (entry) {
    if (!entry || entry.type !== 5 || entry.count < 1 || entry.count > 3 ||
        !this.inside(entry.valueOffset, entry.count * 8)) {
      return null;
    }
    var values = [];
    for (var i = 0; i < entry.count; i++) {
      var numerator = this.u32(entry.valueOffset + i * 8);
      var denominator = this.u32(entry.valueOffset + i * 8 + 4);
      if (denominator === 0) return null;
      values.push(numerator / denominator);
    }
    return values;
  };

  function degrees(parts, ref, negative, limit) {
    if (!parts) return null;
    var value = (parts[0] || 0) + (parts[1] || 0) / 60 + (parts[2] || 0) / 3600;
    if (!isFinite(value) || value > limit) return null;
    if (ref && ref.charAt(0).toUpperCase() === negative) value = -value;
    return value;
  }

  /* "2026:03:14 10:22:33" (+ "+08:00") -> "2026-03-14T10:22:33+08:00", or null. */
  function isoTime(text, offset) {
    var match = /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(text || "");
    if (!match || match[1] === "0000") return null;
    var iso = match[1] + "-" + match[2] + "-" + match[3] + "T" + match[4] + ":" + match[5] + ":" + match[6];
    if (offset && /^[+-]\d{2}:\d{2}$/.test(offset)) iso += offset;
    return iso;
  }

  /* Capture time and position of a JPEG, from its bytes: {takenAt, latitude, longitude}. */
  function read(buffer) {
    var result = { takenAt: null, latitude: null, longitude: null };
    try {
      var view = new DataView(buffer);
      var app1 = findApp1(view);
      if (!app1) return result;
      var tiff = new Tiff(view, app1.start, app1.end);
      var ifd0 = tiff.ifd(tiff.u32(4));
      var taken = null;
      if (ifd0[TAG_EXIF_IFD]) {
        var exif = tiff.ifd(tiff.u32(ifd0[TAG_EXIF_IFD].valueOffset));
        taken = isoTime(tiff.ascii(exif[TAG_DATETIME_ORIGINAL]), tiff.ascii(exif[TAG_OFFSET_TIME_ORIGINAL]));
      }
      result.takenAt = taken || isoTime(tiff.ascii(ifd0[TAG_DATETIME]), null);
      if (ifd0[TAG_GPS_IFD]) {
        var gps = tiff.ifd(tiff.u32(ifd0[TAG_GPS_IFD].valueOffset));
        var lat = degrees(tiff.rationals(gps[GPS_LAT]), tiff.ascii(gps[GPS_LAT_REF]), "S", 90);
        var lng = degrees(tiff.rationals(gps[GPS_LNG]), tiff.ascii(gps[GPS_LNG_REF]), "W", 180);
        // Half a position is no position; 0,0 is what some phones write without a fix.
        if (lat !== null && lng !== null && !(lat === 0 && lng === 0)) {
          result.latitude = lat;
          result.longitude = lng;
        }
      }
    } catch (error) {
      // Malformed metadata is not worth failing a report over.
    }
    return result;
  }

  window.CivicExif = { read: read };
})();
