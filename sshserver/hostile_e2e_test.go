package sshserver

// Hostile input end to end: aanbieder 12345678 sends zip bombs, XML bombs and odd files
// through the real SFTP server and tries to leave its tree through every SFTP operation,
// while gemeente 9999 uploads an ordinary ZIP at the same time. Each attack gets a clear
// refusal (a code in the verwerkingsverslag, or an SFTP error), the process's memory grows
// by at most 128 MB over the whole run, and gemeente's upload is delivered as usual.

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pkg/sftp"

	"knooppunt/exchange"
	"knooppunt/exchange/codes"
	"knooppunt/exchange/stuf"
)

const hostileMemBudget = 128 << 20

// repeatDeflate returns a raw deflate stream of total bytes c (a multiple of 1 MiB) without
// compressing them all: after the first MiB, one flushed block of a MiB of c only refers
// back into bytes c, so it can be repeated as is.
func repeatDeflate(t testing.TB, c byte, total int64) ([]byte, uint32) {
	t.Helper()
	const chunk = 1 << 20
	zeros := bytes.Repeat([]byte{c}, chunk)
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(zeros)
	fw.Flush()
	first := buf.Len()
	fw.Write(zeros)
	fw.Flush()
	head := slices.Clone(buf.Bytes()[:first])
	rep := slices.Clone(buf.Bytes()[first:])
	out := bytes.NewBuffer(make([]byte, 0, first+int(total/chunk)*len(rep)+2))
	out.Write(head)
	crc := crc32.Update(0, crc32.IEEETable, zeros)
	for i := int64(1); i < total/chunk; i++ {
		out.Write(rep)
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	out.Write([]byte{0x03, 0x00}) // a final, empty block with fixed codes
	return out.Bytes(), crc
}

// zipRaw is a ZIP with one entry whose compressed bytes are given; the header states size
// as its uncompressed size, honestly or not.
func zipRaw(t testing.TB, name string, comp []byte, crc uint32, size uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(comp)), UncompressedSize64: size})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zipEntry struct {
	name string
	data []byte
}

func zipOf(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nested42 is a 42.zip-style archive: 16 ZIPs of 16 ZIPs of 16 files of 1 MiB of zeros (4 GiB
// in all when unpacked to the bottom), plus one inner archive disguised as an .xml file.
func nested42(t testing.TB) []byte {
	zeros := make([]byte, 1<<20)
	var leaf, mid, top []zipEntry
	for i := range 16 {
		leaf = append(leaf, zipEntry{fmt.Sprintf("%d.xml", i), zeros})
	}
	leafZip := zipOf(t, leaf...)
	for i := range 16 {
		mid = append(mid, zipEntry{fmt.Sprintf("lib%d.zip", i), leafZip})
	}
	midZip := zipOf(t, mid...)
	for i := range 16 {
		top = append(top, zipEntry{fmt.Sprintf("%d.zip", i), midZip})
	}
	top = append(top, zipEntry{"verstopt.xml", midZip})
	return zipOf(t, top...)
}

// overlapBomb is the overlapping-files bomb (Fifield 2019) in its plainest form: n
// central-directory entries all point at one local file of 20 MiB of zeros, 20 GiB if each
// were unpacked.
func overlapBomb(t testing.TB, n int) []byte {
	comp, crc := repeatDeflate(t, 0, 20<<20)
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 0x04034b50)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 8)
	b = le.AppendUint32(b, 0) // time, date
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, uint32(len(comp)))
	b = le.AppendUint32(b, 20<<20)
	b = le.AppendUint16(b, 5)
	b = le.AppendUint16(b, 0)
	b = append(b, "k.xml"...)
	b = append(b, comp...)
	cdStart := len(b)
	for i := range n {
		name := fmt.Sprintf("%d.xml", i)
		b = le.AppendUint32(b, 0x02014b50)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 8)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, crc)
		b = le.AppendUint32(b, uint32(len(comp)))
		b = le.AppendUint32(b, 20<<20)
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, 0) // extra
		b = le.AppendUint16(b, 0) // comment
		b = le.AppendUint16(b, 0) // disk
		b = le.AppendUint16(b, 0) // internal attributes
		b = le.AppendUint32(b, 0) // external attributes
		b = le.AppendUint32(b, 0) // offset: all the same local file
		b = append(b, name...)
	}
	cdSize := len(b) - cdStart
	b = le.AppendUint32(b, 0x06054b50)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint16(b, uint16(n))
	b = le.AppendUint32(b, uint32(cdSize))
	b = le.AppendUint32(b, uint32(cdStart))
	return le.AppendUint16(b, 0)
}

// repeatReader yields n copies of c.
type repeatReader struct {
	c byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n))
	for i := range k {
		p[i] = r.c
	}
	r.n -= int64(k)
	return k, nil
}

// hostileFile is one upload and the codes its verslag may give (any code when empty).
type hostileFile struct {
	name  string
	open  func() io.Reader
	codes []codes.Code
}

func bytesFile(name string, b []byte, codes ...codes.Code) hostileFile {
	return hostileFile{name, func() io.Reader { return bytes.NewReader(b) }, codes}
}

func hostileFiles(t testing.TB) []hostileFile {
	env := string(stuf.Build(stuf.Envelope{ZenderOrg: "12345678", OntvangerOrg: "9999"}, []byte("<toewijzing/>")))
	comp, crc := repeatDeflate(t, 0, 10<<30)
	// Spaces before the root element are well-formed XML, so a parser reads on: the size
	// limits have to stop this one while it unpacks, the header says 1000 bytes.
	spaces, spacesCRC := repeatDeflate(t, ' ', 10<<30)
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf(`<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%s;", map[bool]string{true: "", false: strconv.Itoa(i - 1)}[i == 1]), 10))
	}
	laughs += `]><lolz>&lol9;</lolz>`
	attrHead, attrTail, _ := strings.Cut(env, "<GGK:bericht>")
	return []hostileFile{
		bytesFile("nested42.zip", nested42(t), codes.KP003),
		bytesFile("overlap.zip", overlapBomb(t, 1000), codes.KP004),
		bytesFile("nul-10g.zip", zipRaw(t, "nul.xml", comp, crc, 10<<30), codes.IB904, codes.KP004),
		bytesFile("spaties-10g-leugen.zip", zipRaw(t, "spaties.xml", spaces, spacesCRC, 1000), codes.IB904, codes.KP004, codes.IB901),
		bytesFile("billion-laughs.xml", []byte(laughs), codes.KP007),
		bytesFile("xxe.xml", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>`), codes.KP007),
		bytesFile("xxe-envelop.xml", []byte(strings.Replace(env, "?>", `?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`, 1)), codes.KP007),
		bytesFile("diep.xml", []byte(strings.Replace(env, "<GGK:parameters>", "<GGK:parameters>"+strings.Repeat("<a>", 10000)+strings.Repeat("</a>", 10000), 1)), codes.IB001),
		{"attribuut-20mb.xml", func() io.Reader {
			return io.MultiReader(strings.NewReader(attrHead+`<GGK:bericht a="`), &repeatReader{'v', 20 << 20}, strings.NewReader(`">`+attrTail))
		}, []codes.Code{codes.IB001}},
		bytesFile("geen-utf8.xml", []byte(strings.Replace(env, "WMO301", "WMO\xff301", 1)), codes.IB001),
		bytesFile("leeg.xml", nil, codes.IB001),
		bytesFile("leeg.zip", nil, codes.IB901),
	}
}

// memWatch samples the process's resident memory and Go heap while hostile input is
// processed. Sampling, not a timed assertion: a peak it misses can only make it kinder,
// and the 128 MB budget leaves room for that.
type memWatch struct {
	baseRSS, baseHeap uint64
	peakRSS, peakHeap uint64
	stop, done        chan struct{}
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func watchMemory() *memWatch {
	runtime.GC()
	m := &memWatch{baseRSS: rss(), baseHeap: heapBytes(), stop: make(chan struct{}), done: make(chan struct{})}
	m.peakRSS, m.peakHeap = m.baseRSS, m.baseHeap
	go func() {
		defer close(m.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			m.peakRSS, m.peakHeap = max(m.peakRSS, rss()), max(m.peakHeap, heapBytes())
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memWatch) end() (rssGrowth, heapGrowth int64) {
	close(m.stop)
	<-m.done
	return int64(m.peakRSS) - int64(m.baseRSS), int64(m.peakHeap) - int64(m.baseHeap)
}

func putFrom(c *sftp.Client, name string, r io.Reader) error {
	w, err := c.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	if _, err := w.ReadFrom(r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func TestHostileInputEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 70 MB of hostile files")
	}
	th := startHub(t, withEngine)
	files := hostileFiles(t)
	normal, _ := wmo301Zip(t, "gewoon.zip", 50)
	normalData := readFile(t, normal)
	attacker := goClient(t, th, "aanbieder")
	victim := goClient(t, th, "gemeente")

	mem := watchMemory()
	var wg sync.WaitGroup
	var normalErr error
	wg.Go(func() { normalErr = putFrom(victim, "/iwmo/aanleveren/gewoon.zip", bytes.NewReader(normalData)) })
	for _, f := range files {
		if err := putFrom(attacker, "/iwmo/aanleveren/"+f.name, f.open()); err != nil {
			t.Errorf("upload %s refused at the door (%v); it should reach the engine and get a verslag", f.name, err)
		}
	}
	// A name with control characters never becomes a file: permission denied, and the
	// refusal is recorded under the name in quoted form, which cannot reach a terminal.
	badNames := []string{"kleur\x1b[31m.xml", "regel\neinde.xml", "nul\x00.xml", "tab\t.xml", "\xff\xfe.xml"}
	for _, name := range badNames {
		err := putFrom(attacker, "/iwmo/aanleveren/"+name, strings.NewReader("<x/>"))
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("upload %q: %v, want permission denied", name, err)
		}
	}
	wg.Wait()
	if normalErr != nil {
		t.Fatalf("gemeente's upload during the attack: %v", normalErr)
	}

	eventually(t, "every hostile upload processed", func() bool {
		us := th.uploads(t, "aanbieder", exchange.IWmo)
		return len(us) == len(files)+len(badNames) && !slices.ContainsFunc(us, func(u exchange.Upload) bool { return !u.Status.Final() })
	})
	got := map[string]exchange.Upload{}
	for _, u := range th.uploads(t, "aanbieder", exchange.IWmo) {
		if u.AtDoor {
			if u.Fouten[0].Code != codes.KP009 || strings.ContainsFunc(u.Name, unicode.IsControl) || !utf8.ValidString(u.Name) {
				t.Errorf("refused name recorded as %q with %+v", u.Name, u.Fouten)
			}
			continue
		}
		got[u.Name] = u
	}
	for _, f := range files {
		u := got[f.name]
		if u.Status != exchange.Afgekeurd || u.Counts.Correct != 0 || len(u.Fouten) == 0 {
			t.Errorf("%s: status %s, %+v, fouten %+v; want Afgekeurd with a reason", f.name, u.Status, u.Counts, u.Fouten)
			continue
		}
		for _, fout := range u.Fouten {
			if fout.Code == "" || fout.Detail == "" || (len(f.codes) > 0 && !slices.Contains(f.codes, fout.Code)) {
				t.Errorf("%s: fout %+v, want one of %v with a detail", f.name, fout, f.codes)
			}
		}
		t.Logf("%-20s %s: %s %s", f.name, u.Status, u.Fouten[0].Code, u.Fouten[0].Detail)
	}
	if len(got["nested42.zip"].Fouten) != 17 {
		t.Errorf("nested42.zip: %d fouten, want one per inner archive (17)", len(got["nested42.zip"].Fouten))
	}

	// Gemeente's ZIP went through as if nothing happened.
	u := th.awaitUpload(t, "gewoon.zip")
	if u.Status != exchange.Afgeleverd || u.Counts.Correct != 50 || u.Counts.Incorrect != 0 {
		t.Errorf("gemeente's upload: %s %+v %+v", u.Status, u.Counts, u.Fouten)
	}
	rssGrowth, heapGrowth := mem.end()
	t.Logf("memory growth over the attack: RSS %d MB, Go heap %d MB (budget %d MB)", rssGrowth>>20, heapGrowth>>20, hostileMemBudget>>20)
	if rssGrowth > hostileMemBudget || heapGrowth > hostileMemBudget {
		t.Errorf("memory grew by RSS %d MB, heap %d MB; the budget is %d MB", rssGrowth>>20, heapGrowth>>20, hostileMemBudget>>20)
	}
}

// hostilePaths each lie outside aanbieder's tree once cleaned: the system's files, another
// organisation, products it lacks, folders that do not exist.
var hostilePaths = []string{
	"/../../../etc/passwd", "../../etc/shadow", "/iwmo/../../../../root/.ssh/authorized_keys",
	"/iwmo/aanleveren/../../9999/iwmo/ophalen/x.zip", "/9999/iwmo/ophalen", "/ieb/ophalen/x.zip",
	"/pgb-wmo/aanleveren/x.xml", "/iwmo/ophalen/nieuw/../../../ieb/ophalen", "/iwmo/aanleveren/a/b/c.zip",
	"/iwmo/verslagen/../../../../proc/self/environ", "/iwmo\x00/../../etc/passwd", `\..\..\etc\passwd`,
	"/iwmo/geheim/x.zip", "/IWMO/aanleveren/x.zip", "//etc//passwd", "/iwmo/ophalen/x/../../../../../tmp",
}

func TestPathTraversalThroughEverySFTPOperation(t *testing.T) {
	th := startHub(t)
	c := goClient(t, th, "aanbieder")
	const own = "/iwmo/aanleveren/eigen.zip.part"
	if err := putFrom(c, own, strings.NewReader("PK")); err != nil {
		t.Fatal(err)
	}
	for _, p := range hostilePaths {
		ops := []struct {
			name string
			do   func() error
		}{
			{"open", func() error { return closeIf(c.Open(p)) }},
			{"create", func() error { return closeIf(c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)) }},
			{"stat", func() error { _, err := c.Stat(p); return err }},
			{"lstat", func() error { _, err := c.Lstat(p); return err }},
			{"setstat", func() error { return c.Chmod(p, 0o777) }},
			{"setstat-times", func() error { return c.Chtimes(p, time.Now(), time.Now()) }},
			{"readdir", func() error { _, err := c.ReadDir(p); return err }},
			{"rename-to", func() error { return c.Rename(own, p) }},
			{"rename-from", func() error { return c.Rename(p, "/iwmo/aanleveren/buit.zip") }},
			{"posix-rename", func() error { return c.PosixRename(own, p) }},
			{"remove", func() error { return c.Remove(p) }},
			{"mkdir", func() error { return c.Mkdir(p) }},
			{"rmdir", func() error { return c.RemoveDirectory(p) }},
			{"symlink", func() error { return c.Symlink(p, "/iwmo/aanleveren/link") }},
			{"symlink-at", func() error { return c.Symlink("/iwmo/aanleveren/eigen.zip.part", p) }},
			{"link", func() error { return c.Link(p, "/iwmo/aanleveren/link") }},
			{"readlink", func() error { _, err := c.ReadLink(p); return err }},
			{"statvfs", func() error { _, err := c.StatVFS(p); return err }},
		}
		for _, op := range ops {
			if err := op.do(); !errors.Is(err, os.ErrPermission) {
				t.Errorf("%s %q: %v, want permission denied", op.name, p, err)
			}
		}
		// realpath only makes a path absolute: it stays inside the root, and what it names
		// is refused like the path itself.
		rp, err := c.RealPath(p)
		if err != nil || !strings.HasPrefix(rp, "/") || slices.Contains(strings.Split(rp, "/"), "..") {
			t.Errorf("realpath %q = %q, %v", p, rp, err)
		} else if _, err := c.Stat(rp); !errors.Is(err, os.ErrPermission) {
			t.Errorf("stat of realpath %q (%q): %v, want permission denied", p, rp, err)
		}
	}
	// Nothing moved: aanbieder's own file is still there, alone; gemeente saw nothing.
	if ps := th.pending(t, "aanbieder", exchange.IWmo); len(ps) != 1 || ps[0].Name != "eigen.zip.part" {
		t.Errorf("aanbieder's aanleveren/ now holds %+v", ps)
	}
	for _, p := range exchange.Products {
		if ps := th.pending(t, "gemeente", p); len(ps) != 0 {
			t.Errorf("gemeente's %s/aanleveren/ holds %+v", p, ps)
		}
	}
	assertAudited(t, th.hub, "aanbieder", "download", "/etc/passwd", "geen toestemming")
}

func closeIf(f *sftp.File, err error) error {
	if err == nil {
		f.Close()
	}
	return err
}
