// Join links. direkt writes them as https://host/j/47#nordsee-tulpe: the
// nameplate in the path (the server may see it), the secret words in the
// fragment (browsers never send it). /j/47-nordsee-tulpe typed by hand works
// too; the page then moves the words into the fragment at once.

const digits = (s) => /^[0-9]+$/.test(s);

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // code.js reports the garbled escape
  }
}

/**
 * codeFromLocation finds the code in the page's own address. It returns
 * {input, fromPath} — input for Codes.parse, fromPath true when the words
 * were in the path — or null when there is no code (show the form).
 */
export function codeFromLocation(pathname, hash) {
  const m = /^\/j(?:\/(.*))?$/s.exec(pathname);
  if (!m) return null;
  const seg = decode((m[1] ?? '').replace(/\/+$/, ''));
  const frag = decode(hash.replace(/^#/, '')).trim();
  if (frag !== '') {
    return { input: digits(seg) ? `${seg}-${frag}` : frag, fromPath: false };
  }
  if (seg === '' || digits(seg) || !/[0-9]/.test(seg)) return null;
  return { input: seg, fromPath: true };
}

/**
 * codeFromInput turns a pasted join link of the fragment form into a code
 * Codes.parse understands; anything else is returned as it is (parse takes
 * plain codes and path-form links itself).
 */
export function codeFromInput(s) {
  const t = s.trim();
  const hash = t.indexOf('#');
  if (hash < 0 || !(t.includes('://') || t.startsWith('/'))) return s;
  const path = t.slice(0, hash).split('?')[0];
  const seg = path.replace(/\/+$/, '').split('/').pop();
  const frag = decode(t.slice(hash + 1)).trim();
  if (digits(seg) && frag !== '') return `${seg}-${frag}`;
  return s;
}
