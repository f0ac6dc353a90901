package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange/stuf"
	"knooppunt/storage/storagetest"
)

// The portal on node B follows an upload that goes in at node A: without a key pressed, its
// Aanleveren list shows the file and then Afgeleverd. The portal redraws on the hub's events
// only (it has no timer), so what it shows came from A through the database's notifications.
func TestTUIAtNodeBFollowsUploadAtNodeA(t *testing.T) {
	for _, tool := range []string{"tmux", "ssh", "sftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	db := storagetest.DatabaseURL(t)
	s3 := storagetest.S3Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	b := backendFlags{database: db, files: "s3://" + s3.Bucket + "/" + s3.Prefix, s3Endpoint: s3.Endpoint}
	a := serveInProcess(t, serveFlags{backend: b, maxConns: -1}) // with the demo accounts
	nodeB := startNode(t, b)
	key := filepath.Join(a.data, "demo", "gemeente")
	sshOpts := fmt.Sprintf("-F /dev/null -i %s -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null", key)
	portOf := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

	sock := "kp-nodes-" + fmt.Sprint(os.Getpid())
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v %s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "b", "-x", "140", "-y", "40",
		fmt.Sprintf("ssh -t %s -p %s gemeente@127.0.0.1; sleep 30", sshOpts, portOf(nodeB.addr)))
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
	screen := func(want func(string) bool, what string) string {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			got := tmux("capture-pane", "-p", "-t", "b")
			if want(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("node B's portal never showed %s:\n%s", what, got)
			}
		}
	}
	screen(func(s string) bool { return strings.Contains(s, "[Aanleveren]") }, "[Aanleveren]")

	name := "via-knooppunt-a.xml"
	env := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678",
		Referentie: "0b3c7e1a-5d2f-4e8b-9a61-7c4d2e9f1a37"}, []byte("<bericht/>"))
	file := filepath.Join(t.TempDir(), name)
	os.WriteFile(file, env, 0o600)
	put := exec.Command("sftp", append(strings.Fields(sshOpts), "-o", "LogLevel=ERROR", "-P", portOf(a.ssh), "-b", "-", "gemeente@127.0.0.1")...)
	put.Stdin = strings.NewReader("put " + file + " /iwmo/aanleveren/\n")
	put.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := put.CombinedOutput(); err != nil {
		t.Fatalf("sftp put at node A: %v %s", err, out)
	}
	screen(func(s string) bool {
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, name) && strings.Contains(line, "Afgeleverd") {
				return true
			}
		}
		return false
	}, name+" Afgeleverd")
	tmux("send-keys", "-t", "b", "q")
}
