// Lenient UTF-8 decoding. xapi checks every parameter for valid UTF-8 *after* parsing the
// envelope, so a body with bad bytes must still parse; we decode each maximal invalid byte with
// a chosen replacement character and remember where the replacements landed.
import { isUtf8 } from 'node:buffer';

export interface LenientText {
  text: string;
  /** JS string indices of the replacement characters; undefined when the body was valid. */
  bad?: number[];
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 if the bytes there are invalid. */
function seqLength(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < b.length && b[j] >= lo && b[j] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf; // ED A0..BF would encode a surrogate
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

export function decodeLenient(body: Buffer, replacement = '\uFFFD'): LenientText {
  if (isUtf8(body)) return { text: body.toString('utf8') };
  const bad: number[] = [];
  let text = '';
  let runStart = 0;
  let i = 0;
  while (i < body.length) {
    const n = seqLength(body, i);
    if (n > 0) {
      i += n;
      continue;
    }
    text += body.toString('utf8', runStart, i);
    bad.push(text.length);
    text += replacement;
    i++;
    runStart = i;
  }
  text += body.toString('utf8', runStart, body.length);
  return { text, bad };
}

// Control characters XML cannot carry, the two non-characters, and lone surrogates.
const XML_BAD_CHAR =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * xapi's per-parameter check (UTF8_XML.is_valid): well-formed UTF-8 (no lone surrogates once in
 * UTF-16) whose characters are all allowed in XML 1.0.
 */
export function isXmlSafeString(s: string): boolean {
  return !XML_BAD_CHAR.test(s);
}
