package exchange

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"knooppunt/exchange/codes"
)

func aanlUploads(t testing.TB, h *Hub, p *Principal, product Product) []Upload {
	t.Helper()
	us, _, err := h.Uploads(context.Background(), p, product, ListOptions{})
	acctMust(t, err)
	return us
}

// aanlWrite writes data in 32 KB chunks from several goroutines in random order, as
// pkg/sftp does.
func aanlWrite(t testing.TB, s *Spool, data []byte) {
	t.Helper()
	const chunk = 32 << 10
	var offs []int
	for off := 0; off < len(data); off += chunk {
		offs = append(offs, off)
	}
	rand.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(offs))
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(offs); i += 4 {
				end := min(offs[i]+chunk, len(data))
				if _, err := s.WriteAt(data[offs[i]:end], int64(offs[i])); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func aanlBlob(t testing.TB, h *Hub, blob string) []byte {
	t.Helper()
	r, err := h.files.Open(blob)
	acctMust(t, err)
	defer r.Close()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	acctMust(t, err)
	return b
}

func aanlData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

func TestUploadOutOfOrderIsAcceptedOnCleanClose(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	data := aanlData(1<<20 + 123)
	s, err := h.StartUpload(context.Background(), jan, IWmo, "bericht.ZIP", false)
	acctMust(t, err)
	aanlWrite(t, s, data)
	if got := aanlUploads(t, h, jan, IWmo); len(got) != 0 {
		t.Fatalf("upload recorded before close: %+v", got)
	}
	acctMust(t, s.Close())
	us := aanlUploads(t, h, jan, IWmo)
	if len(us) != 1 || us[0].Name != "bericht.ZIP" || us[0].Status != Ontvangen || us[0].Size != int64(len(data)) || us[0].Account != "jan" {
		t.Fatalf("uploads = %+v", us)
	}
	if !bytes.Equal(aanlBlob(t, h, us[0].Blob), data) {
		t.Fatal("stored bytes differ from the uploaded ones")
	}
	if _, ok := h.RecentUpload(jan, IWmo, "bericht.ZIP"); !ok {
		t.Fatal("RecentUpload does not find the upload just made")
	}
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("pending after accept: %+v", p)
	}
}

func TestUploadNamesRefusedAtOpen(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	for _, name := range []string{"notities.txt", "bericht", "a/b.xml", "", "..", "x\n.xml"} {
		if _, err := h.StartUpload(context.Background(), jan, IWmo, name, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("StartUpload(%q) = %v, want ErrInvalid", name, err)
		}
	}
	_, err := h.StartUpload(context.Background(), jan, IWmo, "notities.txt", false)
	acctWant(t, err, ErrInvalid, ".xml", ".zip")
	for _, name := range []string{"a.xml", "A.XmL", "b.zip", "b.zip.filepart", "c.part", ".hidden", "d.zip.a1b2c3.partial"} {
		s, err := h.StartUpload(context.Background(), jan, IWmo, name, false)
		if err != nil {
			t.Errorf("StartUpload(%q) = %v", name, err)
			continue
		}
		s.Fail(errors.New("test"))
		s.Close()
	}
}

func TestUploadDeniedForProductNotHeld(t *testing.T) {
	h := acctWorld(t)
	piet := acctAs(t, h, "piet") // ijw only
	_, err := h.StartUpload(context.Background(), piet, IWmo, "x.xml", false)
	acctWant(t, err, ErrDenied)
	// Access revoked after login: the stale principal may no longer upload.
	jan := acctAs(t, h, "jan")
	acctMust(t, h.Revoke(System, "jan", IWmo))
	_, err = h.StartUpload(context.Background(), jan, IWmo, "x.xml", false)
	acctWant(t, err, ErrDenied)
}

func TestTooLargeXMLRefusedDuringWrite(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, "groot.xml", false)
	acctMust(t, err)
	if _, err := s.WriteAt([]byte("begin"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = s.WriteAt(make([]byte, 1024), MaxXMLUpload-10)
	acctWant(t, err, ErrTooLarge, "25 MB")
	// Later writes, even small ones, fail the same way.
	_, err = s.WriteAt([]byte("x"), 10)
	acctWant(t, err, ErrTooLarge)
	acctWant(t, s.Close(), ErrTooLarge)
	// Refused at the door: recorded as Afgekeurd with IB003, never processed.
	if us := aanlUploads(t, h, jan, IWmo); len(us) != 1 || !us[0].AtDoor || us[0].Status != Afgekeurd || us[0].Blob != "" ||
		len(us[0].Fouten) != 1 || us[0].Fouten[0].Code != codes.IB003 {
		t.Fatalf("the refusal is not recorded as an Afgekeurd aanlevering with IB003: %+v", us)
	}
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("a refused upload is pending: %+v", p)
	}
	// A ZIP may be bigger than 25 MB (sparse write: cheap).
	z, err := h.StartUpload(context.Background(), jan, IWmo, "groot.zip", false)
	acctMust(t, err)
	if _, err := z.WriteAt([]byte("x"), MaxXMLUpload+1); err != nil {
		t.Fatal(err)
	}
	_, err = z.WriteAt([]byte("x"), MaxZipUpload)
	acctWant(t, err, ErrTooLarge, "1024 MB")
	z.Close()
}

func TestCutOffUploadIsKeptNotAcceptedAndResumes(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	data := aanlData(300 << 10)
	s, err := h.StartUpload(context.Background(), jan, IWmo, "reeks.xml", false)
	acctMust(t, err)
	aanlWrite(t, s, data[:100<<10])
	s.Fail(io.ErrUnexpectedEOF)
	if err := s.Close(); err == nil {
		t.Fatal("Close after a cut-off transfer reported success")
	}
	if us := aanlUploads(t, h, jan, IWmo); len(us) != 0 {
		t.Fatalf("a cut-off upload was recorded: %+v", us)
	}
	p, err := h.Pending(jan, IWmo)
	acctMust(t, err)
	if len(p) != 1 || !p[0].Partial || p[0].Size != 100<<10 || p[0].Name != "reeks.xml" {
		t.Fatalf("pending = %+v", p)
	}
	// A partial cannot be handed in by renaming it.
	acctWant(t, h.RenameUpload(context.Background(), jan, IWmo, "reeks.xml", "ander.xml"), ErrInvalid, "reput")

	r, err := h.StartUpload(context.Background(), jan, IWmo, "reeks.xml", true)
	acctMust(t, err)
	if _, err := r.WriteAt(data[100<<10:], 100<<10); err != nil {
		t.Fatal(err)
	}
	acctMust(t, r.Close())
	us := aanlUploads(t, h, jan, IWmo)
	if len(us) != 1 || us[0].Size != int64(len(data)) {
		t.Fatalf("uploads after resume = %+v", us)
	}
	if !bytes.Equal(aanlBlob(t, h, us[0].Blob), data) {
		t.Fatal("resumed upload differs from the original")
	}
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("pending after resume = %+v", p)
	}
}

func TestFreshPutReplacesPartial(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, "x.xml", false)
	acctMust(t, err)
	aanlWrite(t, s, aanlData(5000))
	s.Fail(io.ErrUnexpectedEOF)
	s.Close()
	p, _ := h.Pending(jan, IWmo)
	old := p[0].Blob
	s, err = h.StartUpload(context.Background(), jan, IWmo, "x.xml", false)
	acctMust(t, err)
	aanlWrite(t, s, []byte("<nieuw/>"))
	acctMust(t, s.Close())
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := h.files.Append(old); err == nil {
		t.Fatal("the replaced partial's bytes were left behind")
	}
	us := aanlUploads(t, h, jan, IWmo)
	if len(us) != 1 || us[0].Size != int64(len("<nieuw/>")) {
		t.Fatalf("uploads = %+v", us)
	}
}

func TestTempNameWaitsForRename(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	data := aanlData(70 << 10)
	s, err := h.StartUpload(context.Background(), jan, IWmo, "bericht.zip.filepart", false)
	acctMust(t, err)
	aanlWrite(t, s, data)
	acctMust(t, s.Close())
	if us := aanlUploads(t, h, jan, IWmo); len(us) != 0 {
		t.Fatalf("temp name was accepted: %+v", us)
	}
	p, err := h.Pending(jan, IWmo)
	acctMust(t, err)
	if len(p) != 1 || p[0].Partial || p[0].Size != int64(len(data)) {
		t.Fatalf("pending = %+v", p)
	}
	// Another organisation sees nothing of it and cannot rename it.
	zorg := acctAs(t, h, "zorg")
	if p, _ := h.Pending(zorg, IWmo); len(p) != 0 {
		t.Fatalf("another organisation sees %+v", p)
	}
	acctWant(t, h.RenameUpload(context.Background(), zorg, IWmo, "bericht.zip.filepart", "bericht.zip"), ErrNotFound)

	acctWant(t, h.RenameUpload(context.Background(), jan, IWmo, "bericht.zip.filepart", "bericht.txt"), ErrInvalid)
	acctMust(t, h.RenameUpload(context.Background(), jan, IWmo, "bericht.zip.filepart", "bericht.zip"))
	us := accepted(aanlUploads(t, h, jan, IWmo))
	if len(us) != 1 || us[0].Name != "bericht.zip" || us[0].Status != Ontvangen {
		t.Fatalf("uploads = %+v", us)
	}
	if !bytes.Equal(aanlBlob(t, h, us[0].Blob), data) {
		t.Fatal("renamed upload differs")
	}
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("pending after rename = %+v", p)
	}
	acctWant(t, h.RenameUpload(context.Background(), jan, IWmo, "bericht.zip.filepart", "bericht.zip"), ErrNotFound)
}

func TestRenameToXMLChecksSize(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, "groot.filepart", false)
	acctMust(t, err)
	if _, err := s.WriteAt([]byte("x"), MaxXMLUpload); err != nil {
		t.Fatal(err)
	}
	acctMust(t, s.Close())
	acctWant(t, h.RenameUpload(context.Background(), jan, IWmo, "groot.filepart", "groot.xml"), ErrTooLarge)
	acctMust(t, h.RenameUpload(context.Background(), jan, IWmo, "groot.filepart", "groot.zip"))
}

func TestRemovePending(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, ".tijdelijk", false)
	acctMust(t, err)
	aanlWrite(t, s, []byte("abc"))
	acctMust(t, s.Close())
	blob := s.blob
	zorg := acctAs(t, h, "zorg")
	acctWant(t, h.RemovePending(zorg, IWmo, ".tijdelijk"), ErrNotFound)
	acctMust(t, h.RemovePending(jan, IWmo, ".tijdelijk"))
	if p, _ := h.Pending(jan, IWmo); len(p) != 0 {
		t.Fatalf("pending = %+v", p)
	}
	if _, err := h.files.Append(blob); err == nil {
		t.Fatal("removed pending file's bytes are still there")
	}
	acctWant(t, h.RemovePending(jan, IWmo, ".tijdelijk"), ErrNotFound)

	// An accepted upload cannot be deleted from aanleveren/.
	u, err := h.StartUpload(context.Background(), jan, IWmo, "klaar.xml", false)
	acctMust(t, err)
	aanlWrite(t, u, []byte("<x/>"))
	acctMust(t, u.Close())
	acctWant(t, h.RemovePending(jan, IWmo, "klaar.xml"), ErrDenied, "verwerkt")
}

func TestUploadsAreAudited(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, "a.xml", false)
	acctMust(t, err)
	aanlWrite(t, s, []byte("<a/>"))
	acctMust(t, s.Close())
	h.StartUpload(context.Background(), jan, IWmo, "a.txt", false)
	var results []string
	acctMust(t, h.AuditLog(0, func(e AuditEntry) bool {
		if e.Action == "aanleveren" && e.Account == "jan" {
			results = append(results, e.Path+" "+e.Result)
		}
		return true
	}))
	if len(results) != 2 {
		t.Fatalf("audit = %q", results)
	}
}

func BenchmarkSpoolWrite(b *testing.B) {
	h := acctWorld(b)
	jan := acctAs(b, h, "jan")
	buf := make([]byte, 32<<10)
	b.SetBytes(64 << 20)
	for b.Loop() {
		s, err := h.StartUpload(context.Background(), jan, IWmo, "bench.zip", false)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for off := int64(w) * int64(len(buf)); off < 64<<20; off += 8 * int64(len(buf)) {
					if _, err := s.WriteAt(buf, off); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCutOffKeepsOnlyTheHolelessPrefix(t *testing.T) {
	h := acctWorld(t)
	jan := acctAs(t, h, "jan")
	s, err := h.StartUpload(context.Background(), jan, IWmo, "gat.zip", false)
	acctMust(t, err)
	chunk := make([]byte, 1000)
	for _, off := range []int64{0, 2000, 1000, 4000} { // 3000 never arrives
		if _, err := s.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	s.Fail(io.ErrUnexpectedEOF)
	s.Close()
	p, err := h.Pending(jan, IWmo)
	acctMust(t, err)
	if len(p) != 1 || p[0].Size != 3000 {
		t.Fatalf("pending = %+v, want the 3000 bytes before the hole", p)
	}
}

func TestWrittenPrefix(t *testing.T) {
	var s written
	s.add(100, 200)
	s.add(300, 400)
	if s.size() != 0 {
		t.Fatalf("prefix %d with a hole at 0", s.size())
	}
	s.add(0, 100)
	if s.size() != 200 {
		t.Fatalf("prefix %d, want 200", s.size())
	}
	s.add(150, 350) // overlaps both sides
	if s.size() != 400 {
		t.Fatalf("prefix %d, want 400", s.size())
	}
}

// accepted leaves out the records of uploads refused at the door.
func accepted(us []Upload) []Upload {
	var out []Upload
	for _, u := range us {
		if !u.AtDoor {
			out = append(out, u)
		}
	}
	return out
}
