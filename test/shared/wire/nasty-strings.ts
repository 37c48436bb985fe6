// Strings that break a wire writer which forgets to escape, shared by the escaping tests.

/** Strings that break a writer that forgets to escape: markup, entities, quotes, CDATA ends. */
export const NASTY = [
  '<',
  '&',
  '>',
  '"',
  "'",
  'a<b>c&d"e\'f',
  '</value></member><member><name>injected</name><value>x',
  '&amp;',
  '&lt;&#60;&#x3c;',
  ']]>',
  '<![CDATA[x]]>',
  '<?xml version="1.0"?>',
  'tab\there\nnewline',
  'ünïcödé ☃ 😀',
  '',
];

/** C0 controls XML 1.0 cannot carry (everything below 0x20 but TAB, LF, CR), plus DEL. */
export const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).filter(
    (c) => c !== '\t' && c !== '\n' && c !== '\r',
  ),
];
