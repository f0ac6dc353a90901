package exchange

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"knooppunt/exchange/zipintake"
)

// countingReaderAt counts the reads of an upload and can fail from a given offset on.
type countingReaderAt struct {
	r      io.ReaderAt
	reads  atomic.Int64
	failAt int64 // a read reaching past this offset fails (0: never)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	if c.failAt > 0 && off+int64(len(p)) > c.failAt {
		return 0, errors.New("schijf kapot")
	}
	return c.r.ReadAt(p, off)
}

// sweepUpload is a ZIP of 60 envelopes of varying size, stored and deflated, one of them
// larger than half a 4 KB window, with its entries.
func sweepUpload(t *testing.T) ([]byte, []zipintake.Entry) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var files []zipFile
	for i := range 60 {
		data := envelopeBytes(i)
		if i == 17 {
			raw := make([]byte, 9000)
			for j := range raw {
				raw[j] = byte(rng.IntN(256))
			}
			data = fmt.Appendf(nil, "<groot>%x</groot>", raw)
		}
		f := zipFile{Name: fmt.Sprintf("b%02d.xml", i), Data: data}
		if i%5 == 0 {
			f.Method = zip.Store
		}
		files = append(files, f)
	}
	data := buildZip(t, files...)
	var entries []zipintake.Entry
	err := zipintake.ReadUpload(bytes.NewReader(data), int64(len(data)), "s.zip", zipintake.Limits{}, func(e zipintake.Entry) error {
		if e.Rejection != nil {
			t.Fatalf("%s: %v", e.Name, e.Rejection)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return data, entries
}

// TestCopyEnvelopesAsFileByFile: the sweep writes every delivery ZIP byte for byte as
// addDeliveryEntry file by file did, whatever the order of a file's envelopes in the upload
// (one file here takes its envelopes in reverse), with a window small enough that entries
// are taken along, skipped over and one streams on its own; and it reads far less often.
func TestCopyEnvelopesAsFileByFile(t *testing.T) {
	data, entries := sweepUpload(t)
	received := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	// Three files: every third entry each, the second file's in reverse, and a name twice.
	members := make([][]zipintake.Entry, 3)
	for i, e := range entries {
		members[i%3] = append(members[i%3], e)
	}
	for i, j := 0, len(members[1])-1; i < j; i, j = i+1, j-1 {
		members[1][i], members[1][j] = members[1][j], members[1][i]
	}
	members[2] = append(members[2], entries[2])

	for _, window := range []int{4 << 10, sweepWindow} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			want := make([]bytes.Buffer, 3)
			got := make([]bytes.Buffer, 3)
			var copies []deliveryCopy
			var zws []*zip.Writer
			for k, ms := range members {
				old := zip.NewWriter(&want[k])
				zw := zip.NewWriter(&got[k])
				zws = append(zws, zw)
				oldNames, names := map[string]int{}, map[string]int{}
				var key int64
				for _, e := range ms {
					if err := addDeliveryEntry(old, uniqueName(oldNames, e.Name), e, received, make([]byte, 4096)); err != nil {
						t.Fatal(err)
					}
					key = max(key, e.RawAt)
					copies = append(copies, deliveryCopy{file: k, zw: zw, name: uniqueName(names, e.Name), src: e, key: key})
				}
				if err := old.Close(); err != nil {
					t.Fatal(err)
				}
			}
			r := &countingReaderAt{r: bytes.NewReader(data)}
			// A file is closed as soon as it is reported finished, as the committers do: an
			// envelope added after that fails the copy.
			finished := map[int]int{}
			err := copyEnvelopes(r, copies, received, make([]byte, window), func(file int) {
				finished[file]++
				if err := zws[file].Close(); err != nil {
					t.Fatal(err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(finished) != 3 || finished[0] != 1 || finished[1] != 1 || finished[2] != 1 {
				t.Fatalf("finished %v, want each of 3 files once", finished)
			}
			for k := range want {
				if !bytes.Equal(got[k].Bytes(), want[k].Bytes()) {
					t.Fatalf("file %d: %d bytes, file by file %d; not the same", k, got[k].Len(), want[k].Len())
				}
				zr, err := zip.NewReader(bytes.NewReader(got[k].Bytes()), int64(got[k].Len()))
				if err != nil || len(zr.File) != len(members[k]) {
					t.Fatalf("file %d: %v, %d entries", k, err, len(zr.File))
				}
				for i, f := range zr.File {
					rc, err := f.Open()
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(rc)
					rc.Close()
					src, _ := readEntry(members[k][i])
					if err != nil || !bytes.Equal(b, src) {
						t.Fatalf("file %d entry %s: %v, not the envelope %s", k, f.Name, err, members[k][i].Name)
					}
				}
			}
			if window == sweepWindow && r.reads.Load() > 4 {
				t.Errorf("%d reads for %d envelopes in a window of %d", r.reads.Load(), len(copies), window)
			}
			t.Logf("window %d: %d reads for %d envelopes", window, r.reads.Load(), len(copies))
		})
	}
}

// TestCopyEnvelopesReadError: a read that fails, or ends short of an entry, fails the copy
// with the entry's name and the reason, never a delivery with bytes missing.
func TestCopyEnvelopesReadError(t *testing.T) {
	data, entries := sweepUpload(t)
	for _, tc := range []struct {
		name string
		r    io.ReaderAt
		want string
	}{
		{"fails", &countingReaderAt{r: bytes.NewReader(data), failAt: entries[30].RawAt}, "schijf kapot"},
		{"short", bytes.NewReader(data[:entries[30].RawAt+3]), io.ErrUnexpectedEOF.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zw := zip.NewWriter(io.Discard)
			var copies []deliveryCopy
			for _, e := range entries[20:40] {
				if e.Raw.Method == zip.Store || e.Index == 17 {
					continue
				}
				copies = append(copies, deliveryCopy{zw: zw, name: e.Name, src: e, key: e.RawAt})
			}
			err := copyEnvelopes(tc.r, copies, time.Now(), make([]byte, 4<<10), func(int) { t.Error("a file finished with its envelopes unread") })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "gecomprimeerde gegevens lezen") {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestDeliveryToManyRecipients: an upload whose envelopes for 140 aanbieders lie among each
// other (more files than the sweeps keep open at once) ends with one file per aanbieder
// holding its two envelopes, byte for byte.
func TestDeliveryToManyRecipients(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0363")
	const n = 140
	var files []zipFile
	want := map[string]map[string][]byte{}
	for i := range 2 * n {
		code := fmt.Sprintf("%08d", 30000000+i%n)
		if i < n {
			if _, err := e.h.CreateOrg(System, code, "Zorg "+code); err != nil {
				t.Fatal(err)
			}
		}
		env := envelope("WMO301", "0363", code, newRef(), "")
		name := fmt.Sprintf("b%03d.xml", i)
		files = append(files, zipFile{Name: name, Data: env})
		if want[code] == nil {
			want[code] = map[string][]byte{}
		}
		want[code][name] = env
	}
	u := e.process(gem, IWmo, "veel.zip", buildZip(t, files...))
	if u.Status != Afgeleverd || u.Counts.Correct != 2*n {
		t.Fatalf("%s %+v %+v", u.Status, u.Counts, u.Fouten)
	}
	for code, envs := range want {
		box := e.inbox(e.principal(code), IWmo)
		if len(box) != 1 {
			t.Fatalf("%s: %d files", code, len(box))
		}
		for _, got := range box {
			if len(got) != len(envs) {
				t.Fatalf("%s: %d envelopes, want %d", code, len(got), len(envs))
			}
			for name, env := range envs {
				if !bytes.Equal(got[name], env) {
					t.Fatalf("%s: %s is not the envelope sent", code, name)
				}
			}
		}
	}
}
