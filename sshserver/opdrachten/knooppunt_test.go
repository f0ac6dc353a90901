package opdrachten

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionOf: the revision comes from the build information, "onbekend" without it; the
// built binary is tested in cmd/knooppunt (TestVersieShowsTheCommit).
func TestVersionOf(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-05T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	v := versionOf(bi, true)
	if v.Revisie != "0123456789abcdef0123456789abcdef01234567" || v.Tijd != "2026-12-05T11:00:00+01:00" || !v.Gewijzigd ||
		!strings.Contains(v.text(), "revisie 0123456789abcdef") {
		t.Fatalf("versie = %+v %q", v, v.text())
	}
	if v := versionOf(nil, false); v.Revisie != "onbekend" || !strings.Contains(v.text(), "revisie onbekend") {
		t.Fatalf("without build information: %+v", v)
	}
	if v := versionOf(&debug.BuildInfo{GoVersion: "go1.26"}, true); v.Revisie != "onbekend" {
		t.Fatalf("without vcs: %+v", v)
	}
}
