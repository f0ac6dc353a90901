package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // report and file times are Dutch times, also on a server without zoneinfo

	"knooppunt/exchange/tijdzone"
	"knooppunt/storage"
)

// ListOptions page the uploads in aanleveren/.
type ListOptions struct {
	Limit, Offset int
	Status        UploadStatus // "" for all
}

// ReportFile is one verwerkingsverslag in verslagen/.
type ReportFile struct {
	Name     string
	Size     int64
	ModTime  time.Time
	UploadID uint64
}

// amsterdam is the time zone of every time a person reads: file names, reports.
var amsterdam = tijdzone.Amsterdam()

// Uploads lists the organisation's uploads of product, newest first, with the total that
// matches. Uploads hidden with HideUploads are left out.
func (h *Hub) Uploads(ctx context.Context, p *Principal, product Product, opts ListOptions) ([]Upload, int, error) {
	var out []Upload
	total := 0
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionReadVerslag, product); err != nil {
			return err
		}
		return scanUploads(ctx, t, key(kUploads, p.Org.Code, product, ""), true, func(u Upload) (bool, error) {
			if u.Deleted || (opts.Status != "" && u.Status != opts.Status) {
				return true, nil
			}
			if in, _ := page(total, opts.Offset, opts.Limit); in {
				out = append(out, u)
			}
			total++
			return true, nil
		})
	})
	if fp == nil {
		return nil, 0, err // refused
	}
	if err != nil {
		return nil, 0, fmt.Errorf("aanleveringen van %s lezen: %w", product, err)
	}
	return out, total, nil
}

// Upload returns one upload of the caller's organisation (any organisation for a beheerder).
func (h *Hub) Upload(p *Principal, id uint64) (Upload, error) {
	var u Upload
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = fresh(t, p); err != nil {
			return err
		}
		return getJSON(t, key(kUpload, id), &u)
	})
	if fp == nil {
		return Upload{}, err // refused
	}
	if errors.Is(err, storage.ErrNotFound) {
		return Upload{}, fmt.Errorf("%w: aanlevering %d bestaat niet", ErrNotFound, id)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering %d lezen: %w", id, err)
	}
	if !seesUpload(fp, u) {
		// Same answer as a missing upload: another organisation's ids are no one's business.
		return Upload{}, fmt.Errorf("%w: aanlevering %d bestaat niet", ErrNotFound, id)
	}
	return u, nil
}

// seesUpload tells whether fp (as stored now) may see upload u: a beheerder every one; anyone
// else those of its own organisation in a product it may read verslagen of, and its own
// uploads refused at the door in a product it lacks (the refusal was exactly that).
func seesUpload(fp *Principal, u Upload) bool {
	if isBeheerder(fp) {
		return true
	}
	return u.Org == fp.Account.Org && (decide(fp, ActionReadVerslag, u.Product) == nil || u.AtDoor && u.Account == fp.Account.Name)
}

// HideUploads takes uploads off the Aanleveren list ("Verwijder geselecteerd"). Their
// messages and reports stay.
func (h *Hub) HideUploads(p *Principal, ids []uint64) error {
	for _, id := range ids {
		u, err := h.Upload(p, id)
		if err != nil {
			return err
		}
		if !u.Status.Final() {
			return fmt.Errorf("%w: aanlevering %s wordt nog verwerkt; verwijder haar als ze klaar is", ErrInvalid, u.Name)
		}
		err = h.kv.Update(func(t storage.Txn) error {
			fp, err := fresh(t, p)
			if err != nil {
				return err
			}
			var cur Upload
			if err := getJSON(t, key(kUpload, id), &cur); err != nil {
				return err
			}
			if !seesUpload(fp, cur) {
				return fmt.Errorf("%w: aanlevering %d bestaat niet", ErrNotFound, id)
			}
			cur.Deleted = true
			return setJSON(t, key(kUpload, id), cur)
		})
		if err != nil {
			return fmt.Errorf("aanlevering %s verwijderen: %w", u.Name, err)
		}
		h.Audit(p, "verwijder-aanlevering", fmt.Sprintf("%s/aanleveren/%s", u.Product, u.Name), "ok")
		h.publish(Event{Org: u.Org, Product: u.Product, Kind: "upload", UploadID: id})
	}
	return nil
}

// reportBase names an upload's reports: its time of receipt and its original name.
func reportBase(u Upload) string {
	return u.ReceivedAt.In(amsterdam).Format("20060102_150405") + "_" + u.Name
}

// Reports lists the verwerkingsverslagen in verslagen/: a .txt and a .json per final upload,
// newest first. Two uploads with the same name in the same second get the upload id in the
// name of the later one.
func (h *Hub) Reports(ctx context.Context, p *Principal, product Product) ([]ReportFile, error) {
	return h.reports(ctx, p, product, true)
}

// reportSizes remembers the rendered sizes of final uploads' reports, so listing verslagen/
// renders each report once, not on every listing. The key holds the organisation's name,
// which the report shows; a final upload's record does not change otherwise.
type reportSizes struct {
	mu sync.Mutex
	m  map[reportKey][2]int64
}

type reportKey struct {
	id      uint64
	org     string
	waiting int // the report says what still waits for a route; a release changes it
}

const reportSizesMax = 50_000

// reports lists verslagen/; without sizes (for OpenReport) it renders nothing.
func (h *Hub) reports(ctx context.Context, p *Principal, product Product, sizes bool) ([]ReportFile, error) {
	var ups []Upload
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionReadVerslag, product); err != nil {
			return err
		}
		return scanUploads(ctx, t, key(kUploads, p.Org.Code, product, ""), true, func(u Upload) (bool, error) {
			if u.Status.Final() {
				ups = append(ups, u)
			}
			return true, nil
		})
	})
	if fp == nil {
		return nil, err // refused
	}
	if err != nil {
		return nil, fmt.Errorf("verslagen van %s lezen: %w", product, err)
	}
	seen := map[string]bool{}
	// Oldest first decides who keeps the plain name, so names never change later.
	names := make([]string, len(ups))
	for i := len(ups) - 1; i >= 0; i-- {
		base := reportBase(ups[i])
		if seen[base] {
			// The upload's id before its extension: x_7.zip, not x.zip_7.
			ext := ""
			if j := lastDot(base); j > len(base)-len(ups[i].Name) {
				base, ext = base[:j], base[j:]
			}
			base = fmt.Sprintf("%s_%d%s", base, ups[i].ID, ext)
		}
		seen[base] = true
		names[i] = base
	}
	var out []ReportFile
	for i, u := range ups {
		var sz [2]int64
		if sizes {
			var err error
			if sz, err = h.reportSize(u); err != nil {
				return nil, err
			}
		}
		out = append(out,
			ReportFile{Name: names[i] + ".txt", Size: sz[0], ModTime: u.FinishedAt, UploadID: u.ID},
			ReportFile{Name: names[i] + ".json", Size: sz[1], ModTime: u.FinishedAt, UploadID: u.ID})
	}
	return out, nil
}

// orgName is what a report shows as verzender: the organisation's name, else its code.
func (h *Hub) orgName(code string) string {
	if o, err := h.Org(code); err == nil && o.Name != "" {
		return o.Name
	}
	return code
}

// reportSize is the size of an upload's .txt and .json report, rendered once.
func (h *Hub) reportSize(u Upload) ([2]int64, error) {
	k := reportKey{u.ID, h.orgName(u.Org), u.Waiting()}
	c := &h.reportSizes
	c.mu.Lock()
	sz, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return sz, nil
	}
	txt, js, err := h.renderReport(u)
	if err != nil {
		return sz, err
	}
	sz = [2]int64{int64(len(txt)), int64(len(js))}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= reportSizesMax {
		c.m = map[reportKey][2]int64{}
	}
	c.m[k] = sz
	c.mu.Unlock()
	return sz, nil
}

// OpenReport returns one verwerkingsverslag by its name in verslagen/.
func (h *Hub) OpenReport(ctx context.Context, p *Principal, product Product, name string) (ReportFile, []byte, error) {
	files, err := h.reports(ctx, p, product, false)
	if err != nil {
		return ReportFile{}, nil, err
	}
	for _, f := range files {
		if f.Name != name {
			continue
		}
		var u Upload
		if err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kUpload, f.UploadID), &u) }); err != nil {
			return ReportFile{}, nil, fmt.Errorf("verslag %s lezen: %w", name, err)
		}
		txt, js, err := h.renderReport(u)
		if err != nil {
			return ReportFile{}, nil, err
		}
		if strings.HasSuffix(name, ".json") {
			f.Size = int64(len(js))
			return f, js, nil
		}
		f.Size = int64(len(txt))
		return f, txt, nil
	}
	return ReportFile{}, nil, fmt.Errorf("%w: verslag %s bestaat niet; vernieuw de lijst", ErrNotFound, name)
}

// Verslag is the verwerkingsverslag as data: the .json file in verslagen/ and the answer of
// `verslag --json` are this one type, so their keys cannot drift apart. Times are RFC 3339 in
// Dutch time, as everywhere in the hub's JSON; a time not yet known is "".
type Verslag struct {
	ID              uint64 `json:"id"`
	Product         string `json:"product"`
	Bestandsnaam    string `json:"bestandsnaam"`
	Verzender       string `json:"verzender"`
	IngeleverdOp    string `json:"ingeleverd_op"`
	EindeVerwerking string `json:"einde_verwerking"`
	Verwerkingsduur string `json:"verwerkingsduur"`
	Status          string `json:"status"`
	VerwachtOp      string `json:"verwacht_op,omitempty"` // while Bezig
	Aangeleverd     int    `json:"aangeleverd"`
	Correct         int    `json:"correct"`
	Incorrect       int    `json:"incorrect"`
	Fouten          []Fout `json:"fouten"`
	// Wachtend: per recipient, the messages that wait for its route (Digikoppeling).
	Wachtend []Wachtend `json:"wachtend,omitempty"`
}

// RFC3339 is a time as the hub's JSON carries it: RFC 3339 in Dutch time, "" when unset.
func RFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(amsterdam).Format(time.RFC3339)
}

// Report returns the verwerkingsverslag of one upload of the caller's organisation, as data
// and as the text of verslagen/. An upload still in progress has its status, no end and no
// fouten yet. An upload refused at the door is readable by the account that tried it, also in
// a product it has no access to.
func (h *Hub) Report(p *Principal, id uint64) (Verslag, []byte, error) {
	u, err := h.Upload(p, id)
	if err != nil {
		return Verslag{}, nil, err
	}
	if !u.Status.Final() {
		v := Verslag{ID: u.ID, Product: string(u.Product), Bestandsnaam: u.Name, Verzender: h.orgName(u.Org),
			IngeleverdOp: RFC3339(u.ReceivedAt), Status: string(u.Status), VerwachtOp: RFC3339(u.ExpectedAt),
			Aangeleverd: u.Counts.Aangeleverd, Correct: u.Counts.Correct, Incorrect: u.Counts.Incorrect, Fouten: []Fout{}}
		return v, nil, nil
	}
	txt, _, v, err := h.renderReportData(u)
	return v, txt, err
}

// Duur is a duration as the verwerkingsverslag shows it, uu:mm:ss, in every door.
func Duur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// renderReport builds both forms of an upload's verwerkingsverslag from its record and its
// stored fouten.
func (h *Hub) renderReport(u Upload) (txt, js []byte, err error) {
	txt, js, _, err = h.renderReportData(u)
	return txt, js, err
}

func (h *Hub) renderReportData(u Upload) (txt, js []byte, r Verslag, err error) {
	fouten, err := h.fouten(u)
	if err != nil {
		return nil, nil, r, err
	}
	r = Verslag{
		ID:              u.ID,
		Product:         string(u.Product),
		Bestandsnaam:    u.Name,
		Verzender:       h.orgName(u.Org),
		IngeleverdOp:    RFC3339(u.ReceivedAt),
		EindeVerwerking: RFC3339(u.FinishedAt),
		Verwerkingsduur: Duur(u.Verwerkingsduur()),
		Status:          string(u.Status),
		Aangeleverd:     u.Counts.Aangeleverd,
		Correct:         u.Counts.Correct,
		Incorrect:       u.Counts.Incorrect,
		Fouten:          fouten,
		Wachtend:        u.Wachtend,
	}
	if r.Fouten == nil {
		r.Fouten = []Fout{}
	}
	js, err = json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, nil, r, err
	}
	js = append(js, '\n')
	var safe bytes.Buffer
	if _, err := (JSONWriter{W: &safe}).Write(js); err != nil {
		return nil, nil, r, err
	}
	js = safe.Bytes()
	human := func(t time.Time) string { return t.In(amsterdam).Format("02-01-2006 15:04:05") }

	// Every write below goes to a bytes.Buffer (through a tabwriter), which cannot fail: their
	// errors are not checked.
	var b bytes.Buffer
	fmt.Fprintf(&b, "Verwerkingsverslag %s\n\n", u.Product)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Bestandsnaam\tVerzender\tIngeleverd op\tEinde verwerking\tVerwerkingsduur (uu:mm:ss)")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", oneLine(r.Bestandsnaam), oneLine(r.Verzender), human(u.ReceivedAt), human(u.FinishedAt), r.Verwerkingsduur)
	tw.Flush()
	if n := u.Waiting(); n > 0 {
		fmt.Fprintf(&b, "\nStatus: %s, maar %d van de %d berichten wachten op de route van de ontvanger\n", r.Status, n, u.Counts.Correct)
		for _, w := range u.Wachtend {
			fmt.Fprintf(&b, "  %s\n", h.WachtendText(w))
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "\nStatus: %s\n\n", r.Status)
	}
	if u.AtDoor {
		b.WriteString("Het bestand is bij het aanleveren geweigerd en niet verwerkt; de fout hieronder zegt waarom en wat u kunt doen.\n\n")
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Aantal bestanden aangeleverd\tCorrect\tIncorrect")
	fmt.Fprintf(tw, "%d\t%d\t%d\n", r.Aangeleverd, r.Correct, r.Incorrect)
	tw.Flush()
	if len(fouten) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Bestand\tFoutomschrijving\tFout detail")
		for _, f := range fouten {
			fmt.Fprintf(tw, "%s\t%s: %s\t%s\n", oneLine(f.Bestand), f.Code, oneLine(f.Omschrijving), oneLine(f.Detail))
		}
		tw.Flush()
	}
	return b.Bytes(), js, r, nil
}

// WachtendText says in one line what waits for whom, for the report and the portal.
func (h *Hub) WachtendText(w Wachtend) string {
	return fmt.Sprintf("%d bericht(en) voor %s (%s), %s: wachten tot de ontvanger deze uitwisseling op Portaal zet (nu Digikoppeling)",
		w.Berichten, h.orgName(w.Organisatie), w.Organisatie, w.Uitwisseling)
}

// oneLine keeps a report row on one line whatever a file name holds, and printable.
func oneLine(s string) string {
	return Printable(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s))
}

// fouten reads every rejected file of an upload, in entry order.
func (h *Hub) fouten(u Upload) ([]Fout, error) {
	var out []Fout
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan(key(kFout, u.ID, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var f Fout
			if err := json.Unmarshal(v, &f); err != nil {
				return false, err
			}
			out = append(out, f)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("fouten van aanlevering %d lezen: %w", u.ID, err)
	}
	return out, nil
}

// scanUploads calls fn with each upload an index under prefix names (an upload index key ends
// in the upload's id; the queue's keys are just that), skipping ids whose record is gone.
func scanUploads(ctx context.Context, t storage.Txn, prefix []byte, reverse bool, fn func(Upload) (bool, error)) error {
	return scanCtx(ctx, t, prefix, storage.ScanOptions{Reverse: reverse, KeysOnly: true}, func(k, _ []byte) (bool, error) {
		id, err := idFromKey(k)
		if err != nil {
			return false, err
		}
		var u Upload
		if err := getJSON(t, key(kUpload, id), &u); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return true, nil
			}
			return false, err
		}
		return fn(u)
	})
}
