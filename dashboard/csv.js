// CSV of a table the page shows, made in the browser and saved as a file
// (a Blob and a download link): nothing is asked of the server again.

/**
 * RFC 4180: fields with a comma, a quote or a line break are quoted, quotes
 * doubled; lines end with CRLF. A text field starting with = + - @ (a formula
 * to a spreadsheet) is prefixed with ' so that it stays text.
 */
export function toCsv(header, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') return String(v);
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

/** Saves `text` as `name` (text/csv). */
export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
