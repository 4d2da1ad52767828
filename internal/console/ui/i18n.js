// The console's texts in English and German. t(key, ...args) fills {0}, {1}.

const texts = {
  en: {
    'tab.consult': 'Consultation',
    'tab.records': 'Records',
    'tab.known': 'Known peers',
    'role.host': 'Adviser',
    'role.client': 'Client',
    'phase.loading': 'Loading…',
    'phase.idle': 'Ready',
    'phase.waiting': 'Waiting for the client',
    'phase.pairing': 'Connecting…',
    'phase.connected': 'Connected',
    'phase.ended': 'Ended',
    'phase.failed': 'Failed',
    'offline': 'The console lost its connection to direkt. Is direkt still running?',
    'consent.title': 'The adviser asks for your consent',
    'waiting.tell': 'Read this code to your client:',
    'waiting.link': 'or send this link:',
    'waiting.copy': 'Copy',
    'waiting.copied': 'Copied',
    'idle.host': 'No consultation is running. Start one with “New consultation”.',
    'idle.client': 'Not connected. Join with a code (direkt join CODE) or reconnect to a known adviser under “Known peers”.',
    'ended.title': 'The consultation has ended',
    'ended.record': 'Record:',
    'ended.new': 'New consultation',
    'ended.norecord': 'No record was kept.',
    'people.title': 'Participants',
    'people.phrase': 'Check phrase',
    'people.compare': 'Compare it by voice: if the other side reads a different phrase, end the consultation.',
    'people.self': 'You',
    'people.peer': 'Other side',
    'people.path': 'Connection',
    'people.since': 'Since',
    'path.direct': 'direct',
    'path.relay': 'through the relay',
    'chat.title': 'Chat',
    'chat.placeholder': 'Write a message…',
    'chat.send': 'Send',
    'asks.title': 'Consent',
    'asks.record': 'Ask to record',
    'asks.screen': 'Ask to share screen',
    'asks.recording': 'Record:',
    'asks.accept': 'Accept',
    'asks.decline': 'Decline',
    'what.record': 'Keep a record of this consultation',
    'what.screen': 'Show you the adviser’s screen (view only)',
    'what.file': 'Send you the file {0} ({1})',
    'whathost.record': 'Keep a record of this consultation',
    'whathost.screen': 'Show my screen (view only)',
    'whathost.file': 'Send the file {0} ({1})',
    'askstate.pending': 'waiting for an answer',
    'askstate.accepted': 'accepted',
    'askstate.declined': 'declined',
    'askstate.withdrawn': 'withdrawn',
    'share.mine': 'Your messages',
    'share.host': 'The adviser’s messages',
    'share.client': 'The client’s messages',
    'share.full': '{0} fill {1} % of the {2} MB they may take in the record. Beyond that they are neither shown nor recorded.',
    'share.fullmine': '{0} fill {1} % of the {2} MB they may take in the record. Beyond that you cannot send more.',
    'share.cut': '{0} have filled the {2} MB they may take in the record: {3} further messages ({4} MB) were neither shown nor recorded. The record says so.',
    'rec.off': 'off',
    'rec.asked': 'asked',
    'rec.accepted': 'accepted',
    'rec.declined': 'declined',
    'files.title': 'Files',
    'files.send': 'Send file',
    'files.pick': 'Choose a file first.',
    'files.uploading': 'Uploading {0}: {1}',
    'files.uploaded': '{0} handed over.',
    'files.from.host': 'from the adviser',
    'files.from.client': 'from the client',
    'files.download': 'Download',
    'filestate.asked': 'waiting for consent',
    'filestate.declined': 'declined',
    'filestate.sending': 'sending {0}',
    'filestate.done': 'done',
    'filestate.failed': 'failed',
    'filestate.resent': 'sent again over a new connection ({0}×)',
    'files.record': 'record',
    'notes.title': 'Notes for the record',
    'notes.placeholder': 'What was discussed, advised and decided…',
    'notes.saving': 'saving…',
    'notes.saved': 'saved',
    'end.button': 'End consultation',
    'end.hint': 'or press Esc',
    'records.title': 'Consultation records',
    'records.search': 'Search records…',
    'records.empty': 'No records.',
    'known.calling': 'Asking to reconnect',
    'known.title.host': 'Known clients',
    'known.title.client': 'Known advisers',
    'known.empty': 'Nobody yet.',
    'known.allow': 'Allow',
    'known.deny': 'Deny',
    'known.revoke': 'Forget',
    'known.rejoin': 'Reconnect',
    'known.allowed': 'allowed',
    'known.notyet': 'not confirmed yet',
    'known.lastseen': 'last seen {0}',
  },
  de: {
    'tab.consult': 'Beratung',
    'tab.records': 'Protokolle',
    'tab.known': 'Bekannte',
    'role.host': 'Berater',
    'role.client': 'Kunde',
    'phase.loading': 'Lädt…',
    'phase.idle': 'Bereit',
    'phase.waiting': 'Warte auf den Kunden',
    'phase.pairing': 'Verbinde…',
    'phase.connected': 'Verbunden',
    'phase.ended': 'Beendet',
    'phase.failed': 'Fehlgeschlagen',
    'offline': 'Die Konsole hat die Verbindung zu direkt verloren. Läuft direkt noch?',
    'consent.title': 'Der Berater bittet um Ihre Zustimmung',
    'waiting.tell': 'Lesen Sie Ihrem Kunden diesen Code vor:',
    'waiting.link': 'oder senden Sie diesen Link:',
    'waiting.copy': 'Kopieren',
    'waiting.copied': 'Kopiert',
    'idle.host': 'Keine Beratung läuft. Starten Sie eine mit „Neue Beratung“.',
    'idle.client': 'Nicht verbunden. Treten Sie mit einem Code bei (direkt join CODE) oder verbinden Sie sich unter „Bekannte“ erneut mit einem Berater.',
    'ended.title': 'Die Beratung ist beendet',
    'ended.record': 'Protokoll:',
    'ended.new': 'Neue Beratung',
    'ended.norecord': 'Es wurde kein Protokoll geführt.',
    'people.title': 'Teilnehmer',
    'people.phrase': 'Prüfsatz',
    'people.compare': 'Vergleichen Sie ihn mündlich: Liest die Gegenseite einen anderen Satz vor, beenden Sie die Beratung.',
    'people.self': 'Sie',
    'people.peer': 'Gegenseite',
    'people.path': 'Verbindung',
    'people.since': 'Seit',
    'path.direct': 'direkt',
    'path.relay': 'über das Relais',
    'chat.title': 'Chat',
    'chat.placeholder': 'Nachricht schreiben…',
    'chat.send': 'Senden',
    'asks.title': 'Zustimmung',
    'asks.record': 'Protokoll erbitten',
    'asks.screen': 'Bildschirmfreigabe erbitten',
    'asks.recording': 'Protokoll:',
    'asks.accept': 'Zustimmen',
    'asks.decline': 'Ablehnen',
    'what.record': 'Ein Protokoll dieser Beratung führen',
    'what.screen': 'Ihnen den Bildschirm des Beraters zeigen (nur ansehen)',
    'what.file': 'Ihnen die Datei {0} senden ({1})',
    'whathost.record': 'Ein Protokoll dieser Beratung führen',
    'whathost.screen': 'Meinen Bildschirm zeigen (nur ansehen)',
    'whathost.file': 'Die Datei {0} senden ({1})',
    'askstate.pending': 'wartet auf Antwort',
    'askstate.accepted': 'zugestimmt',
    'askstate.declined': 'abgelehnt',
    'askstate.withdrawn': 'zurückgezogen',
    'share.mine': 'Ihre Nachrichten',
    'share.host': 'Die Nachrichten der Beraterin / des Beraters',
    'share.client': 'Die Nachrichten der Kundin / des Kunden',
    'share.full': '{0} füllen {1} % der {2} MB, die sie im Protokoll einnehmen dürfen. Darüber hinaus werden sie weder angezeigt noch aufgezeichnet.',
    'share.fullmine': '{0} füllen {1} % der {2} MB, die sie im Protokoll einnehmen dürfen. Darüber hinaus können Sie keine weiteren senden.',
    'share.cut': '{0} haben die {2} MB gefüllt, die sie im Protokoll einnehmen dürfen: {3} weitere Nachrichten ({4} MB) wurden weder angezeigt noch aufgezeichnet. Das Protokoll vermerkt das.',
    'rec.off': 'aus',
    'rec.asked': 'erbeten',
    'rec.accepted': 'zugestimmt',
    'rec.declined': 'abgelehnt',
    'files.title': 'Dateien',
    'files.send': 'Datei senden',
    'files.pick': 'Wählen Sie zuerst eine Datei.',
    'files.uploading': 'Lade {0} hoch: {1}',
    'files.uploaded': '{0} übergeben.',
    'files.from.host': 'vom Berater',
    'files.from.client': 'vom Kunden',
    'files.download': 'Herunterladen',
    'filestate.asked': 'wartet auf Zustimmung',
    'filestate.declined': 'abgelehnt',
    'filestate.sending': 'wird gesendet {0}',
    'filestate.done': 'fertig',
    'filestate.failed': 'fehlgeschlagen',
    'filestate.resent': 'nach neuer Verbindung erneut gesendet ({0}×)',
    'files.record': 'Protokoll',
    'notes.title': 'Notizen für das Protokoll',
    'notes.placeholder': 'Was besprochen, geraten und entschieden wurde…',
    'notes.saving': 'speichere…',
    'notes.saved': 'gespeichert',
    'end.button': 'Beratung beenden',
    'end.hint': 'oder Esc drücken',
    'records.title': 'Beratungsprotokolle',
    'records.search': 'Protokolle durchsuchen…',
    'records.empty': 'Keine Protokolle.',
    'known.calling': 'Möchte sich erneut verbinden',
    'known.title.host': 'Bekannte Kunden',
    'known.title.client': 'Bekannte Berater',
    'known.empty': 'Noch niemand.',
    'known.allow': 'Erlauben',
    'known.deny': 'Ablehnen',
    'known.revoke': 'Vergessen',
    'known.rejoin': 'Neu verbinden',
    'known.allowed': 'erlaubt',
    'known.notyet': 'noch nicht bestätigt',
    'known.lastseen': 'zuletzt {0}',
  },
};

let lang = 'en';

export function setLang(l) {
  lang = texts[l] ? l : 'en';
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

export function getLang() {
  return lang;
}

export function t(key, ...args) {
  const s = texts[lang][key] ?? texts.en[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

// size formats a byte count.
export function size(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + '\u00a0' + units[i];
}

// when formats an RFC 3339 time in local time.
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(lang === 'de' ? 'de-DE' : 'en-GB');
}
