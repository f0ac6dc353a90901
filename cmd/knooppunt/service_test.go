package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestServiceUnitVerifies checks contrib/knooppunt.service with systemd-analyze verify
// (Debian's systemd package; .ci/run installs it): a copy whose ExecStart is a freshly built
// binary, since verify refuses a command that does not exist. A wrong value is only a warning
// for verify, so any output fails the test. It also keeps the sandbox's exposure score low
// and the example environment file in step with the options.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	unit, err := os.ReadFile("../../contrib/knooppunt.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=knooppunt", "StateDirectory=knooppunt", "EnvironmentFile=-/etc/knooppunt/knooppunt.env",
		"ExecStart=/usr/local/bin/knooppunt serve", "Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"PrivateTmp=yes", "ProtectHome=yes", "LimitNOFILE=", "#AmbientCapabilities=CAP_NET_BIND_SERVICE", "KillSignal=SIGTERM"} {
		if !bytes.Contains(unit, []byte("\n"+want)) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "knooppunt")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	path := filepath.Join(dir, "knooppunt.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/knooppunt"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The variant for port 22 that the README describes: the two commented lines switched on.
	port22 := bytes.ReplaceAll(bytes.ReplaceAll(unit, []byte("\n#CapabilityBoundingSet="), []byte("\nCapabilityBoundingSet=")),
		[]byte("\n#AmbientCapabilities="), []byte("\nAmbientCapabilities="))
	if bytes.Equal(port22, unit) {
		t.Fatal("the unit has no commented capability lines for port 22")
	}
	path22 := filepath.Join(dir, "port22", "knooppunt.service")
	os.Mkdir(filepath.Dir(path22), 0o755)
	if err := os.WriteFile(path22, bytes.ReplaceAll(port22, []byte("/usr/local/bin/knooppunt"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", path22).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify, port 22 variant: %v\n%s", err, out)
	}
	// The exposure score of the sandbox (0 is best, 10 is none); this unit scored 1.5.
	out, err = exec.Command(analyze, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for knooppunt.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Logf("systemd-analyze security --offline: %v (older systemd?)\n%s", err, out)
	} else if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", score, out)
	}

	// Every variable of the example environment file is one serve reads.
	env, err := os.ReadFile("../../contrib/knooppunt.env")
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	run([]string{"help"}, &help, &help)
	for _, v := range regexp.MustCompile(`KNOOPPUNT_[A-Z_]+`).FindAllString(string(env), -1) {
		if v != "KNOOPPUNT_ARGS" && !strings.Contains(help.String(), v) {
			t.Errorf("contrib/knooppunt.env sets %s, which knooppunt does not read", v)
		}
	}
}
