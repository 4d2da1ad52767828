package record

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// Page geometry in millimetres (A4 portrait).
const (
	pageW, pageH = 210.0, 297.0
	marginX      = 20.0
	marginTop    = 20.0
	marginBottom = 24.0
	textW        = pageW - 2*marginX
	lineH        = 5.0
	labelW       = 52.0 // label column of key/value rows
	timeW        = 22.0 // time column of the chat and consent lists
	nameW        = 38.0 // name column of the chat
)

// PDF renders r as an A4 document in r.Lang: the text form (§ 126b BGB) of
// the record handed to the client. Its footer carries the page numbers, the
// host key's fingerprint and Digest(r), the SHA-256 of the payload Sign signs
// for r, so the PDF points to its signed twin.
//
// Text from participants is printed as text, never interpreted. Core fonts
// cover Windows-1252 (German umlauts, ß, €); other characters are printed
// as "?", control characters are dropped. The output is deterministic: the
// same record gives the same bytes.
func PDF(r Record) ([]byte, error) {
	r, p, err := prepare(r)
	if err != nil {
		return nil, err
	}
	return render(r, p)
}

// render renders the prepared record r whose payload is p.
func render(r Record, p []byte) ([]byte, error) {
	d := &doc{r: r, l: labelsFor(r.Lang), loc: location(r.TimeZone), digest: hexSum(p)}
	return d.render()
}

// CheckPDF reports whether doc is exactly the PDF that PDF renders for r,
// byte for byte. The signature covers the record's JSON, not its PDF; since
// rendering is deterministic, a PDF that CheckPDF accepts says nothing the
// signed record does not. A PDF that was changed — or rendered by another
// version of this package — is ErrPDFMismatch.
func CheckPDF(r Record, doc []byte) error {
	want, err := PDF(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(doc, want) {
		return ErrPDFMismatch
	}
	return nil
}

// doc is one PDF being rendered.
type doc struct {
	f      *fpdf.Fpdf
	r      Record
	l      *labels
	loc    *time.Location
	digest string
}

func (d *doc) render() ([]byte, error) {
	f := fpdf.New("P", "mm", "A4", "")
	d.f = f
	f.SetMargins(marginX, marginTop, marginX)
	f.SetAutoPageBreak(true, marginBottom)
	f.AliasNbPages("{nb}")
	f.SetCompression(true)
	f.SetCatalogSort(true) // deterministic output
	// Metadata is UTF-16 text: fpdf needs valid UTF-8 (line makes it so).
	f.SetTitle(d.l.title+" "+d.r.ID, true)
	f.SetAuthor(line(d.r.Host.Name), true)
	f.SetSubject(line(d.r.Host.Name)+" – "+line(d.r.Client.Name), true)
	if d.r.Software != "" {
		f.SetCreator(line(d.r.Software), true)
	}
	f.SetLang(d.l.pdfLang)
	f.SetCreationDate(d.r.End)
	f.SetModificationDate(d.r.End)
	f.SetHeaderFuncMode(d.header, false)
	f.SetFooterFunc(d.footer)
	f.AddPage()

	d.title()
	d.participants()
	d.times()
	d.cuts()
	d.consents()
	d.chat()
	d.files()
	d.screen()
	d.notes()

	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		return nil, fmt.Errorf("record: render PDF: %w", err)
	}
	return b.Bytes(), nil
}

func (d *doc) font(style string, size float64) { d.f.SetFont("Helvetica", style, size) }

func (d *doc) gray(on bool) {
	if on {
		d.f.SetTextColor(90, 90, 90)
	} else {
		d.f.SetTextColor(0, 0, 0)
	}
}

// header repeats the title on every page after the first.
func (d *doc) header() {
	f := d.f
	if f.PageNo() == 1 {
		return
	}
	d.font("", 8)
	d.gray(true)
	f.SetXY(marginX, 10)
	f.CellFormat(textW, 4, pdfLine(d.l.title+" · "+d.r.ID), "", 0, "R", false, 0, "")
	d.gray(false)
	f.SetDrawColor(180, 180, 180)
	f.Line(marginX, 15, pageW-marginX, 15)
	f.SetXY(marginX, marginTop)
}

// footer: the signed twin's digest, the host key, the page number.
func (d *doc) footer() {
	f := d.f
	y := pageH - marginBottom + 6
	f.SetDrawColor(180, 180, 180)
	f.Line(marginX, y-1.5, pageW-marginX, y-1.5)
	d.gray(true)
	d.font("", 7)
	f.SetXY(marginX, y)
	f.CellFormat(textW, 3.5, pdfLine(d.l.twin+" "+d.r.ID+".json · SHA-256:"), "", 2, "L", false, 0, "")
	f.SetFont("Courier", "", 7)
	f.CellFormat(textW, 3.5, d.digest, "", 2, "L", false, 0, "")
	d.font("", 7)
	f.CellFormat(textW/2, 3.5, pdfLine(d.l.hostKey+" "+d.r.Host.Fingerprint), "", 0, "L", false, 0, "")
	f.CellFormat(textW/2, 3.5, pdfLine(fmt.Sprintf(d.l.page, f.PageNo(), "{nb}")), "", 0, "R", false, 0, "")
	d.gray(false)
}

// need starts a new page unless h millimetres fit on this one.
func (d *doc) need(h float64) {
	if d.f.GetY()+h > pageH-marginBottom {
		d.f.AddPage()
	}
}

// section starts a titled section.
func (d *doc) section(title string) {
	f := d.f
	d.need(4 + 7 + 2*lineH)
	f.Ln(4)
	f.SetX(marginX)
	t := pdfLine(title)
	f.Bookmark(t, 0, -1)
	d.font("B", 12)
	f.CellFormat(textW, 7, t, "", 1, "L", false, 0, "")
	f.SetDrawColor(0, 0, 0)
	f.Line(marginX, f.GetY(), pageW-marginX, f.GetY())
	f.Ln(2)
	d.font("", 10)
}

// row prints a label and a value that may wrap.
func (d *doc) row(label, value string) {
	f := d.f
	d.need(lineH)
	f.SetX(marginX)
	d.font("B", 10)
	f.CellFormat(labelW, lineH, fit(f, pdfLine(label), labelW), "", 0, "L", false, 0, "")
	d.font("", 10)
	f.MultiCell(textW-labelW, lineH, pdfText(value), "", "L", false)
}

// mono prints a label and a hash in a fixed-width font.
func (d *doc) mono(label, value string) {
	f := d.f
	d.need(lineH)
	f.SetX(marginX)
	d.font("B", 10)
	f.CellFormat(labelW, lineH, fit(f, pdfLine(label), labelW), "", 0, "L", false, 0, "")
	f.SetFont("Courier", "", 8) // a SHA-256 in hex fits one line
	f.MultiCell(textW-labelW, lineH, pdfLine(value), "", "L", false)
	d.font("", 10)
}

func (d *doc) empty(text string) {
	d.gray(true)
	d.font("I", 10)
	d.f.SetX(marginX)
	d.f.MultiCell(textW, lineH, pdfLine(text), "", "L", false)
	d.font("", 10)
	d.gray(false)
}

func (d *doc) title() {
	f, l := d.f, d.l
	d.font("B", 18)
	f.CellFormat(textW, 10, pdfLine(l.title), "", 1, "L", false, 0, "")
	d.font("", 10)
	d.gray(true)
	f.MultiCell(textW, lineH, pdfLine(fmt.Sprintf(l.intro, d.r.ID+".json", d.r.ID+".json")), "", "L", false)
	d.gray(false)
	f.Ln(1)
	d.row(l.recordID, d.r.ID)
}

func (d *doc) participants() {
	l := d.l
	d.section(l.participants)
	for i, p := range []Party{d.r.Host, d.r.Client} {
		if i > 0 {
			d.f.Ln(2)
		}
		d.need(3 * lineH)
		role := l.adviser
		if p.Role == "client" {
			role = l.client
		}
		d.row(role, line(p.Name))
		if p.Fingerprint != "" {
			d.mono(l.fingerprint, p.Fingerprint)
		} else {
			d.row(l.fingerprint, l.noKey)
		}
		if p.Agent != "" {
			d.row(l.agent, line(p.Agent))
		}
	}
	d.f.Ln(2)
	d.row(l.phrase, line(d.r.Phrase))
	d.f.SetX(marginX + labelW)
	d.font("", 8)
	d.gray(true)
	d.f.MultiCell(textW-labelW, 4, pdfLine(l.phraseNote), "", "L", false)
	d.gray(false)
	d.font("", 10)
}

func (d *doc) times() {
	l, r := d.l, d.r
	d.section(l.timeAndPath)
	d.row(l.start, d.both(r.Start))
	d.row(l.end, d.both(r.End))
	if r.End.Before(r.Start) {
		d.row(l.duration, "–")
	} else {
		d.row(l.duration, l.dur(r.End.Sub(r.Start)))
	}
	kind := l.unknown
	switch r.Path.Kind {
	case "direct":
		kind = l.direct
	case "relay":
		kind = l.relay
	}
	d.row(l.path, kind)
	if r.Path.Proto != "" {
		d.row(l.proto, line(r.Path.Proto))
	}
	if r.Path.Local != "" || r.Path.Remote != "" {
		d.row(l.addrs, line(r.Path.Local)+"  –  "+line(r.Path.Remote))
	}
}

// cuts says, before everything else of the consultation, what was left out
// of this record because a size limit was reached.
func (d *doc) cuts() {
	if len(d.r.Cut) == 0 {
		return
	}
	l, f := d.l, d.f
	d.section(l.leftOut)
	for _, c := range d.r.Cut {
		var s string
		switch c.What {
		case "chat":
			s = fmt.Sprintf(l.cutChat, c.Count, l.of(c.From), l.size2(c.Bytes))
			if !c.Since.IsZero() {
				s += " " + fmt.Sprintf(l.cutSince, d.clock(c.Since))
			}
		case "notes":
			s = fmt.Sprintf(l.cutNotes, l.size2(c.Bytes))
		case "files":
			s = fmt.Sprintf(l.cutFiles, c.Count, l.of(c.From))
		case "consents":
			s = fmt.Sprintf(l.cutConsents, c.Count)
		}
		d.need(lineH)
		f.SetX(marginX)
		d.font("B", 10)
		f.MultiCell(textW, lineH, pdfText(s), "", "L", false)
	}
	d.font("", 10)
}

func (d *doc) consents() {
	l, f := d.l, d.f
	d.section(l.consents)
	if len(d.r.Consents) == 0 {
		d.empty(l.noConsents)
		return
	}
	for _, c := range d.r.Consents {
		d.need(lineH)
		f.SetX(marginX)
		d.font("", 10)
		f.CellFormat(timeW, lineH, d.clock(c.AskedAt), "", 0, "L", false, 0, "")
		what := l.what[c.What]
		if c.Detail != "" {
			what += ": " + line(c.Detail)
		}
		state := l.state[c.State]
		if !c.AnsweredAt.IsZero() {
			state += " " + d.clock(c.AnsweredAt)
		}
		f.MultiCell(textW-timeW, lineH, pdfText(what+" — "+state), "", "L", false)
	}
}

func (d *doc) chat() {
	l, f := d.l, d.f
	d.section(l.chat)
	if len(d.r.Chat) == 0 {
		d.empty(l.noChat)
		return
	}
	for _, c := range d.r.Chat {
		d.need(lineH)
		f.SetX(marginX)
		d.font("", 9)
		d.gray(true)
		f.CellFormat(timeW, lineH, d.clock(c.At), "", 0, "L", false, 0, "")
		d.gray(false)
		d.font("B", 10)
		name := line(c.Name)
		if name == "" {
			name = l.role(c.From)
		}
		f.CellFormat(nameW, lineH, fit(f, pdfLine(name), nameW-1), "", 0, "L", false, 0, "")
		d.font("", 10)
		f.MultiCell(textW-timeW-nameW, lineH, pdfText(c.Text), "", "L", false)
		f.Ln(0.8)
	}
}

func (d *doc) files() {
	l, f := d.l, d.f
	d.section(l.files)
	if len(d.r.Files) == 0 {
		d.empty(l.noFiles)
		return
	}
	for i, x := range d.r.Files {
		if i > 0 {
			f.Ln(2)
		}
		d.need(4 * lineH)
		d.row(l.fileName, line(x.Name))
		dir := l.hostToClient
		if x.From == "client" {
			dir = l.clientToHost
		}
		if x.Kind == "record" {
			dir += " (" + l.recordKind + ")"
		}
		d.row(l.direction, dir+", "+d.clock(x.At))
		d.row(l.size, l.size2(x.Size))
		if x.SHA256 != "" {
			d.mono("SHA-256", x.SHA256)
		} else {
			d.row("SHA-256", l.notSent)
		}
	}
}

// screen lists the events of screen sharing, only if there were any: a
// record without them renders as it did before screen sharing existed.
func (d *doc) screen() {
	if len(d.r.Screen) == 0 {
		return
	}
	l, f := d.l, d.f
	d.section(l.screen)
	for _, e := range d.r.Screen {
		d.need(lineH)
		f.SetX(marginX)
		d.font("", 10)
		f.CellFormat(timeW, lineH, d.clock(e.At), "", 0, "L", false, 0, "")
		f.MultiCell(textW-timeW, lineH, pdfText(l.screenLine(e)), "", "L", false)
	}
}

// screenLine says one screen event in words: who, what happened, what was
// shared and its size, and why a share stopped if not by its sharer.
func (l *labels) screenLine(e ScreenEvent) string {
	s := l.role(e.By) + ": " + l.screenEvent[e.Event]
	if w := l.screenWhat[e.What]; w != "" && !strings.HasPrefix(e.Event, "view-") {
		s += " (" + w
		if e.W > 0 && e.H > 0 {
			s += fmt.Sprintf(", %d × %d %s", e.W, e.H, l.pixels)
		}
		s += ")"
	}
	if e.Detail != "" {
		why := l.screenWhy[e.Detail]
		if why == "" {
			why = line(e.Detail)
		}
		s += " – " + why
	}
	return s
}

func (d *doc) notes() {
	l, f := d.l, d.f
	d.section(l.notes)
	if strings.TrimSpace(d.r.Notes) == "" {
		d.empty(l.noNotes)
		return
	}
	f.SetX(marginX)
	d.font("", 10)
	f.MultiCell(textW, lineH, pdfText(d.r.Notes), "", "L", false)
}

// both shows t in the host's zone and in UTC.
func (d *doc) both(t time.Time) string {
	local := t.In(d.loc)
	s := local.Format(d.l.dateTime) + " (" + zoneLabel(d.loc, local) + ")"
	if d.loc != time.UTC {
		s += "\n" + t.UTC().Format(d.l.dateTime) + " UTC"
	}
	return s
}

// clock shows t's local time of day, with the date if it is not the start's.
func (d *doc) clock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	local := t.In(d.loc)
	y1, m1, d1 := local.Date()
	y2, m2, d2 := d.r.Start.In(d.loc).Date()
	if y1 != y2 || m1 != m2 || d1 != d2 {
		return local.Format(d.l.shortDate + " 15:04:05")
	}
	return local.Format("15:04:05")
}

// zoneLabel names the zone and its offset at t: "Europe/Berlin, UTC+01:00".
func zoneLabel(loc *time.Location, t time.Time) string {
	_, off := t.Zone()
	o := offsetName(off)
	if name := loc.String(); name != o {
		return name + ", " + o
	}
	return o
}

// labels are the words of one language.
type labels struct {
	pdfLang, title, intro, recordID                          string
	participants, adviser, client, fingerprint, noKey, agent string
	phrase, phraseNote                                       string
	timeAndPath, start, end, duration, path, proto, addrs    string
	direct, relay, unknown                                   string
	consents, noConsents                                     string
	what, state                                              map[string]string
	chat, noChat                                             string
	files, noFiles, fileName, direction, size, notSent       string
	hostToClient, clientToHost, recordKind                   string
	notes, noNotes                                           string
	leftOut, cutChat, cutSince, cutNotes, cutFiles           string
	cutConsents, ofHost, ofClient                            string
	twin, hostKey, page                                      string
	dateTime, shortDate                                      string
	dur                                                      func(time.Duration) string
	size2                                                    func(int64) string
	roleHost, roleClient                                     string
	screen, pixels                                           string
	screenEvent, screenWhat, screenWhy                       map[string]string
}

// of names a side after "from" ("von der Beraterin / dem Berater").
func (l *labels) of(from string) string {
	if from == "client" {
		return l.ofClient
	}
	return l.ofHost
}

func (l *labels) role(from string) string {
	if from == "client" {
		return l.roleClient
	}
	return l.roleHost
}

var german = &labels{
	pdfLang:  "de-DE",
	title:    "Beratungsprotokoll",
	intro:    "Dokumentation der Beratung (§§ 61, 62 VVG) in Textform (§ 126b BGB). Die elektronisch signierte Fassung dieses Protokolls ist die Datei %s; „direkt verify %s“ prüft ihre Signatur. Ihr SHA-256 steht in der Fußzeile jeder Seite.",
	recordID: "Protokoll-Nr.",

	participants: "Teilnehmende",
	adviser:      "Berater/in",
	client:       "Kunde/Kundin",
	fingerprint:  "Schlüssel (Fingerabdruck)",
	noKey:        "kein Schlüssel (Browser)",
	agent:        "Programm",
	phrase:       "Prüfphrase",
	phraseNote:   "(auf beiden Bildschirmen angezeigt; gleich nur bei unverfälschter Verbindung)",

	timeAndPath: "Zeit und Verbindung",
	start:       "Beginn",
	end:         "Ende",
	duration:    "Dauer",
	path:        "Verbindung",
	proto:       "Protokoll",
	addrs:       "Adressen",
	direct:      "direkt (Ende-zu-Ende verschlüsselt)",
	relay:       "über Relay-Server (Ende-zu-Ende verschlüsselt)",
	unknown:     "unbekannt",

	consents:   "Einwilligungen",
	noConsents: "Keine Einwilligungen angefragt.",
	what: map[string]string{
		"record": "Aufzeichnung dieses Protokolls",
		"file":   "Datei senden",
		"screen": "Bildschirm zeigen",
	},
	state: map[string]string{
		"pending":   "unbeantwortet",
		"accepted":  "angenommen",
		"declined":  "abgelehnt",
		"withdrawn": "zurückgezogen",
	},

	chat:   "Gesprächsverlauf (Chat)",
	noChat: "Keine Chat-Nachrichten.",

	files:        "Dateien",
	noFiles:      "Keine Dateien ausgetauscht.",
	fileName:     "Datei",
	direction:    "Richtung, Zeit",
	size:         "Größe",
	notSent:      "nicht übertragen",
	hostToClient: "von Berater/in an Kunde/Kundin",
	clientToHost: "von Kunde/Kundin an Berater/in",
	recordKind:   "Protokoll",

	notes:   "Notizen der Beraterin / des Beraters",
	noNotes: "Keine Notizen.",

	leftOut:     "Nicht aufgezeichnet",
	cutChat:     "%d Nachrichten %s (%s) wurden nicht aufgezeichnet, weil die Größengrenze des Protokolls erreicht war.",
	cutSince:    "Die erste davon kam um %s.",
	cutNotes:    "Die Notizen wurden gekürzt, weil die Größengrenze des Protokolls erreicht war: %s fehlen am Ende.",
	cutFiles:    "%d Dateieinträge %s wurden nicht aufgezeichnet, weil die Größengrenze des Protokolls erreicht war.",
	cutConsents: "%d Einträge zu Einwilligungen wurden nicht aufgezeichnet, weil die Größengrenze des Protokolls erreicht war.",
	ofHost:      "der Beraterin / des Beraters",
	ofClient:    "der Kundin / des Kunden",

	twin:    "Signierte Fassung",
	hostKey: "Schlüssel Berater/in:",
	page:    "Seite %d von %s",

	dateTime:   "02.01.2006 15:04:05",
	shortDate:  "02.01.",
	roleHost:   "Berater/in",
	roleClient: "Kunde/Kundin",
	screen:     "Bildschirmfreigabe",
	pixels:     "Pixel",
	screenEvent: map[string]string{
		"start":    "Freigabe begonnen",
		"pause":    "Freigabe angehalten",
		"resume":   "Freigabe fortgesetzt",
		"stop":     "Freigabe beendet",
		"view-off": "Ansicht der Freigabe unterbrochen",
		"view-on":  "Ansicht der Freigabe fortgesetzt",
	},
	screenWhat: map[string]string{
		"screen": "Bildschirm",
		"window": "Fenster",
		"tab":    "Browser-Tab",
		"other":  "anderer Inhalt",
	},
	screenWhy: map[string]string{
		"consent ended":      "Einwilligung beendet",
		"consultation ended": "Beratung beendet",
	},
	dur: func(t time.Duration) string {
		return durationText(t, "Std.", "Min.", "Sek.")
	},
	size2: func(n int64) string { return sizeText(n, ',', '.', "Bytes") },
}

var english = &labels{
	pdfLang:  "en",
	title:    "Consultation record",
	intro:    "Record of the advice given (German §§ 61, 62 VVG) in text form (§ 126b BGB). The electronically signed version of this record is the file %s; \"direkt verify %s\" checks its signature. Its SHA-256 is printed in the footer of every page.",
	recordID: "Record no.",

	participants: "Participants",
	adviser:      "Adviser",
	client:       "Client",
	fingerprint:  "Key (fingerprint)",
	noKey:        "no key (browser)",
	agent:        "Software",
	phrase:       "Check phrase",
	phraseNote:   "(shown on both screens; equal only on an untampered connection)",

	timeAndPath: "Time and connection",
	start:       "Start",
	end:         "End",
	duration:    "Duration",
	path:        "Connection",
	proto:       "Protocol",
	addrs:       "Addresses",
	direct:      "direct (end-to-end encrypted)",
	relay:       "through a relay server (end-to-end encrypted)",
	unknown:     "unknown",

	consents:   "Consent",
	noConsents: "No consent was requested.",
	what: map[string]string{
		"record": "Keeping this record",
		"file":   "Sending a file",
		"screen": "Showing the screen",
	},
	state: map[string]string{
		"pending":   "not answered",
		"accepted":  "accepted",
		"declined":  "declined",
		"withdrawn": "withdrawn",
	},

	chat:   "Chat transcript",
	noChat: "No chat messages.",

	files:        "Files",
	noFiles:      "No files were exchanged.",
	fileName:     "File",
	direction:    "Direction, time",
	size:         "Size",
	notSent:      "not transferred",
	hostToClient: "from adviser to client",
	clientToHost: "from client to adviser",
	recordKind:   "record",

	notes:   "Adviser's notes",
	noNotes: "No notes.",

	leftOut:     "Not recorded",
	cutChat:     "%d messages %s (%s) were not recorded because the record's size limit was reached.",
	cutSince:    "The first of them came at %s.",
	cutNotes:    "The notes were shortened because the record's size limit was reached: %s are missing at their end.",
	cutFiles:    "%d file entries %s were not recorded because the record's size limit was reached.",
	cutConsents: "%d consent entries were not recorded because the record's size limit was reached.",
	ofHost:      "from the adviser",
	ofClient:    "from the client",

	twin:    "Signed version",
	hostKey: "Adviser's key:",
	page:    "Page %d of %s",

	dateTime:   "2006-01-02 15:04:05",
	shortDate:  "01-02",
	roleHost:   "Adviser",
	roleClient: "Client",
	screen:     "Screen sharing",
	pixels:     "pixels",
	screenEvent: map[string]string{
		"start":    "started sharing",
		"pause":    "paused sharing",
		"resume":   "resumed sharing",
		"stop":     "stopped sharing",
		"view-off": "stopped viewing the share",
		"view-on":  "went back to viewing the share",
	},
	screenWhat: map[string]string{
		"screen": "screen",
		"window": "window",
		"tab":    "browser tab",
		"other":  "other content",
	},
	screenWhy: map[string]string{
		"consent ended":      "the consent ended",
		"consultation ended": "the consultation ended",
	},
	dur: func(t time.Duration) string {
		return durationText(t, "h", "min", "s")
	},
	size2: func(n int64) string { return sizeText(n, '.', ',', "bytes") },
}

func labelsFor(lang string) *labels {
	if lang == "en" {
		return english
	}
	return german
}

// durationText writes d rounded to seconds as "1 h 5 min 12 s".
func durationText(d time.Duration, h, m, s string) string {
	d = d.Round(time.Second)
	hh, mm, ss := int64(d/time.Hour), int64(d/time.Minute%60), int64(d/time.Second%60)
	switch {
	case hh > 0:
		return fmt.Sprintf("%d %s %d %s %d %s", hh, h, mm, m, ss, s)
	case mm > 0:
		return fmt.Sprintf("%d %s %d %s", mm, m, ss, s)
	}
	return fmt.Sprintf("%d %s", ss, s)
}

// sizeText writes n as "1,2 MB (1.234.567 Bytes)" with the given decimal
// and grouping marks.
func sizeText(n int64, dec, group byte, unit string) string {
	exact := groupDigits(strconv.FormatInt(n, 10), group) + " " + unit
	if n < 1000 {
		return exact
	}
	v, units := float64(n), []string{"kB", "MB", "GB", "TB"}
	i := -1
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	short := strings.Replace(strconv.FormatFloat(v, 'f', 1, 64), ".", string(dec), 1)
	return short + " " + units[i] + " (" + exact + ")"
}

func groupDigits(s string, sep byte) string {
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, sep)
		}
		b = append(b, s[i])
	}
	return string(b)
}

// fit shortens an encoded single-line string with "…" until it fits w mm
// in the current font.
func fit(f *fpdf.Fpdf, s string, w float64) string {
	if f.GetStringWidth(s) <= w {
		return s
	}
	for len(s) > 0 && f.GetStringWidth(s+"\x85") > w {
		s = s[:len(s)-1]
	}
	return s + "\x85" // "…" in Windows-1252
}
