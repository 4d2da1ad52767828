// Every string the join page shows, in German and English. The page speaks
// German when the browser prefers it (navigator.languages, de*), else English.

export const STRINGS = {
  de: {
    title: 'direkt – Beratung beitreten',
    tagline: 'Direkt verbunden, ohne Installation.',
    codeLabel: 'Code',
    codeHint: 'Den Code hat Ihnen Ihr Berater genannt, z. B. 47-nordsee-tulpe.',
    nameLabel: 'Ihr Name (freiwillig)',
    defaultName: 'Gast',
    join: 'Beitreten',
    pairing: 'Verbinde …',
    pairingClaimed: 'Code gefunden, prüfe ihn …',
    pairingConfirmed: 'Code stimmt. Baue die Verbindung auf …',
    participants: 'Teilnehmer',
    host: 'Berater',
    you: 'Sie',
    path: 'Verbindung',
    direct: 'direkt',
    relay: 'über Relay',
    reconnecting: 'Verbindung unterbrochen – wird wiederhergestellt …',
    reconnected: 'Wieder verbunden.',
    phrase: 'Prüfwörter',
    phraseHint: 'Vergleichen Sie die Prüfwörter am Telefon. Sind sie verschieden, beenden Sie sofort.',
    key: 'Schlüssel',
    keyHint: ['Damit signiert der Berater das Protokoll (das PDF nennt ihn). Notieren Sie ihn: ', ' prüft damit ein Protokoll.'],
    shareNear: (pct) => `Ihre Nachrichten füllen schon ${pct} % dessen, was diese Beratung von Ihnen aufnehmen kann. Fassen Sie sich bitte kurz.`,
    shareFull: (max) => `Nicht gesendet: Diese Nachricht passt nicht mehr in das, was die Beratung von Ihnen aufnehmen kann (${max} Text insgesamt). Eine kürzere passt vielleicht noch.`,
    chat: 'Chat',
    chatLabel: 'Nachricht',
    send: 'Senden',
    files: 'Dateien',
    sendFile: 'Datei senden',
    download: 'Herunterladen',
    fromHost: 'vom Berater',
    fromYou: 'von Ihnen',
    record: 'Beratungsprotokoll',
    fileState: {
      hashing: 'wird geprüft',
      sending: 'wird gesendet',
      sent: 'gesendet, warte auf Bestätigung',
      receiving: 'wird empfangen',
      done: 'fertig',
      failed: 'fehlgeschlagen – verworfen',
      refused: 'abgelehnt',
      interrupted: 'unterbrochen – wird erneut gesendet',
    },
    resent: (n) => (n === 1 ? 'nach neuer Verbindung erneut gesendet' : `nach neuer Verbindung ${n}-mal erneut gesendet`),
    recordTooLarge: (max) => `Abgelehnt: größer, als ein Beratungsprotokoll sein kann (höchstens ${max}). Bitten Sie den Berater um eine Kopie auf anderem Weg.`,
    askRecord: 'Der Berater möchte ein Beratungsprotokoll führen (Chat, Dateien, Zustimmungen). Sie erhalten am Ende eine Kopie.',
    askFile: (name, size) => `Der Berater möchte Ihnen eine Datei senden: ${name} (${size}).`,
    askScreen: 'Der Berater möchte Ihnen seinen Bildschirm zeigen (nur ansehen).',
    screenShareTitle: 'Ihren Bildschirm zeigen',
    screenShare: 'Bildschirm zeigen',
    screenPause: 'Anhalten',
    screenResume: 'Fortsetzen',
    screenStop: 'Zeigen beenden',
    screenHidePointer: 'Zeiger ausblenden',
    screenPointHint: 'Tippen oder klicken Sie ins Bild, um dem Berater eine Stelle zu zeigen.',
    screenViewing: 'Der Berater sieht zu.',
    screenNotViewingPeer: 'Der Berater sieht gerade nicht zu.',
    screenPeer: (what) => `Der Berater zeigt Ihnen: ${what}`,
    screenWhat: { screen: 'Bildschirm', window: 'Fenster', tab: 'Browser-Tab', other: 'Bildschirm' },
    screenFit: 'Einpassen',
    screenActual: 'Originalgröße',
    screenStopView: 'Nicht mehr ansehen',
    screenResumeView: 'Wieder ansehen',
    screenPaused: 'Angehalten',
    screenNotViewing: 'Sie sehen nicht mehr zu.',
    accept: 'Erlauben',
    decline: 'Ablehnen',
    end: 'Beenden',
    endHint: 'Beendet alles sofort (auch mit Esc).',
    ended: 'Die Beratung ist beendet.',
    endedBy: { self: 'Sie haben die Beratung beendet.', host: 'Der Berater hat die Beratung beendet.', lost: 'Die Verbindung wurde getrennt.' },
    again: 'Neuen Code eingeben',
    failed: 'Es hat nicht geklappt.',
    sha: 'SHA-256',
    errors: {
      'bad-code': 'Falscher Code. Der Code ist jetzt verbraucht – bitten Sie um einen neuen.',
      'unknown-code': 'Diesen Code gibt es nicht (vertippt, abgelaufen oder schon benutzt).',
      crowded: 'Dieser Code wird schon von zwei Teilnehmern benutzt.',
      expired: 'Der Code ist abgelaufen. Bitten Sie um einen neuen.',
      refused: 'Der Server lehnt gerade ab. Versuchen Sie es gleich noch einmal.',
      busy: 'Der Server ist gerade ausgelastet. Versuchen Sie es in einer Minute noch einmal.',
      unreachable: 'Der Server ist nicht erreichbar.',
      tampered: 'Die Verbindung wurde manipuliert – abgebrochen.',
      binding: 'Die Verbindung wurde manipuliert (Kanalbindung) – abgebrochen.',
      'peer-gone': 'Die Gegenseite ist nicht mehr da.',
      'no-path': 'Keine Verbindung möglich (kein Weg durch die Netze).',
      protocol: 'Die Gegenseite hat etwas Unzulässiges gesendet – abgebrochen.',
      closed: 'Abgebrochen.',
      webrtc: 'Dieser Browser kann keine direkten Verbindungen (WebRTC).',
      other: 'Ein unerwarteter Fehler ist aufgetreten.',
    },
    codeErrors: {
      empty: 'Bitte geben Sie den Code ein, z. B. 47-nordsee-tulpe.',
      'too-long': 'Das ist zu lang für einen Code.',
      character: 'Der Code enthält ein Zeichen, das nicht hineingehört.',
      characterOf: (c) => `Das Zeichen „${c}“ gehört nicht in einen Code.`,
      number: 'Ein Code hat nur eine Zahl, ganz vorne.',
      garbled: 'Der Link ist beschädigt.',
      nameplate: 'Ein Code beginnt mit einer Zahl, z. B. 47-nordsee-tulpe.',
      nameplateFirst: (hint) => `Die Zahl kommt zuerst: ${hint}`,
      digits: 'Die Zahl ist zu lang.',
      zero: 'Die Zahl beginnt nicht mit 0.',
      count: (n) => `Ein Code hat eine Zahl und zwei Wörter – hier sind es ${n} Wörter.`,
      unknown: (w) => `„${w}“ ist kein Code-Wort.`,
      mixed: (w) => `„${w}“ gehört zur anderen Wortliste.`,
      suggest: (list) => ` Meinten Sie ${list}?`,
      or: ' oder ',
    },
  },
  en: {
    title: 'direkt – join a consultation',
    tagline: 'Connected directly, nothing to install.',
    codeLabel: 'Code',
    codeHint: 'Your adviser gave you the code, e.g. 47-anchor-tulip.',
    nameLabel: 'Your name (optional)',
    defaultName: 'Guest',
    join: 'Join',
    pairing: 'Connecting …',
    pairingClaimed: 'Code found, checking it …',
    pairingConfirmed: 'Code is right. Connecting …',
    participants: 'Participants',
    host: 'Adviser',
    you: 'You',
    path: 'Connection',
    direct: 'direct',
    relay: 'via relay',
    reconnecting: 'Connection lost – reconnecting …',
    reconnected: 'Connected again.',
    phrase: 'Check phrase',
    phraseHint: 'Compare the check phrase on the phone. If it differs, end at once.',
    key: 'Key',
    keyHint: ['The adviser signs the record with it (the PDF names it). Note it down: ', ' checks a record with it.'],
    shareNear: (pct) => `Your messages already fill ${pct} % of what this consultation can take from you. Please keep it short.`,
    shareFull: (max) => `Not sent: this message no longer fits into what the consultation can take from you (${max} of text in all). A shorter one may still fit.`,
    chat: 'Chat',
    chatLabel: 'Message',
    send: 'Send',
    files: 'Files',
    sendFile: 'Send a file',
    download: 'Download',
    fromHost: 'from the adviser',
    fromYou: 'from you',
    record: 'Consultation record',
    fileState: {
      hashing: 'checking',
      sending: 'sending',
      sent: 'sent, waiting for confirmation',
      receiving: 'receiving',
      done: 'done',
      failed: 'failed – discarded',
      refused: 'refused',
      interrupted: 'interrupted – being sent again',
    },
    resent: (n) => (n === 1 ? 'sent again over a new connection' : `sent again ${n} times over a new connection`),
    recordTooLarge: (max) => `Refused: larger than a consultation record can be (at most ${max}). Ask the adviser for a copy another way.`,
    askRecord: 'The adviser wants to keep a record of this consultation (chat, files, consents). You get a copy at the end.',
    askFile: (name, size) => `The adviser wants to send you a file: ${name} (${size}).`,
    askScreen: 'The adviser wants to show you their screen (view only).',
    screenShareTitle: 'Show your screen',
    screenShare: 'Show my screen',
    screenPause: 'Pause',
    screenResume: 'Resume',
    screenStop: 'Stop showing',
    screenHidePointer: 'Hide pointer',
    screenPointHint: 'Tap or click on the picture to show the adviser a place.',
    screenViewing: 'The adviser is viewing.',
    screenNotViewingPeer: 'The adviser is not viewing right now.',
    screenPeer: (what) => `The adviser shows you their ${what}`,
    screenWhat: { screen: 'screen', window: 'window', tab: 'browser tab', other: 'screen' },
    screenFit: 'Fit',
    screenActual: 'Actual size',
    screenStopView: 'Stop viewing',
    screenResumeView: 'View again',
    screenPaused: 'Paused',
    screenNotViewing: 'You stopped viewing.',
    accept: 'Allow',
    decline: 'Decline',
    end: 'End',
    endHint: 'Ends everything at once (Esc too).',
    ended: 'The consultation has ended.',
    endedBy: { self: 'You ended the consultation.', host: 'The adviser ended the consultation.', lost: 'The connection was lost.' },
    again: 'Enter a new code',
    failed: 'That did not work.',
    sha: 'SHA-256',
    errors: {
      'bad-code': 'Wrong code. The code is now used up – ask for a new one.',
      'unknown-code': 'There is no such code (mistyped, expired or already used).',
      crowded: 'Two participants already use this code.',
      expired: 'The code expired. Ask for a new one.',
      refused: 'The server refuses right now. Try again in a moment.',
      busy: 'The server is busy. Try again in a minute.',
      unreachable: 'Cannot reach the server.',
      tampered: 'The connection was tampered with – stopped.',
      binding: 'The connection was tampered with (channel binding) – stopped.',
      'peer-gone': 'The other side is gone.',
      'no-path': 'No connection possible (no path through the networks).',
      protocol: 'The other side sent something not allowed – stopped.',
      closed: 'Stopped.',
      webrtc: 'This browser cannot make direct connections (WebRTC).',
      other: 'Something unexpected went wrong.',
    },
    codeErrors: {
      empty: 'Please enter the code, e.g. 47-anchor-tulip.',
      'too-long': 'That is too long for a code.',
      character: 'The code holds a character that does not belong in it.',
      characterOf: (c) => `The character “${c}” does not belong in a code.`,
      number: 'A code has one number, at its start.',
      garbled: 'The link is garbled.',
      nameplate: 'A code starts with a number, e.g. 47-anchor-tulip.',
      nameplateFirst: (hint) => `The number comes first: ${hint}`,
      digits: 'The number is too long.',
      zero: 'The number does not start with 0.',
      count: (n) => `A code is a number and two words – this has ${n} word${n === 1 ? '' : 's'}.`,
      unknown: (w) => `“${w}” is not a code word.`,
      mixed: (w) => `“${w}” is from the other word list.`,
      suggest: (list) => ` Did you mean ${list}?`,
      or: ' or ',
    },
  },
};

/** pickLang chooses the UI language from navigator.languages: the first de* or en* entry wins. */
export function pickLang(languages) {
  for (const l of languages ?? []) {
    const p = String(l).toLowerCase();
    if (p.startsWith('de')) return 'de';
    if (p.startsWith('en')) return 'en';
  }
  return 'en';
}

/** codeErrorText turns a CodeError into one sentence. */
export function codeErrorText(t, e) {
  const c = t.codeErrors;
  const d = e.detail ?? {};
  switch (e.kind) {
    case 'empty':
      return c.empty;
    case 'too-long':
      return c['too-long'];
    case 'character':
      if (d.number) return c.number;
      if (d.garbled) return c.garbled;
      if (d.char) return c.characterOf(d.char);
      return c.character;
    case 'nameplate':
      if (d.reason === 'first') return c.nameplateFirst(d.hint);
      if (d.reason === 'digits') return c.digits;
      if (d.reason === 'zero') return c.zero;
      return c.nameplate;
    case 'word-count':
      return c.count(d.count);
    case 'unknown-word':
    case 'mixed-lists': {
      let s = e.kind === 'mixed-lists' ? c.mixed(d.word) : c.unknown(d.word);
      const sg = d.suggestions ?? [];
      if (sg.length) s += c.suggest(sg.length === 1 ? sg[0] : sg.slice(0, -1).join(', ') + c.or + sg[sg.length - 1]);
      return s;
    }
    default:
      return c.empty;
  }
}

/** formatSize writes a byte count for people. */
export function formatSize(n, lang) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const s = i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0);
  return `${lang === 'de' ? s.replace('.', ',') : s} ${units[i]}`;
}

/** formatLimit writes a size limit in MB with one decimal, rounded down (so that "at most" holds). */
export function formatLimit(n, lang) {
  const s = (Math.floor(n / 1e5) / 10).toFixed(1);
  return `${lang === 'de' ? s.replace('.', ',') : s} MB`;
}
