package main

import (
	"archive/zip"
	"bufio"
	"crypto/rand"
	"flag"
	"fmt"
	"os"

	"knooppunt/exchange/stuf"
)

func main() {
	out := flag.String("o", "bench.zip", "output file")
	mb := flag.Int("mb", 512, "size in MiB, at least")
	n := flag.Int("n", 0, "number of envelopes (0: as many of 18 MiB as -mb needs)")
	kb := flag.Int("kb", 17, "KiB of payload per envelope with -n (base64 makes it a third more)")
	flag.Parse()
	var err error
	if *n > 0 {
		err = writeN(*out, *n, *kb<<10)
	} else {
		err = write(*out, int64(*mb)<<20)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

func write(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	// 18 MiB of payload is 24 MiB of base64: an envelope just under the 25 MiB limit.
	payload := make([]byte, 18<<20)
	var written int64
	for i := 0; written < size; i++ {
		n, err := addEnvelope(zw, fmt.Sprintf("wmo301-%03d.xml", i), payload)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// writeN writes n envelopes of size bytes of random payload each, every one with its own
// referentienummer.
func writeN(name string, n, size int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	payload := make([]byte, size)
	for i := range n {
		if _, err := addEnvelope(zw, fmt.Sprintf("wmo301-%05d.xml", i), payload); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// addEnvelope fills payload with random bytes and stores it, uncompressed, as the envelope
// entry name; it returns the envelope's length.
func addEnvelope(zw *zip.Writer, name string, payload []byte) (int, error) {
	rand.Read(payload)
	env := stuf.Build(stuf.Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, payload)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		return 0, err
	}
	return w.Write(env)
}
