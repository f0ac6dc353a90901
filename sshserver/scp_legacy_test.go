package sshserver

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScpLegacyProtocol (issue 13, item 9): OpenSSH scp -O, the old scp protocol, gets in
// both directions a message that says to use scp without -O, not a silent hang or
// "protocol error".
func TestScpLegacyProtocol(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	f, _ := randomFile(t, "s.zip", 1<<10)
	for _, dir := range [][]string{
		{f, "svb@127.0.0.1:/pgb-wmo/aanleveren/s.zip"},
		{"svb@127.0.0.1:/pgb-wmo/ophalen/x.ZIP", filepath.Join(t.TempDir(), "x.ZIP")},
	} {
		args := append(th.sshOpts(th.keys["svb"]), append([]string{"-O", "-P", th.port}, dir...)...)
		out, err := exec.Command("scp", args...).CombinedOutput()
		if err == nil {
			t.Fatalf("scp -O %v succeeded: %s", dir, out)
		}
		if !strings.Contains(string(out), "gebruik scp zonder -O") {
			t.Errorf("scp -O %v says %q, want the advice to use scp without -O", dir, out)
		}
	}
	if us := th.uploads(t, "svb", "pgb-wmo"); len(us) != 0 {
		t.Errorf("scp -O left uploads: %+v", us)
	}
}
