package main

import (
	"io"
	"strings"
	"testing"
)

func TestWorkersAndMaxUploadsFlags(t *testing.T) {
	t.Setenv("KNOOPPUNT_WORKERS", "")
	t.Setenv("KNOOPPUNT_MAX_UPLOADS", "")
	f, err := parseServe(nil, io.Discard)
	if err != nil || f.workers != 0 || f.maxUploads != 0 {
		t.Fatalf("defaults: %+v, %v; want 0 (exchange's defaults)", f, err)
	}
	f, err = parseServe([]string{"--workers", "6", "--max-uploads", "24"}, io.Discard)
	if err != nil || f.workers != 6 || f.maxUploads != 24 {
		t.Fatalf("flags: %+v, %v", f, err)
	}
	t.Setenv("KNOOPPUNT_MAX_UPLOADS", "9")
	if f, err = parseServe(nil, io.Discard); err != nil || f.maxUploads != 9 {
		t.Fatalf("KNOOPPUNT_MAX_UPLOADS: %+v, %v", f, err)
	}
	for _, bad := range [][]string{{"--max-uploads", "0"}, {"--max-uploads", "veel"}, {"--max-uploads", "-3"}, {"--workers", "2000"}} {
		if _, err := parseServe(bad, io.Discard); err == nil || !strings.Contains(err.Error(), bad[0]) || !strings.Contains(err.Error(), "geen aantal") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
