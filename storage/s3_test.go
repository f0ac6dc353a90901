package storage

import (
	"bytes"
	"testing"
)

// Above 16 MB minio-go uploads in parts: the object still appears only at the end, with its
// checksum, and reads back whole.
func TestS3MultipartCommit(t *testing.T) {
	f := s3Backend.open(t)
	data := randomBytes(20 << 20)
	putBlob(t, f, "m/big", data, true)
	if got := readBlob(t, f, "m/big"); !bytes.Equal(got, data) {
		t.Fatal("multipart blob differs")
	}
	if err := f.Verify("m/big"); err != nil {
		t.Fatal(err)
	}
}
