// What the adviser's console shows of the client's browser: its name,
// major version and operating system, not the whole user-agent string.
/**
 * browserName turns a user-agent string into what a person reads in the
 * adviser's console: "Firefox 128 (Windows)", "Chrome 156 (Android)".
 */
export function browserName(ua) {
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad|iPod/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /CrOS/.test(ua) ? 'ChromeOS' : /Linux/.test(ua) ? 'Linux' : '';
  const pick = [
    [/Edg\/(\d+)/, 'Edge'], [/OPR\/(\d+)/, 'Opera'], [/Firefox\/(\d+)/, 'Firefox'], [/FxiOS\/(\d+)/, 'Firefox'],
    [/CriOS\/(\d+)/, 'Chrome'], [/(?:HeadlessChrome|Chrome)\/(\d+)/, 'Chrome'], [/Version\/(\d+).*Safari/, 'Safari'],
  ];
  for (const [re, name] of pick) {
    const m = re.exec(ua);
    if (m) return os ? `${name} ${m[1]} (${os})` : `${name} ${m[1]}`;
  }
  return os ? `browser (${os})` : 'browser';
}
